//! Log groups and streams, made from projects and builds (docs/cloudwatch-logs.md): a group
//! per project (`/aws/codebuild/<project>`, or the group its `logsConfig.cloudWatchLogs`
//! names, which projects may share), a stream per build of it. `DescribeLogGroups` and
//! `DescribeLogStreams`.

use std::collections::BTreeMap;

use kiln_domain::build::BuildRecord;
use kiln_domain::build_logs::{is_group_name, project_group};
use kiln_domain::caller::Caller;
use kiln_domain::{ApiError, ErrorKind};
use kiln_store::ProjectSort;
use serde::Deserialize;
use serde_json::{Value, json};

use super::limit_within;
use crate::api::{paging, parse_input, store_failure};
use crate::state::AppState;

/// Most projects of an account looked at to find its groups.
pub const MAX_PROJECTS: usize = 2_000;
/// Most builds of a group looked at to list its streams.
pub const MAX_STREAMS: usize = 10_000;
/// `DescribeLimit`.
const MAX_DESCRIBE: usize = 50;

/// A log group: the projects that write to it and when the first was made.
pub struct Group {
    pub created_millis: i64,
    pub projects: Vec<String>,
}

/// A stream: a build of one of the group's projects that writes to the group.
pub struct Stream {
    pub name: String,
    pub build: BuildRecord,
}

pub fn not_found(what: &str) -> ApiError {
    ApiError::new(
        ErrorKind::ResourceNotFound,
        format!("The specified log {what} does not exist."),
    )
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParameter, message)
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

/// The caller's log groups, by name.
pub async fn groups(
    state: &AppState,
    caller: &Caller,
) -> Result<BTreeMap<String, Group>, ApiError> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut after = None;
    let mut seen = 0;
    loop {
        let page = state
            .store
            .list_projects(
                &caller.account_id,
                ProjectSort::Name,
                true,
                after.as_ref(),
                100,
            )
            .await
            .map_err(store_failure)?;
        for name in &page.items {
            let Some(project) = state
                .store
                .get_project(&caller.account_id, name)
                .await
                .map_err(store_failure)?
            else {
                continue;
            };
            let Some(group) = project_group(name, project.settings.logs_config.as_ref()) else {
                continue;
            };
            let entry = groups.entry(group).or_insert(Group {
                created_millis: millis(project.created),
                projects: Vec::new(),
            });
            entry.created_millis = entry.created_millis.min(millis(project.created));
            entry.projects.push(name.clone());
        }
        seen += page.items.len();
        match page.next {
            Some(next) if seen < MAX_PROJECTS => after = Some(next),
            _ => return Ok(groups),
        }
    }
}

/// The group a request names by `logGroupName` or `logGroupIdentifier` (a name or its ARN);
/// exactly one of them.
pub fn requested_group(
    state: &AppState,
    caller: &Caller,
    name: Option<&str>,
    identifier: Option<&str>,
) -> Result<String, ApiError> {
    let group = match (name, identifier) {
        (Some(name), None) => name,
        (None, Some(identifier)) => {
            let own = format!(
                "arn:aws:logs:{}:{}:log-group:",
                state.region, caller.account_id
            );
            match identifier.strip_prefix(&own) {
                Some(rest) => rest.strip_suffix(":*").unwrap_or(rest),
                None if identifier.starts_with("arn:") => return Err(not_found("group")),
                None => identifier,
            }
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "LogGroup name and LogGroup identifier are mutually exclusive parameters.",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "Either LogGroup name or LogGroup identifier is required.",
            ));
        }
    };
    if !is_group_name(group) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
            crate::protocol::truncate(group, 128)
        )));
    }
    Ok(group.to_owned())
}

/// The streams of `group`, newest build first; `ResourceNotFoundException` when no project
/// of the caller writes to it.
pub async fn streams(
    state: &AppState,
    caller: &Caller,
    group: &str,
) -> Result<Vec<Stream>, ApiError> {
    let all = groups(state, caller).await?;
    let projects = &all.get(group).ok_or_else(|| not_found("group"))?.projects;
    let mut streams = Vec::new();
    for project in projects {
        let mut after = None;
        loop {
            let page = state
                .store
                .list_builds(&caller.account_id, Some(project), false, after, 100)
                .await
                .map_err(store_failure)?;
            let uuids: Vec<&str> = page
                .items
                .iter()
                .filter_map(|id| id.rsplit_once(':').map(|(_, uuid)| uuid))
                .collect();
            let builds = state
                .store
                .get_builds(&caller.account_id, &uuids)
                .await
                .map_err(store_failure)?;
            streams.extend(builds.into_iter().filter_map(|build| {
                let stream = build.log_stream().filter(|s| s.group == group)?;
                Some(Stream {
                    name: stream.stream,
                    build,
                })
            }));
            match page.next {
                Some(next) if streams.len() < MAX_STREAMS => after = Some(next),
                _ => break,
            }
        }
    }
    streams.sort_by(|a, b| b.build.start_time.total_cmp(&a.build.start_time));
    streams.truncate(MAX_STREAMS);
    Ok(streams)
}

/// When the stream last had an event: the build's end, or its latest phase's start.
pub fn last_event_millis(build: &BuildRecord) -> i64 {
    let latest = build
        .phases
        .last()
        .map_or(build.start_time, |p| p.start_time);
    millis(build.end_time.unwrap_or(latest))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeGroupsInput {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

pub async fn describe_groups(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: DescribeGroupsInput = parse_input(input)?;
    let limit = limit_within(input.limit, MAX_DESCRIBE)?;
    if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
        return Err(invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let listing = "logGroups";
    let after: Option<String> =
        paging::decode(listing, input.next_token.as_deref()).map_err(|e| invalid(e.message))?;
    let prefix = input.log_group_name_prefix.unwrap_or_default();
    let pattern = input
        .log_group_name_pattern
        .unwrap_or_default()
        .to_lowercase();
    let region = &state.region;
    let account = &caller.account_id;
    let matching: Vec<(String, Group)> = groups(state, caller)
        .await?
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix) && name.to_lowercase().contains(&pattern))
        .filter(|(name, _)| after.as_ref().is_none_or(|a| name > a))
        .collect();
    let more = matching.len() > limit;
    let page: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|(name, group)| {
            json!({
                "logGroupName": name,
                "creationTime": group.created_millis,
                "metricFilterCount": 0,
                "arn": format!("arn:aws:logs:{region}:{account}:log-group:{name}:*"),
                "logGroupArn": format!("arn:aws:logs:{region}:{account}:log-group:{name}"),
                "storedBytes": 0,
                "logGroupClass": "STANDARD",
            })
        })
        .collect();
    let mut out = json!({ "logGroups": page });
    if more && let Some((last, _)) = matching.get(limit - 1) {
        out["nextToken"] = paging::encode(listing, last).into();
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeStreamsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    next_token: Option<String>,
    limit: Option<i64>,
}

pub async fn describe_streams(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: DescribeStreamsInput = parse_input(input)?;
    let limit = limit_within(input.limit, MAX_DESCRIBE)?;
    let group = requested_group(
        state,
        caller,
        input.log_group_name.as_deref(),
        input.log_group_identifier.as_deref(),
    )?;
    let by_time = match input.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]",
                crate::protocol::truncate(other, 64)
            )));
        }
    };
    let prefix = input.log_stream_name_prefix.unwrap_or_default();
    if by_time && !prefix.is_empty() {
        return Err(invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let descending = input.descending.unwrap_or(false);
    let listing = format!("logStreams:{group}:{by_time}:{descending}");
    let after: Option<(i64, String)> =
        paging::decode(&listing, input.next_token.as_deref()).map_err(|e| invalid(e.message))?;
    let key = |s: &Stream| {
        let time = if by_time {
            last_event_millis(&s.build)
        } else {
            0
        };
        (time, s.name.clone())
    };
    let mut found: Vec<((i64, String), Stream)> = streams(state, caller, &group)
        .await?
        .into_iter()
        .filter(|s| s.name.starts_with(&prefix))
        .map(|s| (key(&s), s))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if descending {
        found.reverse();
    }
    let found: Vec<_> = found
        .into_iter()
        .filter(|(k, _)| match &after {
            None => true,
            Some(a) if descending => k < a,
            Some(a) => k > a,
        })
        .collect();
    let region = &state.region;
    let account = &caller.account_id;
    let page: Vec<Value> = found
        .iter()
        .take(limit)
        .map(|(_, s)| {
            let last = last_event_millis(&s.build);
            json!({
                "logStreamName": s.name,
                "creationTime": millis(s.build.start_time),
                "firstEventTimestamp": millis(s.build.start_time),
                "lastEventTimestamp": last,
                "lastIngestionTime": last,
                "arn": format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{}", s.name),
                "storedBytes": 0,
            })
        })
        .collect();
    let mut out = json!({ "logStreams": page });
    if found.len() > limit
        && let Some((last, _)) = found.get(limit - 1)
    {
        out["nextToken"] = paging::encode(&listing, last).into();
    }
    Ok(out)
}
