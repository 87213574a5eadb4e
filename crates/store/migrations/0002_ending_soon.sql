-- When the buyer was told that a period purchase ends soon, so that they are told once per
-- period (an extension clears it).
ALTER TABLE purchases ADD COLUMN ending_notified_at INTEGER;
