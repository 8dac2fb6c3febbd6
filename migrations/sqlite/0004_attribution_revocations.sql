-- Who asked: every rotation and connection rotation records its requester (a principal, or
-- `scheduler`); rows from before this migration were started by an unrecorded caller.
ALTER TABLE rotations ADD COLUMN requested_by TEXT NOT NULL DEFAULT 'unrecorded';
ALTER TABLE connection_rotations ADD COLUMN requested_by TEXT NOT NULL DEFAULT 'unrecorded';

-- Emergency revocations of a client credential: a saga of its own (signing stopped, detached
-- at Auth0, deleted at Auth0, key destroyed), under a lease with a fencing token like rotations.
CREATE TABLE revocations (
    revocation_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    client_id TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    state TEXT NOT NULL,
    request_id TEXT,
    request_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    forced BIGINT NOT NULL,
    requested_by TEXT NOT NULL,
    key_was TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token BIGINT NOT NULL DEFAULT 0,
    lease_expires_at BIGINT NOT NULL DEFAULT 0
);
-- A request_id names one revocation; a key is revoked once.
CREATE UNIQUE INDEX revocations_request ON revocations (tenant, request_id) WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX revocations_key ON revocations (key_id);
