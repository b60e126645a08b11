-- Brings 0008..0010, written from an early draft of issue 12's design, to what SQLite's
-- 0008..0010 became. No PostgreSQL database predates 0008 (all of them ship together), so
-- nothing is backfilled here: every build was written with its lease, timeout and
-- default-branch columns.

-- Leased builds by project: the claim counts a project's and an account's leases from it.
CREATE INDEX builds_leased_by_project ON builds (account_id, project_name)
    WHERE lease_owner IS NOT NULL;
ALTER INDEX builds_by_lease_owner RENAME TO builds_leased_by_owner;
-- Nothing reads incomplete builds as such any more: restart recovery reads a build's lease.
DROP INDEX builds_incomplete;

-- A page of ids reads only index entries (SQLite's covering builds_by_account_listing and
-- builds_by_project_listing): PostgreSQL's unique keys carry the id's columns instead.
DROP INDEX builds_by_account;
CREATE UNIQUE INDEX builds_by_account ON builds (account_id, seq) INCLUDE (project_name, uuid);
DROP INDEX builds_by_project;
CREATE UNIQUE INDEX builds_by_project
    ON builds (account_id, project_name, project_generation, build_number) INCLUDE (uuid);

-- A build's log goes with the build; a piece of a build that is gone is refused.
ALTER TABLE build_log_chunks ADD CONSTRAINT build_log_chunks_build
    FOREIGN KEY (uuid) REFERENCES builds (uuid) ON DELETE CASCADE;
