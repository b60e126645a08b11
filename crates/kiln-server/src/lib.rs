//! Kiln's HTTP server: the CodeBuild API (`POST /`), health, and later badges, console and
//! webhooks.

pub mod agents;
pub mod api;
pub mod auth;
pub mod badges;
pub mod console;
pub mod cwlogs;
pub mod fleets;
pub mod logs;
pub mod metrics;
pub mod protocol;
pub mod service;
pub mod state;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use kiln_domain::{ApiError, ErrorKind};

use crate::protocol::{AwsJson11, WireProtocol};
use crate::service::Service;
use crate::state::AppState;

/// Largest API request body accepted.
pub const MAX_API_BODY: usize = 4 * 1024 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", post(api_handler))
        .route("/healthz", get(healthz))
        .route("/badges", get(badges::badge_handler))
        .route("/builds/{uuid}/log", get(logs::log_handler))
        .route("/webhooks", post(webhooks::webhook_handler))
        .route("/agent/v1/{*call}", any(agents::agent_handler))
        .merge(console::routes())
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn api_handler(State(state): State<Arc<AppState>>, request: Request<Body>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let protocol = AwsJson11;
    let started = std::time::Instant::now();
    let (parts, body) = request.into_parts();
    let service = protocol.service(&parts.headers);
    let result = handle_api(
        &state,
        &protocol,
        &parts.method,
        &parts.uri,
        &parts.headers,
        body,
    )
    .await;
    if let Err(err) = &result {
        tracing::info!(request_id, error = err.kind.type_name(), "API call refused");
    }
    let operation = service
        .zip(parts.headers.get("x-amz-target"))
        .and_then(|(service, target)| target.to_str().ok()?.strip_prefix(service.target_prefix()))
        .unwrap_or_default();
    state.metrics.api_call(
        service,
        operation,
        result.as_ref().err().map(|e| e.kind),
        started.elapsed().as_secs_f64(),
    );
    protocol.encode(result, &request_id)
}

async fn handle_api(
    state: &AppState,
    protocol: &dyn WireProtocol,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
    // The body is hashed for the signature, so it is read whole, but never beyond the limit.
    let body = axum::body::to_bytes(body, MAX_API_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorKind::RequestEntityTooLarge,
                format!("Request body exceeds the limit of {MAX_API_BODY} bytes"),
            )
        })?;
    // A target no service has is refused after the signature check, as CodeBuild's.
    let service = protocol.service(headers).unwrap_or(Service::CodeBuild);
    let caller = auth::authenticate(&state.keys, service, method, uri, headers, &body)?;
    let call = protocol.decode(headers, &body)?;
    tracing::debug!(service = ?call.service, operation = %call.operation, account = %caller.account_id, "API call");
    match call.service {
        Service::CodeBuild => api::dispatch(state, &caller, &call.operation, call.input).await,
        Service::Logs => cwlogs::dispatch(state, &caller, &call.operation, call.input).await,
        Service::Ssm => api::ssm::dispatch(state, &caller, &call.operation, call.input).await,
        Service::SecretsManager => {
            api::secrets_manager::dispatch(state, &caller, &call.operation, call.input).await
        }
    }
}
