-- The branch a build without a source version checked out (the remote's default branch as the
-- build saw it), so the badge of a project without `sourceVersion` reads one index entry
-- instead of parsing every build's record.
ALTER TABLE builds ADD COLUMN default_branch TEXT;
UPDATE builds SET default_branch = ref_name
WHERE ref_kind = 'branch' AND json_extract(record, '$.settings.sourceVersion') IS NULL;
CREATE INDEX builds_by_default_branch
    ON builds (account_id, project_name, project_generation, source_epoch, start_time, build_number)
    WHERE default_branch IS NOT NULL;

-- A ref's latest build: the live generation and the tie-break are in the index, so the lookup
-- reads the first entry of one range and sorts nothing.
DROP INDEX builds_by_ref;
CREATE INDEX builds_by_ref ON builds
    (account_id, project_name, project_generation, ref_kind, ref_name, source_epoch, start_time, build_number);

-- A page of ids reads only index entries: with records of kilobytes, fetching 100 rows' ids from
-- the table touched a few hundred pages scattered over the file (a small project's builds are
-- spread over the account's history), so a page of a big store cost twice a small one's.
CREATE INDEX builds_by_account_listing ON builds (account_id, seq, project_name, uuid);
CREATE INDEX builds_by_project_listing
    ON builds (account_id, project_name, project_generation, build_number, uuid);
