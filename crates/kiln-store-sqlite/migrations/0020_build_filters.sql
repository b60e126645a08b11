-- The console's Builds page: the account's builds of one project, of one status or of one
-- branch, newest first, each a range of one index (the account's own listing is
-- builds_by_account).
CREATE INDEX builds_by_project_seq ON builds (account_id, project_name, seq);
CREATE INDEX builds_by_status_seq ON builds (account_id, status, seq);
CREATE INDEX builds_by_ref_seq ON builds (account_id, ref_kind, ref_name, seq);
