//! `FilterLogEvents`: the events of a group's streams (oldest build first) that hold every
//! term of the filter pattern, a page at a time; `nextToken` names the stream and the offset
//! where the next page goes on.

use kiln_domain::ApiError;
use kiln_domain::caller::Caller;
use serde::Deserialize;
use serde_json::{Value, json};

use super::events::{Event, parse_terms};
use super::groups::{self, invalid};
use super::read::{MAX_SCAN_BYTES, StoredLog};
use super::{events_scope, in_time};
use crate::api::{paging, parse_input};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

pub async fn filter_log_events(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: FilterLogEventsInput = parse_input(input)?;
    let (limit, group) = events_scope(
        state,
        caller,
        input.limit,
        (input.start_time, input.end_time),
        input.log_group_name.as_deref(),
        input.log_group_identifier.as_deref(),
    )?;
    if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
        return Err(invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    if let Some(names) = &input.log_stream_names
        && !(1..=100).contains(&names.len())
    {
        return Err(invalid(
            "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length between 1 and 100",
        ));
    }
    let pattern = input.filter_pattern.unwrap_or_default();
    if pattern.len() > 1024 {
        return Err(invalid(
            "1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024",
        ));
    }
    let terms = parse_terms(&pattern)?;
    let listing = format!("filter:{group}");
    let resume: Option<(String, u64)> =
        paging::decode(&listing, input.next_token.as_deref()).map_err(|e| invalid(e.message))?;
    let (start, end) = (input.start_time, input.end_time);
    let prefix = input.log_stream_name_prefix.unwrap_or_default();
    let mut streams: Vec<groups::Stream> = groups::streams(state, caller, &group)
        .await?
        .into_iter()
        .rev()
        .filter(|s| s.name.starts_with(&prefix))
        .filter(|s| {
            input
                .log_stream_names
                .as_ref()
                .is_none_or(|names| names.contains(&s.name))
        })
        .filter(|s| end.is_none_or(|end| end > (s.build.start_time * 1000.0) as i64))
        .collect();
    let mut offset = 0;
    if let Some((uuid, at)) = resume {
        let position = streams
            .iter()
            .position(|s| s.build.uuid == uuid)
            .ok_or_else(|| invalid("The specified nextToken is invalid."))?;
        streams.drain(..position);
        offset = at;
    }
    let keep = |event: &Event| {
        in_time(event, start, end) && terms.iter().all(|t| event.message.contains(t.as_str()))
    };
    let mut events = Vec::new();
    let mut searched = Vec::new();
    let mut budget = MAX_SCAN_BYTES;
    let mut next = None;
    for stream in &streams {
        if events.len() >= limit || budget == 0 {
            next = Some((stream.build.uuid.clone(), offset));
            break;
        }
        let log = StoredLog::open(state.store.as_ref(), &stream.build).await?;
        let from = offset.min(log.size);
        let scan = log
            .forward(from, limit - events.len(), budget, &keep)
            .await?;
        budget = budget.saturating_sub(scan.end.saturating_sub(from).max(1));
        events.extend(scan.events.into_iter().map(|event| {
            json!({
                "logStreamName": stream.name,
                "timestamp": event.timestamp,
                "message": event.message,
                "ingestionTime": event.timestamp,
                "eventId": format!("{}-{}", stream.build.uuid, event.start),
            })
        }));
        if !scan.reached_end {
            next = Some((stream.build.uuid.clone(), scan.end));
            break;
        }
        searched.push(json!({"logStreamName": stream.name, "searchedCompletely": true}));
        offset = 0;
    }
    let mut out = json!({ "events": events, "searchedLogStreams": searched });
    paging::set_next(&mut out, "nextToken", &listing, next.as_ref());
    Ok(out)
}
