-- Leases with fencing tokens on rotations: the replica holding an unexpired lease is the only
-- one that drives the rotation; every saga write checks the token it claimed, so a replica that
-- lost its lease (paused past its expiry while another took over) cannot write a later step.
ALTER TABLE rotations ADD COLUMN lease_owner TEXT;
ALTER TABLE rotations ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rotations ADD COLUMN lease_expires_at BIGINT NOT NULL DEFAULT 0;

-- Scheduled rotation: per client a maximum key age, per connection an interval. `due_at` is
-- when the target should next rotate (NULL: not known yet); replicas pick due rows up under a
-- lease of their own (FOR UPDATE SKIP LOCKED on PostgreSQL).
CREATE TABLE rotation_policies (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    max_age_ms BIGINT NOT NULL,
    rotation_window TEXT,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    due_at BIGINT,
    last_rotated_at BIGINT,
    last_result TEXT,
    lease_owner TEXT,
    lease_token BIGINT NOT NULL DEFAULT 0,
    lease_expires_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, kind, target)
);
CREATE INDEX rotation_policies_due ON rotation_policies (due_at);
