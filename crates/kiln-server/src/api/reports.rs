//! Report operations: BatchGetReports, ListReports, ListReportsForReportGroup, DeleteReport,
//! DescribeTestCases and DescribeCodeCoverages.

use kiln_domain::report::{self, ReportCodeCoverageSortByType, ReportStatusType, TestCaseStatus};
use kiln_domain::validate::{self, Violations};
use kiln_domain::{ApiError, enums};
use kiln_store::{CoverageKey, CoverageQuery, ReportQuery, StoreError, TestCaseQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use super::report_groups::find_group;
use super::{Caller, paging, parse_input, store_failure};
use crate::state::AppState;

/// `PageSize`: 1 to 100, 100 when absent.
pub(crate) fn page_size(v: &mut Violations, max_results: Option<i64>) -> u64 {
    match max_results {
        None => 100,
        Some(n) => {
            v.range("maxResults", n, 1, 100);
            u64::try_from(n.clamp(1, 100)).unwrap_or(100)
        }
    }
}

/// A list of 1 to 100 ARNs (`ReportArns`, `ReportGroupArns`), each non-empty.
pub(crate) fn arn_list(field: &str, arns: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let mut v = Violations::new();
    match &arns {
        None => v.missing(field),
        Some(list) if list.is_empty() => v.add(
            field,
            "[]",
            "Member must have length greater than or equal to 1",
        ),
        Some(list) => {
            v.count(field, list.len(), 100);
            for (i, arn) in list.iter().enumerate() {
                v.min_length(&format!("{field}.{}.member", i + 1), arn, 1);
            }
        }
    }
    v.finish()?;
    Ok(arns.unwrap_or_default())
}

/// A listing's name as its digest: a report's listings name the report and the filter, which
/// may be long, and a token must stay short.
fn listing_digest(listing: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(listing))
}

fn report_not_found(arn: &str) -> ApiError {
    ApiError::not_found(format!(
        "Report {} does not exist",
        crate::protocol::truncate(arn, 300)
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchGetInput {
    report_arns: Option<Vec<String>>,
}

pub async fn batch_get(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: BatchGetInput = parse_input(input)?;
    let arns = arn_list("reportArns", input.report_arns)?;
    let own: Vec<&str> = arns
        .iter()
        .map(String::as_str)
        .filter(|arn| report::is_own_report_arn(&state.region, &caller.account_id, arn))
        .collect();
    let reports = state
        .store
        .get_reports(&caller.account_id, &own)
        .await
        .map_err(store_failure)?;
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for arn in &arns {
        match reports.iter().find(|r| &r.arn == arn) {
            Some(r) => found.push(r.to_api()),
            None => not_found.push(arn.clone()),
        }
    }
    Ok(json!({ "reports": found, "reportsNotFound": not_found }))
}

#[derive(Deserialize)]
struct ReportFilter {
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    report_group_arn: Option<String>,
    sort_order: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<ReportFilter>,
}

pub async fn list(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    list_in(state, caller, parse_input(input)?, None).await
}

pub async fn list_for_group(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: ListInput = parse_input(input)?;
    let arn = validate::required("reportGroupArn", input.report_group_arn.clone())?;
    let group = find_group(state, caller, &arn).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "Report group {} does not exist",
            crate::protocol::truncate(&arn, 300)
        ))
    })?;
    list_in(state, caller, input, Some(&group.name)).await
}

async fn list_in(
    state: &AppState,
    caller: &Caller,
    input: ListInput,
    group_name: Option<&str>,
) -> Result<Value, ApiError> {
    let mut v = Violations::new();
    if let Some(s) = &input.sort_order {
        v.one_of("sortOrder", s, enums::SORT_ORDER);
    }
    let statuses: Vec<&str> = ReportStatusType::ALL.iter().map(|s| s.as_str()).collect();
    let status = input.filter.and_then(|f| f.status);
    if let Some(s) = &status {
        v.one_of("filter.status", s, &statuses);
    }
    let limit = page_size(&mut v, input.max_results);
    v.finish()?;
    let query = ReportQuery {
        group_name,
        status: status.as_deref().and_then(ReportStatusType::from_name),
        ascending: input.sort_order.as_deref() == Some("ASCENDING"),
    };
    let listing = format!(
        "reports:{}:{}:{}",
        group_name.unwrap_or(""),
        status.as_deref().unwrap_or(""),
        query.ascending
    );
    let after = paging::decode::<i64>(&listing, input.next_token.as_deref())?;
    let page = state
        .store
        .list_reports(&caller.account_id, &query, after, limit)
        .await
        .map_err(store_failure)?;
    let mut out = json!({ "reports": page.items });
    paging::set_next(&mut out, "nextToken", &listing, page.next.as_ref());
    Ok(out)
}

#[derive(Deserialize)]
struct ArnInput {
    arn: Option<String>,
}

/// The model lists only InvalidInputException for DeleteReport: an unknown report is one.
pub async fn delete(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: ArnInput = parse_input(input)?;
    let arn = validate::required("arn", input.arn)?;
    let deleted = report::is_own_report_arn(&state.region, &caller.account_id, &arn)
        && state
            .store
            .delete_report(&caller.account_id, &arn)
            .await
            .map_err(store_failure)?;
    if !deleted {
        return Err(ApiError::invalid_input(format!(
            "Report {} does not exist",
            crate::protocol::truncate(&arn, 300)
        )));
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
struct TestCaseFilter {
    status: Option<String>,
    keyword: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeTestCasesInput {
    report_arn: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    filter: Option<TestCaseFilter>,
}

pub async fn describe_test_cases(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: DescribeTestCasesInput = parse_input(input)?;
    let mut v = Violations::new();
    if input.report_arn.as_deref().is_none_or(str::is_empty) {
        v.missing("reportArn");
    }
    let (status, keyword) = input
        .filter
        .map(|f| (f.status, f.keyword))
        .unwrap_or_default();
    let statuses: Vec<&str> = TestCaseStatus::ALL.iter().map(|s| s.as_str()).collect();
    if let Some(s) = &status {
        v.one_of("filter.status", s, &statuses);
    }
    let limit = page_size(&mut v, input.max_results);
    v.finish()?;
    let arn = input.report_arn.unwrap_or_default();
    let query = TestCaseQuery {
        status: status.as_deref().and_then(TestCaseStatus::from_name),
        keyword: keyword.as_deref().filter(|k| !k.is_empty()),
    };
    // The token belongs to this report and filter: a token of another is refused.
    let listing = format!(
        "test-cases:{}:{}:{}",
        arn,
        status.as_deref().unwrap_or(""),
        query.keyword.unwrap_or("")
    );
    let listing = listing_digest(&listing);
    let after = paging::decode::<i64>(&listing, input.next_token.as_deref())?;
    if !report::is_own_report_arn(&state.region, &caller.account_id, &arn) {
        return Err(report_not_found(&arn));
    }
    let page = match state
        .store
        .describe_test_cases(&caller.account_id, &arn, &query, after, limit)
        .await
    {
        Ok(page) => page,
        Err(StoreError::NotFound) => return Err(report_not_found(&arn)),
        Err(e) => return Err(store_failure(e)),
    };
    let cases: Vec<Value> = page
        .items
        .iter()
        .map(|case| report::test_case_to_api(&arn, case))
        .collect();
    let mut out = json!({ "testCases": cases });
    paging::set_next(&mut out, "nextToken", &listing, page.next.as_ref());
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeCoveragesInput {
    report_arn: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    sort_order: Option<String>,
    sort_by: Option<String>,
    min_line_coverage_percentage: Option<f64>,
    max_line_coverage_percentage: Option<f64>,
}

fn percentage(v: &mut Violations, field: &str, value: Option<f64>, default: f64) -> f64 {
    match value {
        Some(p) if (0.0..=100.0).contains(&p) => p,
        Some(p) => {
            v.add(
                field,
                &p.to_string(),
                "Member must have value between 0 and 100, inclusive",
            );
            default
        }
        None => default,
    }
}

/// The model lists only InvalidInputException: an unknown report has no coverages.
pub async fn describe_code_coverages(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: DescribeCoveragesInput = parse_input(input)?;
    let mut v = Violations::new();
    match &input.report_arn {
        None => v.missing("reportArn"),
        Some(arn) => v.min_length("reportArn", arn, 1),
    }
    if let Some(s) = &input.sort_order {
        v.one_of("sortOrder", s, enums::SORT_ORDER);
    }
    let sorts: Vec<&str> = ReportCodeCoverageSortByType::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    if let Some(s) = &input.sort_by {
        v.one_of("sortBy", s, &sorts);
    }
    let min = percentage(
        &mut v,
        "minLineCoveragePercentage",
        input.min_line_coverage_percentage,
        0.0,
    );
    let max = percentage(
        &mut v,
        "maxLineCoveragePercentage",
        input.max_line_coverage_percentage,
        100.0,
    );
    let limit = page_size(&mut v, input.max_results);
    v.finish()?;
    let arn = input.report_arn.unwrap_or_default();
    let query = CoverageQuery {
        sort: input
            .sort_by
            .as_deref()
            .and_then(ReportCodeCoverageSortByType::from_name)
            .unwrap_or(ReportCodeCoverageSortByType::FilePath),
        ascending: input.sort_order.as_deref() != Some("DESCENDING"),
        min_line_coverage: min,
        max_line_coverage: max,
    };
    let listing = listing_digest(&format!(
        "coverages:{arn}:{}:{}:{}:{}",
        query.sort.as_str(),
        query.ascending,
        min.to_bits(),
        max.to_bits()
    ));
    let after = paging::decode::<(u64, String, i64)>(&listing, input.next_token.as_deref())?.map(
        |(bits, file_path, n)| CoverageKey {
            line_coverage: f64::from_bits(bits),
            file_path,
            n,
        },
    );
    if after.as_ref().is_some_and(|k| !k.line_coverage.is_finite()) {
        return Err(ApiError::invalid_input(
            "Invalid pagination token: nextToken",
        ));
    }
    if !report::is_own_report_arn(&state.region, &caller.account_id, &arn) {
        return Ok(json!({ "codeCoverages": [] }));
    }
    let page = match state
        .store
        .describe_code_coverages(&caller.account_id, &arn, &query, after.as_ref(), limit)
        .await
    {
        Ok(page) => page,
        Err(StoreError::NotFound) => return Ok(json!({ "codeCoverages": [] })),
        Err(e) => return Err(store_failure(e)),
    };
    let files: Vec<Value> = page
        .items
        .iter()
        .map(|(n, file)| report::code_coverage_to_api(&arn, *n, file))
        .collect();
    let mut out = json!({ "codeCoverages": files });
    let next = page
        .next
        .map(|next| (next.line_coverage.to_bits(), next.file_path, next.n));
    paging::set_next(&mut out, "nextToken", &listing, next.as_ref());
    Ok(out)
}
