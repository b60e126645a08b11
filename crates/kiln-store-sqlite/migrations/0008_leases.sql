-- The build queue in the store: a queued build is claimed with a lease (owner, expiry) and a
-- fencing version that every write of the build's state compares and sets. A leased build is
-- never complete: completing a build releases its lease.
ALTER TABLE builds ADD COLUMN lease_owner TEXT NULL;
ALTER TABLE builds ADD COLUMN lease_expires REAL NULL;
ALTER TABLE builds ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN queued_timeout_minutes INTEGER NOT NULL DEFAULT 480;
UPDATE builds SET queued_timeout_minutes =
    COALESCE(json_extract(record, '$.settings.queuedTimeoutInMinutes'), 480);
-- Builds that were running before leases existed get a lease that has already expired, so
-- lease expiry (or their own data dir's restart recovery) ends them.
UPDATE builds SET lease_owner = 'kiln-before-leases', lease_expires = 0
WHERE complete = 0 AND json_extract(record, '$.current_phase') NOT IN ('SUBMITTED', 'QUEUED');

ALTER TABLE projects ADD COLUMN concurrent_build_limit INTEGER NULL;
UPDATE projects SET concurrent_build_limit = json_extract(settings, '$.concurrentBuildLimit');

CREATE INDEX builds_queued ON builds (seq) WHERE complete = 0 AND lease_owner IS NULL;
CREATE INDEX builds_leased_by_owner ON builds (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX builds_leased_by_project ON builds (account_id, project_name)
    WHERE lease_owner IS NOT NULL;
CREATE INDEX builds_by_lease_expiry ON builds (lease_expires) WHERE lease_owner IS NOT NULL;
DROP INDEX builds_incomplete;
