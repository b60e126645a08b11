//! The agent protocol: `kiln agent` processes connect out to any replica, under
//! [`AGENT_PATH`], with a bearer token bound to one fleet. One handler parses each request
//! into an [`AgentEndpoint`] once, authenticates it, reads its body within the endpoint's
//! limit (an artifact's body is streamed to the artifact store instead), runs the call and
//! answers JSON (errors as `{"__type","message"}` from the one
//! catalogue). Everything an agent may change goes through the scheduler's lease checks
//! (`kiln_scheduler::agents`). See `docs/agents.md`.

mod artifact;
mod endpoint;
mod register;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use kiln_domain::agent::{
    AGENT_PATH, BuildProgress, ClaimAsk, LogStored, MAX_AGENT_BODY_BYTES, MAX_LOG_CHUNK_BYTES,
    RunningBuilds, SESSION_HEADER, SecretsAsk, log_chunk,
};
use kiln_domain::{ApiError, ErrorKind};
use kiln_runner::build::CollectedReport;
use kiln_scheduler::AgentCallError;
use kiln_store::{AgentSession, AgentToken};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use artifact::MAX_ARTIFACT_OBJECT_BYTES;
pub use endpoint::{AgentEndpoint, MAX_ARTIFACT_KEY_BYTES};

use crate::state::AppState;

/// How long a claim or a watch waits before it answers with nothing.
pub const POLL: Duration = Duration::from_secs(20);
/// The body limit of a build's reports (their cases and files, already parsed by the agent).
const MAX_REPORTS_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Every agent call.
pub async fn agent_handler(State(state): State<Arc<AppState>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path()
        .strip_prefix(AGENT_PATH)
        .unwrap_or_default();
    let result = match AgentEndpoint::parse(&parts.method, path, parts.uri.query()) {
        Ok(endpoint) => handle(&state, &endpoint, &parts.headers, body).await,
        Err(why) => Err(ApiError::invalid_input(why)),
    };
    if let Err(err) = &result {
        tracing::info!(
            path = %crate::protocol::truncate(parts.uri.path(), 128),
            error = err.kind.type_name(),
            message = %err.message,
            "agent call refused"
        );
    }
    encode(result)
}

fn encode(result: Result<Value, ApiError>) -> Response {
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(err) => crate::protocol::error_status_and_body(&err),
    };
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

async fn handle(
    state: &AppState,
    endpoint: &AgentEndpoint,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    let token = authenticate(state, headers).await?;
    // An artifact is streamed to the store, never read whole.
    if let AgentEndpoint::Artifact { uuid, bucket, key } = endpoint {
        let session = session(state, &token, headers).await?;
        return artifact::receive(state, &session, uuid, bucket, key, headers, body).await;
    }
    let limit = match endpoint {
        AgentEndpoint::Log { .. } => MAX_LOG_CHUNK_BYTES,
        AgentEndpoint::Reports { .. } => MAX_REPORTS_BODY_BYTES,
        _ => MAX_AGENT_BODY_BYTES,
    };
    let too_large = || {
        ApiError::new(
            ErrorKind::RequestEntityTooLarge,
            format!("the body exceeds the limit of {limit} bytes"),
        )
    };
    // Refused before any of it is read: a client that waits for `100 Continue` sends nothing.
    if announced_length(headers).is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    if !endpoint.needs_session() {
        return register::register(state, &token, &body).await;
    }
    let session = session(state, &token, headers).await?;
    let builds = &state.builds;
    match endpoint {
        AgentEndpoint::Register => register::register(state, &token, &body).await,
        AgentEndpoint::Deregister => {
            let removed = state
                .store
                .remove_agent(&session.session)
                .await
                .map_err(crate::api::store_failure)?;
            Ok(serde_json::json!({ "removed": removed }))
        }
        AgentEndpoint::Heartbeat => {
            let running: RunningBuilds = parse(&body)?;
            match builds.agent_heartbeat(&session, &running.builds).await {
                Ok(Some(orders)) => to_json(&orders),
                Ok(None) => Err(session_gone()),
                Err(e) => Err(crate::api::store_failure(e)),
            }
        }
        AgentEndpoint::Claim => {
            let ask: ClaimAsk = parse(&body)?;
            if ask.free_slots == 0 {
                return Ok(serde_json::json!({ "builds": [] }));
            }
            let assigned = builds
                .claim_for_agent(&session, POLL)
                .await
                .map_err(crate::api::store_failure)?;
            Ok(serde_json::json!({ "builds": assigned }))
        }
        AgentEndpoint::Watch => {
            let running: RunningBuilds = parse(&body)?;
            let orders = builds
                .agent_watch(&session, &running.builds, POLL)
                .await
                .map_err(crate::api::store_failure)?;
            to_json(&orders)
        }
        AgentEndpoint::Progress { uuid } => {
            let progress: BuildProgress = parse(&body)?;
            builds
                .save_agent_progress(&session, uuid, progress)
                .await
                .map_err(call_error)?;
            Ok(serde_json::json!({}))
        }
        AgentEndpoint::Log { uuid, offset } => {
            let chunk = raw_log_chunk(headers, body).await?;
            let size = builds
                .append_agent_log(&session, uuid, *offset, &chunk)
                .await
                .map_err(call_error)?;
            to_json(&LogStored { size })
        }
        AgentEndpoint::Reports { uuid } => {
            let reports: Vec<CollectedReport> = parse(&body)?;
            let saved = builds
                .save_agent_reports(&session, uuid, reports)
                .await
                .map_err(call_error)?;
            to_json(&saved)
        }
        AgentEndpoint::Secrets { uuid } => {
            let ask: SecretsAsk = parse(&body)?;
            let resolved = builds
                .resolve_agent_secrets(&session, uuid, &ask.references)
                .await
                .map_err(call_error)?;
            to_json(&resolved)
        }
        AgentEndpoint::Artifact { .. } => Err(ApiError::internal()),
    }
}

/// The raw bytes of a log chunk, decoded as its `Content-Encoding` says (docs/agents.md).
async fn raw_log_chunk(headers: &HeaderMap, body: Bytes) -> Result<Bytes, ApiError> {
    match headers.get("content-encoding").map(HeaderValue::as_bytes) {
        None | Some(b"identity") => Ok(body),
        Some(encoding) if encoding == log_chunk::LZ4_BLOCK.as_bytes() => {
            // Up to 8 MiB of output: off the async workers.
            tokio::task::spawn_blocking(move || log_chunk::decompress(&body))
                .await
                .map_err(|_| ApiError::internal())?
                .map(Bytes::from)
                .map_err(ApiError::invalid_input)
        }
        Some(_) => Err(ApiError::invalid_input(format!(
            "a log chunk is raw or Content-Encoding: {}",
            log_chunk::LZ4_BLOCK
        ))),
    }
}

/// The token of `Authorization: Bearer …`, if it is a token Kiln issued and did not revoke.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AgentToken, ApiError> {
    let unauthorized = |why: &str| ApiError::new(ErrorKind::AgentUnauthorized, why);
    let secret = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("an agent call needs Authorization: Bearer <agent token>"))?;
    let token = state
        .store
        .agent_token_by_hash(&token_hash(secret))
        .await
        .map_err(crate::api::store_failure)?
        .ok_or_else(|| unauthorized("the agent token is not one this Kiln issued"))?;
    if token.revoked.is_some() {
        return Err(unauthorized(&format!(
            "the agent token {} was revoked",
            token.id
        )));
    }
    Ok(token)
}

/// The SHA-256 (hex) an agent token is stored as.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The session the call names, which must belong to the caller's token.
async fn session(
    state: &AppState,
    token: &AgentToken,
    headers: &HeaderMap,
) -> Result<AgentSession, ApiError> {
    let id = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(session_gone)?;
    match state
        .store
        .agent_session(id)
        .await
        .map_err(crate::api::store_failure)?
    {
        Some(session) if session.token_id == token.id => Ok(session),
        _ => Err(session_gone()),
    }
}

fn session_gone() -> ApiError {
    ApiError::new(
        ErrorKind::AgentSessionGone,
        "the agent session is unknown or was replaced: register again",
    )
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        ApiError::new(
            ErrorKind::Serialization,
            format!(
                "invalid body at '{}': {}",
                crate::protocol::truncate(&err.path().to_string(), 128),
                err.inner()
            ),
        )
    })
}

fn to_json(value: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

fn call_error(err: AgentCallError) -> ApiError {
    match err {
        AgentCallError::NotHeld(_) => ApiError::new(ErrorKind::BuildNotHeld, err.to_string()),
        AgentCallError::Invalid(why) => ApiError::invalid_input(why),
        AgentCallError::LogGap { .. } => ApiError::new(ErrorKind::LogGap, err.to_string()),
        AgentCallError::Store(e) => crate::api::store_failure(e),
    }
}

/// The body's length as the request's `Content-Length` announces it.
pub(super) fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}
