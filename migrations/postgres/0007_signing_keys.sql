-- Tenant signing-key rotations: one row per rotation (by request_id), its state, the verified key
-- set and the verifiers' progress as JSON (`detail`), when its previous key may be revoked and
-- when the background task looks at it next; leased with fencing tokens like connection
-- rotations. At most one rotation per tenant is pending (Auth0 not yet asked or not yet read back).
CREATE TABLE signing_key_rotations (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    request_id TEXT,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    previous_kid TEXT,
    rotated_at BIGINT,
    revoke_not_before BIGINT,
    next_check_at BIGINT NOT NULL DEFAULT 0,
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token BIGINT NOT NULL DEFAULT 0,
    lease_expires_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX signing_key_rotations_request ON signing_key_rotations (tenant, request_id) WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX signing_key_rotations_pending ON signing_key_rotations (tenant) WHERE state = 'pending';
CREATE INDEX signing_key_rotations_due ON signing_key_rotations (state, next_check_at);

-- The tenant signing keys keyward saw, with its verdict: first seen once, then status and last seen.
CREATE TABLE signing_keys (
    tenant TEXT NOT NULL,
    kid TEXT NOT NULL,
    cert TEXT NOT NULL,
    pkcs7 TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    status TEXT NOT NULL,
    verified BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (tenant, kid)
);
