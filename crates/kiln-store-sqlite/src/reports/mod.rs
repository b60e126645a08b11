//! Report groups, reports and their test cases and code coverages (migration 0011).

use kiln_domain::report::{ReportContents, ReportGroupRecord, ReportRecord};
use kiln_store::records::RecordRow;
use kiln_store::report_records::{ReportRow, SummaryColumns, report_page, report_ref_columns};
use kiln_store::{
    BranchReports, Page, ReportQuery, StoreError, StoreResult, is_unique_violation, sql_int,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

pub(crate) mod contents;
pub(crate) mod groups;

pub(crate) async fn save(
    pool: &SqlitePool,
    report: &ReportRecord,
    contents: ReportContents<'_>,
    create_group: Option<&ReportGroupRecord>,
) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if let Some(group) = create_group {
        groups::insert(&mut *tx, group, true).await?;
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
    contents::insert(&mut tx, seq, contents).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_report(
    tx: &mut sqlx::SqliteConnection,
    report: &ReportRecord,
) -> Result<i64, sqlx::Error> {
    let (ref_kind, ref_name) = report_ref_columns(report);
    let summary = SummaryColumns::of(&report.summary);
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
    .bind(summary.total)
    .bind(summary.succeeded)
    .bind(summary.failed)
    .bind(summary.errored)
    .bind(summary.skipped)
    .bind(summary.unknown)
    .bind(summary.duration_ns)
    .bind(summary.line_coverage)
    .bind(summary.lines_covered)
    .bind(summary.lines_missed)
    .bind(summary.branch_coverage)
    .bind(summary.branches_covered)
    .bind(summary.branches_missed)
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
    rows.iter().map(ReportRow::read).collect()
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
    Ok(report_page(rows, limit))
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
    rows.iter().map(ReportRow::read).collect()
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
    rows.iter().map(ReportRow::read).collect()
}
