-- Leases with fencing tokens on connection rotations, as on client rotations: a replica that
-- paused past its lease (a retried request taken over by another replica meanwhile) can neither
-- ask Auth0 to rotate again nor record its stale result.
ALTER TABLE connection_rotations ADD COLUMN lease_owner TEXT;
ALTER TABLE connection_rotations ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connection_rotations ADD COLUMN lease_expires_at BIGINT NOT NULL DEFAULT 0;
