-- JAR keys: which of the client's credential lists a key is attached to, `private_key_jwt` or
-- `signed_request_object` (every key before this migration is a private_key_jwt key). A client
-- has at most one ACTIVE key per method: the index that allowed one per client is replaced.
ALTER TABLE keys ADD COLUMN method TEXT NOT NULL DEFAULT 'private_key_jwt';
DROP INDEX keys_one_active;
CREATE UNIQUE INDEX keys_one_active ON keys (tenant, client_id, method) WHERE state = 'active';
