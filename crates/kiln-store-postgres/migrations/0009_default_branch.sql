-- The branch a build without a source version checked out (the remote's default branch as the
-- build saw it), so the badge of a project without `sourceVersion` reads one index entry.
ALTER TABLE builds ADD COLUMN default_branch TEXT;
CREATE INDEX builds_by_default_branch
    ON builds (account_id, project_name, project_generation, source_epoch, start_time, build_number)
    WHERE default_branch IS NOT NULL;

-- A ref's latest build: the live generation and the tie-break are in the index, so the lookup
-- reads the first entry of one range and sorts nothing.
DROP INDEX builds_by_ref;
CREATE INDEX builds_by_ref ON builds
    (account_id, project_name, project_generation, ref_kind, ref_name, source_epoch, start_time, build_number);
