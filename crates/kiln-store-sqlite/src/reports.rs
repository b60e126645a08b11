//! Report groups, reports and their test cases and code coverages (migration 0011).

use kiln_domain::project::Tag;
use kiln_domain::refs::GitRef;
use kiln_domain::report::{
    CodeCoverage, CodeCoverageReportSummary, ReportContents, ReportGroupRecord, ReportRecord,
    ReportStatusType, ReportSummary, ReportType, TestCase, TestCaseStatus, TestReportSummary,
};
use kiln_store::{
    BranchReports, CoverageKey, CoverageQuery, DeletedReportGroup, Page, ProjectKey, ProjectSort,
    ReportQuery, StoreError, StoreResult, TestCaseQuery, is_unique_violation, sql_int,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

/// Rows per multi-row insert of cases or coverages: 9 binds each, far below SQLite's limit.
const INSERT_BATCH: usize = 500;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(corrupt)
}

fn count(row: &SqliteRow, column: &str) -> StoreResult<u64> {
    let n: i64 = row.try_get(column)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn report_type(name: &str) -> StoreResult<ReportType> {
    ReportType::from_name(name).ok_or_else(|| corrupt(format!("report type {name}")))
}

fn group_from_row(row: &SqliteRow) -> StoreResult<ReportGroupRecord> {
    let export_config: String = row.try_get("export_config")?;
    let tags: String = row.try_get("tags")?;
    Ok(ReportGroupRecord {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        report_type: report_type(row.try_get("report_type")?)?,
        export_config: serde_json::from_str(&export_config).map_err(corrupt)?,
        tags: serde_json::from_str::<Vec<Tag>>(&tags).map_err(corrupt)?,
        created: row.try_get("created")?,
        last_modified: row.try_get("last_modified")?,
    })
}

fn report_from_row(row: &SqliteRow) -> StoreResult<ReportRecord> {
    let export_config: String = row.try_get("export_config")?;
    let summary = match report_type(row.try_get("report_type")?)? {
        ReportType::Test => {
            let status_counts = [
                (TestCaseStatus::Succeeded, "succeeded"),
                (TestCaseStatus::Failed, "failed"),
                (TestCaseStatus::Error, "errored"),
                (TestCaseStatus::Skipped, "skipped"),
                (TestCaseStatus::Unknown, "unknown"),
            ]
            .into_iter()
            .map(|(status, column)| Ok((status.as_str(), count(row, column)?)))
            .collect::<StoreResult<_>>()?;
            ReportSummary::Test(TestReportSummary {
                total: count(row, "total")?,
                status_counts,
                duration_in_nano_seconds: count(row, "duration_ns")?,
            })
        }
        ReportType::CodeCoverage => ReportSummary::CodeCoverage(CodeCoverageReportSummary {
            line_coverage_percentage: row.try_get("line_coverage")?,
            lines_covered: count(row, "lines_covered")?,
            lines_missed: count(row, "lines_missed")?,
            branch_coverage_percentage: row.try_get("branch_coverage")?,
            branches_covered: count(row, "branches_covered")?,
            branches_missed: count(row, "branches_missed")?,
        }),
    };
    let status: String = row.try_get("status")?;
    let ref_kind: Option<String> = row.try_get("ref_kind")?;
    let ref_name: Option<String> = row.try_get("ref_name")?;
    let git_ref = match (ref_kind.as_deref(), ref_name) {
        (Some("branch"), Some(name)) => Some(GitRef::Branch(name)),
        (Some("tag"), Some(name)) => Some(GitRef::Tag(name)),
        _ => None,
    };
    Ok(ReportRecord {
        arn: row.try_get("arn")?,
        account_id: row.try_get("account_id")?,
        group_name: row.try_get("group_name")?,
        group_arn: row.try_get("group_arn")?,
        name: row.try_get("name")?,
        execution_id: row.try_get("execution_id")?,
        build_uuid: row.try_get("build_uuid")?,
        project_name: row.try_get("project_name")?,
        git_ref,
        build_start_time: row.try_get("build_start_time")?,
        status: ReportStatusType::from_name(&status)
            .ok_or_else(|| corrupt(format!("report status {status}")))?,
        created: row.try_get("created")?,
        truncated: row.try_get("truncated")?,
        export_config: serde_json::from_str(&export_config).map_err(corrupt)?,
        summary,
    })
}

pub(crate) async fn create_group(pool: &SqlitePool, group: &ReportGroupRecord) -> StoreResult<()> {
    match insert_group(pool, group, false).await {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

/// Inserts a group; with `if_missing`, an existing group is kept. Returns whether it was new.
async fn insert_group<'c, E: sqlx::Executor<'c, Database = Sqlite>>(
    executor: E,
    group: &ReportGroupRecord,
    if_missing: bool,
) -> Result<bool, sqlx::Error> {
    let conflict = if if_missing {
        "ON CONFLICT (account_id, name) DO NOTHING"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO report_groups
         (account_id, name, report_type, export_config, tags, created, last_modified)
         VALUES (?, ?, ?, ?, ?, ?, ?) {conflict}"
    );
    let export_config = serde_json::to_string(&group.export_config).unwrap_or_default();
    let tags = serde_json::to_string(&group.tags).unwrap_or_default();
    let done = sqlx::query(&sql)
        .bind(&group.account_id)
        .bind(&group.name)
        .bind(group.report_type.as_str())
        .bind(export_config)
        .bind(tags)
        .bind(group.created)
        .bind(group.last_modified)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn get_groups(
    pool: &SqlitePool,
    account_id: &str,
    names: &[&str],
) -> StoreResult<Vec<ReportGroupRecord>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM report_groups WHERE account_id = ");
    q.push_bind(account_id).push(" AND name IN (");
    let mut list = q.separated(", ");
    for name in names {
        list.push_bind(*name);
    }
    q.push(")");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(group_from_row).collect()
}

pub(crate) async fn update_group(pool: &SqlitePool, group: &ReportGroupRecord) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE report_groups SET export_config = ?, tags = ?, last_modified = ?
         WHERE account_id = ? AND name = ?",
    )
    .bind(to_json(&group.export_config)?)
    .bind(to_json(&group.tags)?)
    .bind(group.last_modified)
    .bind(&group.account_id)
    .bind(&group.name)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn delete_group(
    pool: &SqlitePool,
    account_id: &str,
    name: &str,
    delete_reports: bool,
) -> StoreResult<DeletedReportGroup> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM report_groups WHERE account_id = ? AND name = ?")
            .bind(account_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Ok(DeletedReportGroup::NotFound);
    }
    if delete_reports {
        sqlx::query("DELETE FROM reports WHERE account_id = ? AND group_name = ?")
            .bind(account_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    } else {
        let report: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM reports WHERE account_id = ? AND group_name = ? LIMIT 1",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        if report.is_some() {
            return Ok(DeletedReportGroup::HasReports);
        }
    }
    sqlx::query("DELETE FROM report_groups WHERE account_id = ? AND name = ?")
        .bind(account_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DeletedReportGroup::Deleted)
}

/// A page of group names; each sort is one range scan of its index. Fixed SQL text only.
pub(crate) async fn list_groups(
    pool: &SqlitePool,
    account_id: &str,
    sort: ProjectSort,
    ascending: bool,
    after: Option<&ProjectKey>,
    limit: u64,
) -> StoreResult<Page<String, ProjectKey>> {
    let column = match sort {
        ProjectSort::Name => "name",
        ProjectSort::Created => "created",
        ProjectSort::LastModified => "last_modified",
    };
    let (direction, beyond) = if ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let keyset = match (after, sort) {
        (None, _) => String::new(),
        (Some(_), ProjectSort::Name) => format!("AND name {beyond} ?"),
        (Some(_), _) => format!("AND ({column}, name) {beyond} (?, ?)"),
    };
    let sql = format!(
        "SELECT name, {column} AS sort_value FROM report_groups WHERE account_id = ? {keyset}
         ORDER BY {column} {direction}, name {direction} LIMIT ?"
    );
    let mut query = sqlx::query(&sql).bind(account_id);
    if let Some(key) = after {
        if sort != ProjectSort::Name {
            query = query.bind(key.sort_value);
        }
        query = query.bind(&key.name);
    }
    let rows = query
        .bind(sql_int(limit).saturating_add(1))
        .fetch_all(pool)
        .await?;
    let keys = rows
        .iter()
        .map(|r| {
            let sort_value = match sort {
                ProjectSort::Name => 0.0,
                _ => r.try_get("sort_value")?,
            };
            Ok(ProjectKey {
                sort_value,
                name: r.try_get("name")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Page::from_overfetched(
        keys,
        limit,
        |key| key.name.clone(),
        Clone::clone,
    ))
}

pub(crate) async fn save(
    pool: &SqlitePool,
    report: &ReportRecord,
    contents: ReportContents<'_>,
    create_group: Option<&ReportGroupRecord>,
) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if let Some(group) = create_group {
        insert_group(&mut *tx, group, true).await?;
    }
    let group_type: Option<String> = sqlx::query_scalar(
        "SELECT report_type FROM report_groups WHERE account_id = ? AND name = ?",
    )
    .bind(&report.account_id)
    .bind(&report.group_name)
    .fetch_optional(&mut *tx)
    .await?;
    if group_type.as_deref() != Some(report.report_type().as_str())
        || contents.report_type() != report.report_type()
    {
        return Err(StoreError::NotFound);
    }
    let seq = match insert_report(&mut tx, report).await {
        Ok(seq) => seq,
        Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
        Err(e) => return Err(e.into()),
    };
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
    tx.commit().await?;
    Ok(())
}

async fn insert_report(
    tx: &mut sqlx::SqliteConnection,
    report: &ReportRecord,
) -> Result<i64, sqlx::Error> {
    let (ref_kind, ref_name) = match &report.git_ref {
        Some(r) => {
            let (kind, name) = r.kind_and_name();
            (Some(kind), Some(name))
        }
        None => (None, None),
    };
    let test = match &report.summary {
        ReportSummary::Test(s) => Some(s),
        ReportSummary::CodeCoverage(_) => None,
    };
    let coverage = match &report.summary {
        ReportSummary::CodeCoverage(s) => Some(s),
        ReportSummary::Test(_) => None,
    };
    let status_count = |status: TestCaseStatus| {
        test.map(|s| sql_int(s.status_counts.get(status.as_str()).copied().unwrap_or(0)))
    };
    sqlx::query_scalar(
        "INSERT INTO reports (arn, account_id, group_name, group_arn, name, report_type,
         execution_id, build_uuid, project_name, ref_kind, ref_name, build_start_time, status,
         created, truncated, export_config, total, succeeded, failed, errored, skipped, unknown,
         duration_ns, line_coverage, lines_covered, lines_missed, branch_coverage,
         branches_covered, branches_missed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING seq",
    )
    .bind(&report.arn)
    .bind(&report.account_id)
    .bind(&report.group_name)
    .bind(&report.group_arn)
    .bind(&report.name)
    .bind(report.report_type().as_str())
    .bind(&report.execution_id)
    .bind(&report.build_uuid)
    .bind(&report.project_name)
    .bind(ref_kind)
    .bind(ref_name)
    .bind(report.build_start_time)
    .bind(report.status.as_str())
    .bind(report.created)
    .bind(report.truncated)
    .bind(serde_json::to_string(&report.export_config).unwrap_or_default())
    .bind(test.map(|s| sql_int(s.total)))
    .bind(status_count(TestCaseStatus::Succeeded))
    .bind(status_count(TestCaseStatus::Failed))
    .bind(status_count(TestCaseStatus::Error))
    .bind(status_count(TestCaseStatus::Skipped))
    .bind(status_count(TestCaseStatus::Unknown))
    .bind(test.map(|s| sql_int(s.duration_in_nano_seconds)))
    .bind(coverage.map(|s| s.line_coverage_percentage))
    .bind(coverage.map(|s| sql_int(s.lines_covered)))
    .bind(coverage.map(|s| sql_int(s.lines_missed)))
    .bind(coverage.map(|s| s.branch_coverage_percentage))
    .bind(coverage.map(|s| sql_int(s.branches_covered)))
    .bind(coverage.map(|s| sql_int(s.branches_missed)))
    .fetch_one(&mut *tx)
    .await
}

pub(crate) async fn get_reports(
    pool: &SqlitePool,
    account_id: &str,
    arns: &[&str],
) -> StoreResult<Vec<ReportRecord>> {
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM reports WHERE account_id = ");
    q.push_bind(account_id).push(" AND arn IN (");
    let mut list = q.separated(", ");
    for arn in arns {
        list.push_bind(*arn);
    }
    q.push(")");
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(report_from_row).collect()
}

/// A page of report ARNs: one range scan of the index for the scope and status filter.
pub(crate) async fn list_reports(
    pool: &SqlitePool,
    account_id: &str,
    query: &ReportQuery<'_>,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Page<String, i64>> {
    let (direction, beyond) = if query.ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let mut q = QueryBuilder::<Sqlite>::new("SELECT arn, seq FROM reports WHERE account_id = ");
    q.push_bind(account_id);
    if let Some(group) = query.group_name {
        q.push(" AND group_name = ").push_bind(group);
    }
    if let Some(status) = query.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(after) = after {
        q.push(format!(" AND seq {beyond} ")).push_bind(after);
    }
    q.push(format!(" ORDER BY seq {direction} LIMIT "))
        .push_bind(sql_int(limit).saturating_add(1));
    let rows: Vec<(String, i64)> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_overfetched(
        rows,
        limit,
        |(arn, _)| arn.clone(),
        |(_, seq)| *seq,
    ))
}

pub(crate) async fn delete_report(
    pool: &SqlitePool,
    account_id: &str,
    arn: &str,
) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM reports WHERE account_id = ? AND arn = ?")
        .bind(account_id)
        .bind(arn)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
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
    let rows = q.build().fetch_all(pool).await?;
    let cases = rows
        .iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            let case = TestCase {
                prefix: row.try_get("prefix")?,
                name: row.try_get("name")?,
                status: TestCaseStatus::from_name(&status)
                    .ok_or_else(|| corrupt(format!("test case status {status}")))?,
                duration_in_nano_seconds: count(row, "duration_ns")?,
                message: row.try_get("message")?,
                test_suite_name: row.try_get("test_suite_name")?,
                test_raw_data_path: row.try_get("test_raw_data_path")?,
            };
            Ok((row.try_get::<i64, _>("n")?, case))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::from_overfetched(
        cases,
        limit,
        |(_, case)| case.clone(),
        |(n, _)| *n,
    ))
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
    let rows = q.build().fetch_all(pool).await?;
    let files = rows
        .iter()
        .map(|row| {
            let file = CodeCoverage {
                file_path: row.try_get("file_path")?,
                line_coverage_percentage: row.try_get("line_coverage")?,
                lines_covered: count(row, "lines_covered")?,
                lines_missed: count(row, "lines_missed")?,
                branch_coverage_percentage: row.try_get("branch_coverage")?,
                branches_covered: count(row, "branches_covered")?,
                branches_missed: count(row, "branches_missed")?,
            };
            Ok((row.try_get::<i64, _>("n")?, file))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::from_overfetched(
        files,
        limit,
        Clone::clone,
        |(n, file)| CoverageKey {
            line_coverage: file.line_coverage_percentage,
            file_path: file.file_path.clone(),
            n: *n,
        },
    ))
}

pub(crate) async fn group_trend(
    pool: &SqlitePool,
    account_id: &str,
    group_name: &str,
    limit: u64,
) -> StoreResult<Vec<ReportRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM reports WHERE account_id = ? AND group_name = ? ORDER BY seq DESC LIMIT ?",
    )
    .bind(account_id)
    .bind(group_name)
    .bind(sql_int(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(report_from_row).collect()
}

/// The newest build (by start time) among the ref's reports of the type whose build is
/// complete, then that build's reports: a walk down reports_by_ref.
pub(crate) async fn latest_for_ref(
    pool: &SqlitePool,
    which: &BranchReports<'_>,
) -> StoreResult<Vec<ReportRecord>> {
    let (kind, name) = which.git_ref.kind_and_name();
    let rows = sqlx::query(
        "SELECT * FROM reports WHERE account_id = ?1 AND project_name = ?2 AND report_type = ?5
         AND (?6 IS NULL OR group_name = ?6) AND build_uuid = (
             SELECT r.build_uuid FROM reports r JOIN builds b ON b.uuid = r.build_uuid
             WHERE r.account_id = ?1 AND r.project_name = ?2 AND r.ref_kind = ?3
             AND r.ref_name = ?4 AND r.report_type = ?5 AND (?6 IS NULL OR r.group_name = ?6)
             AND b.complete = 1
             ORDER BY r.build_start_time DESC, r.seq DESC LIMIT 1)
         ORDER BY group_name",
    )
    .bind(which.account_id)
    .bind(which.project_name)
    .bind(kind)
    .bind(name)
    .bind(which.report_type.as_str())
    .bind(which.group_name)
    .fetch_all(pool)
    .await?;
    rows.iter().map(report_from_row).collect()
}
