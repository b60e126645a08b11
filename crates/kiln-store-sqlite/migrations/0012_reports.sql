-- Report groups and their reports (test and code coverage), each report with its cases or
-- per-file coverages. Summaries are columns (no JSON is read in a filter); a report's `seq`
-- orders listings and is a page key that never moves (AUTOINCREMENT never reuses one).
CREATE TABLE report_groups (
    account_id    TEXT NOT NULL,
    name          TEXT NOT NULL,
    report_type   TEXT NOT NULL,
    export_config TEXT NOT NULL,
    tags          TEXT NOT NULL,
    created       REAL NOT NULL,
    last_modified REAL NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE INDEX report_groups_by_created ON report_groups (account_id, created, name);
CREATE INDEX report_groups_by_last_modified ON report_groups (account_id, last_modified, name);

CREATE TABLE reports (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    arn               TEXT    NOT NULL UNIQUE,
    account_id        TEXT    NOT NULL,
    group_name        TEXT    NOT NULL,
    group_arn         TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    report_type       TEXT    NOT NULL,
    execution_id      TEXT    NOT NULL,
    build_uuid        TEXT    NOT NULL,
    project_name      TEXT    NOT NULL,
    ref_kind          TEXT,
    ref_name          TEXT,
    build_start_time  REAL    NOT NULL,
    status            TEXT    NOT NULL,
    created           REAL    NOT NULL,
    truncated         INTEGER NOT NULL,
    export_config     TEXT    NOT NULL,
    -- TEST: total, the five status counts, duration.
    total             INTEGER,
    succeeded         INTEGER,
    failed            INTEGER,
    errored           INTEGER,
    skipped           INTEGER,
    unknown           INTEGER,
    duration_ns       INTEGER,
    -- CODE_COVERAGE.
    line_coverage     REAL,
    lines_covered     INTEGER,
    lines_missed      INTEGER,
    branch_coverage   REAL,
    branches_covered  INTEGER,
    branches_missed   INTEGER,
    FOREIGN KEY (account_id, group_name) REFERENCES report_groups (account_id, name)
);
CREATE INDEX reports_by_account ON reports (account_id, seq);
CREATE INDEX reports_by_account_status ON reports (account_id, status, seq);
CREATE INDEX reports_by_group ON reports (account_id, group_name, seq);
CREATE INDEX reports_by_group_status ON reports (account_id, group_name, status, seq);
CREATE INDEX reports_by_ref ON reports
    (account_id, project_name, ref_kind, ref_name, report_type, build_start_time);

CREATE TABLE report_test_cases (
    report_seq      INTEGER NOT NULL REFERENCES reports (seq) ON DELETE CASCADE,
    n               INTEGER NOT NULL,
    prefix          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    duration_ns     INTEGER NOT NULL,
    message         TEXT,
    test_suite_name TEXT,
    -- The report file the case came from, as the build recorded its path.
    test_raw_data_path TEXT,
    PRIMARY KEY (report_seq, n)
);
CREATE INDEX report_test_cases_by_status ON report_test_cases (report_seq, status, n);

CREATE TABLE report_code_coverages (
    report_seq       INTEGER NOT NULL REFERENCES reports (seq) ON DELETE CASCADE,
    n                INTEGER NOT NULL,
    file_path        TEXT    NOT NULL,
    line_coverage    REAL    NOT NULL,
    lines_covered    INTEGER NOT NULL,
    lines_missed     INTEGER NOT NULL,
    branch_coverage  REAL    NOT NULL,
    branches_covered INTEGER NOT NULL,
    branches_missed  INTEGER NOT NULL,
    PRIMARY KEY (report_seq, n)
);
CREATE INDEX report_code_coverages_by_path ON report_code_coverages (report_seq, file_path, n);
CREATE INDEX report_code_coverages_by_line ON report_code_coverages
    (report_seq, line_coverage, file_path, n);
