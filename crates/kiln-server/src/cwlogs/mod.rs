//! The CloudWatch Logs subset that reads build logs (`Logs_20140328.*`, signed for `logs`):
//! `GetLogEvents`, `FilterLogEvents`, `DescribeLogGroups`, `DescribeLogStreams`. Shapes and
//! errors follow botocore's logs/2014-03-28 model; how builds map to groups, streams and
//! events is in docs/cloudwatch-logs.md.

mod events;
mod filter;
mod groups;
mod read;

/// The console's log viewer dates lines the same way.
pub use self::events::kiln_timestamp;

use kiln_domain::ApiError;
use kiln_domain::build::BuildRecord;
use kiln_domain::build_logs::LogStream;
use kiln_domain::caller::Caller;
use serde::Deserialize;
use serde_json::{Value, json};

use self::events::{Direction, Event, decode_token, encode_token};
use self::groups::{invalid, not_found, requested_group};
use self::read::{MAX_EVENTS, MAX_SCAN_BYTES, StoredLog};
use crate::api::{parse_input, store_failure};
use crate::service::Service;
use crate::state::AppState;

/// Runs one operation by its CloudWatch Logs name.
pub async fn dispatch(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    match operation {
        "GetLogEvents" => get_log_events(state, caller, input).await,
        "FilterLogEvents" => filter::filter_log_events(state, caller, input).await,
        "DescribeLogGroups" => groups::describe_groups(state, caller, input).await,
        "DescribeLogStreams" => groups::describe_streams(state, caller, input).await,
        other => Err(Service::Logs.unserved(other)),
    }
}

/// `EventsLimit`: 1 to 10,000, 10,000 when absent.
/// A request's `limit`: `max` when absent, else within `1..=max` (AWS's validation message
/// otherwise).
fn limit_within(limit: Option<i64>, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(max),
        Some(n) if n >= 1 && n as u64 <= max as u64 => Ok(n as usize),
        Some(n) => Err(invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"
        ))),
    }
}

/// The checks GetLogEvents and FilterLogEvents share, in AWS's order: the limit (returned), the
/// time range, and the group, which must be the caller's (returned).
fn events_scope(
    state: &AppState,
    caller: &Caller,
    limit: Option<i64>,
    (start, end): (Option<i64>, Option<i64>),
    group_name: Option<&str>,
    group_identifier: Option<&str>,
) -> Result<(usize, String), ApiError> {
    let limit = limit_within(limit, MAX_EVENTS)?;
    time_range(start, end)?;
    let group = requested_group(state, caller, group_name, group_identifier)?;
    Ok((limit, group))
}

/// Whether an event falls in `[startTime, endTime)`.
fn in_time(event: &Event, start: Option<i64>, end: Option<i64>) -> bool {
    start.is_none_or(|s| event.timestamp >= s) && end.is_none_or(|e| event.timestamp < e)
}

fn time_range(start: Option<i64>, end: Option<i64>) -> Result<(), ApiError> {
    if start.is_some_and(|s| s < 0) || end.is_some_and(|e| e < 0) {
        return Err(invalid(
            "1 validation error detected: startTime and endTime must be at least 0",
        ));
    }
    Ok(())
}

/// The build whose stream `stream` of `group` is: the stream's last segment is the build's
/// uuid.
async fn stream_build(
    state: &AppState,
    caller: &Caller,
    group: &str,
    stream: &str,
) -> Result<BuildRecord, ApiError> {
    let uuid = stream.rsplit('/').next().unwrap_or_default();
    let build = if uuid.is_empty() || uuid.len() > 64 {
        None
    } else {
        state
            .store
            .get_build(&caller.account_id, uuid)
            .await
            .map_err(store_failure)?
    };
    let wanted = LogStream {
        group: group.to_owned(),
        stream: stream.to_owned(),
    };
    match build {
        Some(build) if build.log_stream().as_ref() == Some(&wanted) => Ok(build),
        _ if groups::groups(state, caller).await?.contains_key(group) => Err(not_found("stream")),
        _ => Err(not_found("group")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

fn event_json(event: &Event) -> Value {
    json!({
        "timestamp": event.timestamp,
        "message": event.message,
        "ingestionTime": event.timestamp,
    })
}

/// Pages through one stream: forwards from a token (or the head), backwards from a token (or
/// the tail). At the end of the stored log `nextForwardToken` is the token passed in, so a
/// reader follows a running build by calling again with it.
async fn get_log_events(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: GetLogEventsInput = parse_input(input)?;
    let (limit, group) = events_scope(
        state,
        caller,
        input.limit,
        (input.start_time, input.end_time),
        input.log_group_name.as_deref(),
        input.log_group_identifier.as_deref(),
    )?;
    let stream = input
        .log_stream_name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid("1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null")
        })?;
    let build = stream_build(state, caller, &group, &stream).await?;
    let log = StoredLog::open(state.store.as_ref(), &build).await?;
    let (direction, offset) = match input.next_token.as_deref() {
        Some(token) => {
            let (direction, offset) = decode_token(token, &build.uuid)?;
            if offset > log.size {
                return Err(invalid("The specified nextToken is invalid."));
            }
            (direction, offset)
        }
        None if input.start_from_head == Some(true) => (Direction::Forward, 0),
        None => (Direction::Backward, log.size),
    };
    let (start, end) = (input.start_time, input.end_time);
    let keep = move |event: &Event| in_time(event, start, end);
    let (events, backward_from, forward_from) = match direction {
        Direction::Forward => {
            let scan = log.forward(offset, limit, MAX_SCAN_BYTES, &keep).await?;
            let first = scan.events.first().map_or(offset, |e| e.start);
            (scan.events, first, scan.end)
        }
        Direction::Backward => log.backward(offset, limit, &keep).await?,
    };
    Ok(json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "nextForwardToken": encode_token(Direction::Forward, &build.uuid, forward_from),
        "nextBackwardToken": encode_token(Direction::Backward, &build.uuid, backward_from),
    }))
}
