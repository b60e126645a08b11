//! Report group operations: CreateReportGroup, UpdateReportGroup, DeleteReportGroup,
//! BatchGetReportGroups, ListReportGroups, ListSharedReportGroups and GetReportGroupTrend.

use kiln_domain::report::{
    self, CreateReportGroupInput, ReportGroupRecord, TrendField, UpdateReportGroupInput,
};
use kiln_domain::validate::{self, Violations};
use kiln_domain::{ApiError, ErrorKind, enums};
use kiln_store::{DeletedReportGroup, ProjectKey, ProjectSort, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::reports::{arn_list, page_size};
use super::{Caller, paging, parse_input, store_failure};
use crate::state::AppState;

fn not_found(arn: &str) -> ApiError {
    ApiError::not_found(format!(
        "Report group {} does not exist",
        crate::protocol::truncate(arn, 300)
    ))
}

/// The caller's group that `arn` names; `None` for an unknown one or another account's.
pub(crate) async fn find_group(
    state: &AppState,
    caller: &Caller,
    arn: &str,
) -> Result<Option<ReportGroupRecord>, ApiError> {
    let Some(name) = report::group_name_from_arn(&state.region, &caller.account_id, arn) else {
        return Ok(None);
    };
    let groups = state
        .store
        .get_report_groups(&caller.account_id, &[name])
        .await
        .map_err(store_failure)?;
    Ok(groups.into_iter().next())
}

pub async fn create(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: CreateReportGroupInput = parse_input(input)?;
    let record = report::validate_create(input, &caller.account_id, state.now_epoch())?;
    match state.store.create_report_group(&record).await {
        Ok(()) => Ok(json!({ "reportGroup": record.to_api(&state.region) })),
        Err(StoreError::AlreadyExists) => Err(ApiError::new(
            ErrorKind::ResourceAlreadyExists,
            format!("Report group already exists: {}", record.arn(&state.region)),
        )),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn update(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: UpdateReportGroupInput = parse_input(input)?;
    let arn = validate::required("arn", input.arn.clone())?;
    let mut record = find_group(state, caller, &arn)
        .await?
        .ok_or_else(|| not_found(&arn))?;
    report::apply_update(&mut record, input, state.now_epoch())?;
    match state.store.update_report_group(&record).await {
        Ok(()) => Ok(json!({ "reportGroup": record.to_api(&state.region) })),
        Err(StoreError::NotFound) => Err(not_found(&arn)),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteInput {
    arn: Option<String>,
    delete_reports: Option<bool>,
}

/// The model lists only InvalidInputException for DeleteReportGroup: an unknown group and a
/// group that still holds reports are both invalid input.
pub async fn delete(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: DeleteInput = parse_input(input)?;
    let arn = validate::required("arn", input.arn)?;
    let shown = crate::protocol::truncate(&arn, 300);
    let Some(name) = report::group_name_from_arn(&state.region, &caller.account_id, &arn) else {
        return Err(ApiError::invalid_input(format!(
            "Report group {shown} does not exist"
        )));
    };
    let deleted = state
        .store
        .delete_report_group(
            &caller.account_id,
            name,
            input.delete_reports.unwrap_or(false),
        )
        .await
        .map_err(store_failure)?;
    match deleted {
        DeletedReportGroup::Deleted => Ok(json!({})),
        DeletedReportGroup::NotFound => Err(ApiError::invalid_input(format!(
            "Report group {shown} does not exist"
        ))),
        DeletedReportGroup::HasReports => Err(ApiError::invalid_input(format!(
            "Report group {shown} still has reports: delete them first, or set deleteReports"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchGetInput {
    report_group_arns: Option<Vec<String>>,
}

pub async fn batch_get(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: BatchGetInput = parse_input(input)?;
    let arns = arn_list("reportGroupArns", input.report_group_arns)?;
    let names: Vec<&str> = arns
        .iter()
        .filter_map(|arn| report::group_name_from_arn(&state.region, &caller.account_id, arn))
        .collect();
    let groups = state
        .store
        .get_report_groups(&caller.account_id, &names)
        .await
        .map_err(store_failure)?;
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for arn in &arns {
        match groups.iter().find(|g| &g.arn(&state.region) == arn) {
            Some(group) => found.push(group.to_api(&state.region)),
            None => not_found.push(arn.clone()),
        }
    }
    Ok(json!({ "reportGroups": found, "reportGroupsNotFound": not_found }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    sort_by: Option<String>,
    sort_order: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub async fn list(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: ListInput = parse_input(input)?;
    let mut v = Violations::new();
    if let Some(s) = &input.sort_by {
        v.one_of("sortBy", s, enums::PROJECT_SORT_BY);
    }
    if let Some(s) = &input.sort_order {
        v.one_of("sortOrder", s, enums::SORT_ORDER);
    }
    let limit = page_size(&mut v, input.max_results);
    v.finish()?;
    let sort = match input.sort_by.as_deref() {
        Some("CREATED_TIME") => ProjectSort::Created,
        Some("LAST_MODIFIED_TIME") => ProjectSort::LastModified,
        _ => ProjectSort::Name,
    };
    let ascending = input.sort_order.as_deref() != Some("DESCENDING");
    let listing = format!("report-groups:{sort:?}:{ascending}");
    // The sort value travels as its bits, as ListProjects' does.
    let after = match paging::decode::<(u64, String)>(&listing, input.next_token.as_deref())? {
        Some((bits, name)) if f64::from_bits(bits).is_finite() => Some(ProjectKey {
            sort_value: f64::from_bits(bits),
            name,
        }),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "Invalid pagination token: nextToken",
            ));
        }
        None => None,
    };
    let page = state
        .store
        .list_report_groups(&caller.account_id, sort, ascending, after.as_ref(), limit)
        .await
        .map_err(store_failure)?;
    let arns: Vec<String> = page
        .items
        .iter()
        .map(|name| report::report_group_arn(&state.region, &caller.account_id, name))
        .collect();
    let mut out = json!({ "reportGroups": arns });
    let next = page.next.map(|next| (next.sort_value.to_bits(), next.name));
    paging::set_next(&mut out, "nextToken", &listing, next.as_ref());
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListSharedInput {
    sort_by: Option<String>,
    sort_order: Option<String>,
    max_results: Option<i64>,
}

/// Kiln shares no report groups between accounts: always an empty list, once the input is valid.
pub fn list_shared(input: Value) -> Result<Value, ApiError> {
    let input: ListSharedInput = parse_input(input)?;
    let mut v = Violations::new();
    if let Some(s) = &input.sort_by {
        v.one_of("sortBy", s, &["ARN", "MODIFIED_TIME"]);
    }
    if let Some(s) = &input.sort_order {
        v.one_of("sortOrder", s, enums::SORT_ORDER);
    }
    page_size(&mut v, input.max_results);
    v.finish()?;
    Ok(json!({ "reportGroups": [] }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrendInput {
    report_group_arn: Option<String>,
    num_of_reports: Option<i64>,
    trend_field: Option<String>,
}

pub async fn trend(state: &AppState, caller: &Caller, input: Value) -> Result<Value, ApiError> {
    let input: TrendInput = parse_input(input)?;
    let mut v = Violations::new();
    match &input.report_group_arn {
        None => v.missing("reportGroupArn"),
        Some(arn) => v.min_length("reportGroupArn", arn, 1),
    }
    let fields: Vec<&str> = report::TREND_FIELDS.iter().map(|(n, _)| *n).collect();
    match &input.trend_field {
        None => v.missing("trendField"),
        Some(f) => v.one_of("trendField", f, &fields),
    }
    let limit = page_size(&mut v, input.num_of_reports);
    v.finish()?;
    let arn = input.report_group_arn.unwrap_or_default();
    let field = input
        .trend_field
        .as_deref()
        .and_then(TrendField::from_name)
        .ok_or_else(ApiError::internal)?;
    let group = find_group(state, caller, &arn)
        .await?
        .ok_or_else(|| not_found(&arn))?;
    let reports = state
        .store
        .report_group_trend(&caller.account_id, &group.name, limit)
        .await
        .map_err(store_failure)?;
    Ok(report::trend(field, &reports))
}
