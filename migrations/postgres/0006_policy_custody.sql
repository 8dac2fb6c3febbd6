-- HSM custody: a rotation policy may say where the keys its scheduled rotations make live
-- ('sealed' or 'pkcs11'); NULL takes the tenant's configuration for the client.
ALTER TABLE rotation_policies ADD COLUMN custody TEXT;
