-- Inventory and drift: what the last GetTenantInventory saw of each tenant's client credential
-- records and their attachments (a JSON document, bounded by the service), to tell the next one
-- what appeared or disappeared outside keyward.
CREATE TABLE inventory_snapshots (
    tenant TEXT PRIMARY KEY,
    taken_at BIGINT NOT NULL,
    snapshot TEXT NOT NULL
);
