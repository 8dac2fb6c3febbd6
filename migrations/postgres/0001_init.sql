-- keyward's store, PostgreSQL dialect (timestamps are UNIX milliseconds).

CREATE TABLE keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    client_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_bits BIGINT NOT NULL,
    public_key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    pkcs TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    thumbprint_sha256 TEXT NOT NULL,
    subject_dn TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    sealed_key BYTEA NOT NULL,
    credential_id TEXT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    activated_at BIGINT,
    retire_at BIGINT,
    last_signed_exp BIGINT,
    UNIQUE (tenant, client_id, kid)
);
-- At most one key signs for a client.
CREATE UNIQUE INDEX keys_one_active ON keys (tenant, client_id) WHERE state = 'active';
CREATE INDEX keys_retire ON keys (state, retire_at);

CREATE TABLE rotations (
    rotation_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    client_id TEXT NOT NULL,
    state TEXT NOT NULL,
    request_id TEXT,
    request_hash TEXT NOT NULL,
    params TEXT NOT NULL,
    new_key_id TEXT,
    old_key_id TEXT,
    new_credential_id TEXT,
    old_credential_id TEXT,
    retire_at BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
-- One open rotation per client: open until ACTIVE or FAILED.
CREATE UNIQUE INDEX rotations_one_open ON rotations (tenant, client_id)
    WHERE state IN ('planned', 'key_generated', 'slot_freed', 'registered', 'attached');
-- A request_id names one rotation.
CREATE UNIQUE INDEX rotations_request ON rotations (tenant, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE connection_rotations (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    request_id TEXT,
    request_hash TEXT NOT NULL,
    result TEXT NOT NULL,
    verified BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX connection_rotations_request ON connection_rotations (tenant, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE connection_keys (
    tenant TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    subject_dn TEXT NOT NULL,
    cert TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    pkcs TEXT NOT NULL,
    status TEXT NOT NULL,
    verified BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (tenant, connection_id, kid)
);

CREATE TABLE audit_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
