-- Liveness (SPEC §5): when a product last received data, how much it has published, and the
-- interval between messages the broker measured, beside the declared rate.
ALTER TABLE products ADD COLUMN last_data_at INTEGER;
ALTER TABLE products ADD COLUMN published_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN published_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN measured_interval_ms INTEGER;
