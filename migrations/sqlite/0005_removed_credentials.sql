-- Destructive steps told: the credentials a rotation evicted or deleted at Auth0 to make room
-- (a JSON array, recorded before the first of them is removed), and when and how the rotation's
-- old credential actually left (retired after its grace period, evicted by a later rotation).
ALTER TABLE rotations ADD COLUMN removed TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rotations ADD COLUMN old_departed_at BIGINT;
ALTER TABLE rotations ADD COLUMN old_departed_how TEXT;
