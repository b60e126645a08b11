-- The queue in the store (the shared design of issue 12): a queued build is claimed with a
-- lease (owner, expiry) and a fencing version that every save of it must match.
ALTER TABLE builds ADD COLUMN lease_owner TEXT;
ALTER TABLE builds ADD COLUMN lease_expires DOUBLE PRECISION;
ALTER TABLE builds ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN stop_requested BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE builds ADD COLUMN queued_timeout_minutes BIGINT NOT NULL DEFAULT 480;
-- Denormalised from the settings on create and update, so a claim counts without parsing JSON.
ALTER TABLE projects ADD COLUMN concurrent_build_limit BIGINT;

CREATE INDEX builds_queued ON builds (seq) WHERE NOT complete AND lease_owner IS NULL;
CREATE INDEX builds_by_lease_owner ON builds (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX builds_by_lease_expiry ON builds (lease_expires) WHERE lease_owner IS NOT NULL;
