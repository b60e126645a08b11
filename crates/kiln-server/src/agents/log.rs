//! `POST /agent/v1/builds/{uuid}/log?offset=N`: the agent streams its log spool from byte N
//! (a body of any length, usually chunked). The server appends it block by block as it
//! arrives, each block through the scheduler's checks (the agent holds the build, no gap, the
//! log's limit), so the agent's sending and the server's writing overlap instead of taking
//! turns. What arrived before a broken body stays stored: the agent resends from the size it
//! last heard, and bytes already stored are skipped (docs/agents.md, "Progress, logs and
//! reports").

use axum::body::Body;
use axum::http::HeaderMap;
use bytes::BytesMut;
use futures::StreamExt;
use kiln_domain::agent::LogStored;
use kiln_domain::{ApiError, ErrorKind};
use kiln_store::AgentSession;
use serde_json::Value;

use super::{call_error, to_json};
use crate::state::AppState;

/// How much of the body is appended at once: each block is one lease check and a few store
/// pieces, and meanwhile the next block is on its way.
const BLOCK_BYTES: usize = 4 * 1024 * 1024;
const _: () = assert!(BLOCK_BYTES <= kiln_domain::agent::MAX_LOG_CHUNK_BYTES);

/// Appends the body, the log's bytes from `offset`, and answers how many bytes are stored.
pub(super) async fn receive(
    state: &AppState,
    session: &AgentSession,
    uuid: &str,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    let builds = &state.builds;
    // A body is never longer than a whole log: announced or counted, one that would end past
    // the log's limit is refused (announced: before any of it is read).
    let most = builds.max_agent_log_end();
    let too_large = || {
        ApiError::new(
            ErrorKind::RequestEntityTooLarge,
            format!("a build log ends at byte {most} at most (max_log_bytes)"),
        )
    };
    if super::announced_length(headers).is_some_and(|len| offset.saturating_add(len) > most) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut block = BytesMut::new();
    // Where `block` starts in the log.
    let mut position = offset;
    let mut stored = None;
    loop {
        let ended = match stream.next().await {
            None => true,
            Some(Err(_)) => {
                // The bytes that did arrive are the log's own, in order: kept, so that the
                // agent's next request resends less.
                if !block.is_empty() {
                    builds
                        .append_agent_log(session, uuid, position, &block)
                        .await
                        .map_err(call_error)?;
                }
                return Err(ApiError::invalid_input(
                    "the log body broke off; the bytes before the break are stored",
                ));
            }
            Some(Ok(bytes)) => {
                let end = position
                    .saturating_add(block.len() as u64)
                    .saturating_add(bytes.len() as u64);
                if end > most {
                    return Err(too_large());
                }
                block.extend_from_slice(&bytes);
                false
            }
        };
        while block.len() >= BLOCK_BYTES || (ended && !block.is_empty()) {
            let piece = block.split_to(block.len().min(BLOCK_BYTES));
            let size = builds
                .append_agent_log(session, uuid, position, &piece)
                .await
                .map_err(call_error)?;
            position += piece.len() as u64;
            stored = Some(size);
        }
        if ended {
            break;
        }
    }
    let size = match stored {
        Some(size) => size,
        // An empty body: the checks alone, and the size stored.
        None => builds
            .append_agent_log(session, uuid, offset, &[])
            .await
            .map_err(call_error)?,
    };
    to_json(&LogStored { size })
}
