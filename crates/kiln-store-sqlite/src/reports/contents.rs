//! What a report holds: its test cases or its files' code coverages, each numbered by its place
//! in the report (`n`), and their pages.

use kiln_domain::report::{CodeCoverage, ReportContents, TestCase};
use kiln_store::report_records::{code_coverage_page, test_case_page};
use kiln_store::{
    CoverageKey, CoverageQuery, Page, StoreError, StoreResult, TestCaseQuery, sql_int,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

/// Rows per multi-row insert of cases or coverages: 9 binds each, far below SQLite's limit.
const INSERT_BATCH: usize = 500;

/// Stores a report's test cases or code coverages in the caller's transaction, numbered in order.
pub(super) async fn insert(
    tx: &mut SqliteConnection,
    seq: i64,
    contents: ReportContents<'_>,
) -> Result<(), sqlx::Error> {
    match contents {
        ReportContents::Test(cases) => {
            for (start, batch) in cases.chunks(INSERT_BATCH).enumerate() {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO report_test_cases (report_seq, n, prefix, name, status,
                 duration_ns, message, test_suite_name, test_raw_data_path) ",
                );
                q.push_values(batch.iter().enumerate(), |mut row, (i, case)| {
                    row.push_bind(seq)
                        .push_bind(sql_int((start * INSERT_BATCH + i) as u64))
                        .push_bind(&case.prefix)
                        .push_bind(&case.name)
                        .push_bind(case.status.as_str())
                        .push_bind(sql_int(case.duration_in_nano_seconds))
                        .push_bind(&case.message)
                        .push_bind(&case.test_suite_name)
                        .push_bind(&case.test_raw_data_path);
                });
                q.build().execute(&mut *tx).await?;
            }
        }
        ReportContents::CodeCoverage(files) => {
            for (start, batch) in files.chunks(INSERT_BATCH).enumerate() {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO report_code_coverages (report_seq, n, file_path, line_coverage,
                 lines_covered, lines_missed, branch_coverage, branches_covered,
                 branches_missed) ",
                );
                q.push_values(batch.iter().enumerate(), |mut row, (i, file)| {
                    row.push_bind(seq)
                        .push_bind(sql_int((start * INSERT_BATCH + i) as u64))
                        .push_bind(&file.file_path)
                        .push_bind(file.line_coverage_percentage)
                        .push_bind(sql_int(file.lines_covered))
                        .push_bind(sql_int(file.lines_missed))
                        .push_bind(file.branch_coverage_percentage)
                        .push_bind(sql_int(file.branches_covered))
                        .push_bind(sql_int(file.branches_missed));
                });
                q.build().execute(&mut *tx).await?;
            }
        }
    }
    Ok(())
}

async fn report_seq(pool: &SqlitePool, account_id: &str, arn: &str) -> StoreResult<i64> {
    sqlx::query_scalar("SELECT seq FROM reports WHERE account_id = ? AND arn = ?")
        .bind(account_id)
        .bind(arn)
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound)
}

pub(crate) async fn describe_test_cases(
    pool: &SqlitePool,
    account_id: &str,
    arn: &str,
    query: &TestCaseQuery<'_>,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Page<TestCase, i64>> {
    let seq = report_seq(pool, account_id, arn).await?;
    let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM report_test_cases WHERE report_seq = ");
    q.push_bind(seq);
    if let Some(status) = query.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(keyword) = query.keyword {
        q.push(" AND (instr(name, ")
            .push_bind(keyword)
            .push(") > 0 OR instr(prefix, ")
            .push_bind(keyword)
            .push(") > 0)");
    }
    if let Some(after) = after {
        q.push(" AND n > ").push_bind(after);
    }
    q.push(" ORDER BY n LIMIT ")
        .push_bind(sql_int(limit).saturating_add(1));
    let rows = q.build_query_as().fetch_all(pool).await?;
    test_case_page(rows, limit)
}

pub(crate) async fn describe_code_coverages(
    pool: &SqlitePool,
    account_id: &str,
    arn: &str,
    query: &CoverageQuery,
    after: Option<&CoverageKey>,
    limit: u64,
) -> StoreResult<Page<(i64, CodeCoverage), CoverageKey>> {
    use kiln_domain::report::ReportCodeCoverageSortByType as SortBy;
    let seq = report_seq(pool, account_id, arn).await?;
    let (direction, beyond) = if query.ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let mut q =
        QueryBuilder::<Sqlite>::new("SELECT * FROM report_code_coverages WHERE report_seq = ");
    q.push_bind(seq)
        .push(" AND line_coverage >= ")
        .push_bind(query.min_line_coverage)
        .push(" AND line_coverage <= ")
        .push_bind(query.max_line_coverage);
    let order = match query.sort {
        SortBy::FilePath => {
            if let Some(key) = after {
                q.push(format!(" AND (file_path, n) {beyond} ("))
                    .push_bind(key.file_path.clone())
                    .push(", ")
                    .push_bind(key.n)
                    .push(")");
            }
            format!("file_path {direction}, n {direction}")
        }
        SortBy::LineCoveragePercentage => {
            if let Some(key) = after {
                q.push(format!(" AND (line_coverage, file_path, n) {beyond} ("))
                    .push_bind(key.line_coverage)
                    .push(", ")
                    .push_bind(key.file_path.clone())
                    .push(", ")
                    .push_bind(key.n)
                    .push(")");
            }
            format!("line_coverage {direction}, file_path {direction}, n {direction}")
        }
    };
    q.push(format!(" ORDER BY {order} LIMIT "))
        .push_bind(sql_int(limit).saturating_add(1));
    let rows = q.build_query_as().fetch_all(pool).await?;
    code_coverage_page(rows, limit)
}
