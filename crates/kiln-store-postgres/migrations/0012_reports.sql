-- Report groups and their reports (test and code coverage), as SQLite's 0011: each report
-- with its cases or per-file coverages, summaries as columns, `seq` the listings' order and
-- page key (an identity never reused).
CREATE TABLE report_groups (
    account_id    TEXT             NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    report_type   TEXT             NOT NULL,
    export_config TEXT             NOT NULL,
    tags          TEXT             NOT NULL,
    created       DOUBLE PRECISION NOT NULL,
    last_modified DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE INDEX report_groups_by_created ON report_groups (account_id, created, name);
CREATE INDEX report_groups_by_last_modified ON report_groups (account_id, last_modified, name);

CREATE TABLE reports (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    arn               TEXT             NOT NULL UNIQUE,
    account_id        TEXT             NOT NULL,
    group_name        TEXT COLLATE "C" NOT NULL,
    group_arn         TEXT             NOT NULL,
    name              TEXT             NOT NULL,
    report_type       TEXT             NOT NULL,
    execution_id      TEXT             NOT NULL,
    build_uuid        TEXT             NOT NULL,
    project_name      TEXT COLLATE "C" NOT NULL,
    ref_kind          TEXT,
    ref_name          TEXT,
    build_start_time  DOUBLE PRECISION NOT NULL,
    status            TEXT             NOT NULL,
    created           DOUBLE PRECISION NOT NULL,
    truncated         BOOLEAN          NOT NULL,
    export_config     TEXT             NOT NULL,
    total             BIGINT,
    succeeded         BIGINT,
    failed            BIGINT,
    errored           BIGINT,
    skipped           BIGINT,
    unknown           BIGINT,
    duration_ns       BIGINT,
    line_coverage     DOUBLE PRECISION,
    lines_covered     BIGINT,
    lines_missed      BIGINT,
    branch_coverage   DOUBLE PRECISION,
    branches_covered  BIGINT,
    branches_missed   BIGINT,
    FOREIGN KEY (account_id, group_name) REFERENCES report_groups (account_id, name)
);
CREATE INDEX reports_by_account ON reports (account_id, seq);
CREATE INDEX reports_by_account_status ON reports (account_id, status, seq);
CREATE INDEX reports_by_group ON reports (account_id, group_name, seq);
CREATE INDEX reports_by_group_status ON reports (account_id, group_name, status, seq);
CREATE INDEX reports_by_ref ON reports
    (account_id, project_name, ref_kind, ref_name, report_type, build_start_time);

CREATE TABLE report_test_cases (
    report_seq      BIGINT NOT NULL REFERENCES reports (seq) ON DELETE CASCADE,
    n               BIGINT NOT NULL,
    prefix          TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    duration_ns     BIGINT NOT NULL,
    message         TEXT,
    test_suite_name TEXT,
    -- The report file the case came from, as the build recorded its path.
    test_raw_data_path TEXT,
    PRIMARY KEY (report_seq, n)
);
CREATE INDEX report_test_cases_by_status ON report_test_cases (report_seq, status, n);

CREATE TABLE report_code_coverages (
    report_seq       BIGINT           NOT NULL REFERENCES reports (seq) ON DELETE CASCADE,
    n                BIGINT           NOT NULL,
    file_path        TEXT COLLATE "C" NOT NULL,
    line_coverage    DOUBLE PRECISION NOT NULL,
    lines_covered    BIGINT           NOT NULL,
    lines_missed     BIGINT           NOT NULL,
    branch_coverage  DOUBLE PRECISION NOT NULL,
    branches_covered BIGINT           NOT NULL,
    branches_missed  BIGINT           NOT NULL,
    PRIMARY KEY (report_seq, n)
);
CREATE INDEX report_code_coverages_by_path ON report_code_coverages (report_seq, file_path, n);
CREATE INDEX report_code_coverages_by_line ON report_code_coverages
    (report_seq, line_coverage, file_path, n);
