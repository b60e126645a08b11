//! `POST /register`: an agent starts a session with its token.

use kiln_domain::agent::{Registered, Registration, check_registration, log_chunk};
use kiln_domain::clock::now_epoch;
use kiln_domain::fleet::check_agent_platform;
use kiln_domain::{ApiError, ErrorKind};
use kiln_store::{AgentSession, AgentToken, StoreError};
use serde_json::Value;

use super::{POLL, parse, to_json};
use crate::state::AppState;

pub(super) async fn register(
    state: &AppState,
    token: &AgentToken,
    body: &[u8],
) -> Result<Value, ApiError> {
    let registration: Registration = parse(body)?;
    check_registration(&registration).map_err(ApiError::invalid_input)?;
    if let Some(fleet) = &registration.fleet
        && *fleet != token.fleet_name
        && *fleet != token.fleet_arn
    {
        return Err(ApiError::invalid_input(format!(
            "this agent token is for fleet {}, not {}",
            token.fleet_name,
            crate::protocol::truncate(fleet, 128)
        )));
    }
    let fleet = state
        .store
        .fleet(&token.account_id, &token.fleet_arn)
        .await
        .map_err(crate::api::store_failure)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::AgentUnauthorized,
                format!(
                    "the fleet {} of this agent token was deleted",
                    token.fleet_name
                ),
            )
        })?;
    check_agent_platform(&fleet.settings, &registration).map_err(ApiError::invalid_input)?;
    let now = now_epoch();
    let session = AgentSession {
        session: uuid::Uuid::new_v4().simple().to_string(),
        token_id: token.id.clone(),
        account_id: token.account_id.clone(),
        fleet_arn: token.fleet_arn.clone(),
        name: registration.name,
        version: registration.version,
        os: registration.os,
        arch: registration.arch,
        executor: registration.executor,
        capacity: i64::from(registration.capacity),
        labels: registration.labels,
        registered: now,
        last_heartbeat: now,
    };
    let builds = &state.builds;
    let live_since = now - builds.agent_silence().as_secs_f64();
    match state.store.register_agent(&session, live_since).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(ApiError::new(
                ErrorKind::ResourceAlreadyExists,
                format!(
                    "an agent named {} is already connected to fleet {} with another token",
                    session.name, token.fleet_name
                ),
            ));
        }
        Err(e) => return Err(crate::api::store_failure(e)),
    }
    tracing::info!(agent = %session.name, fleet = %token.fleet_name, capacity = session.capacity, "agent registered");
    to_json(&Registered {
        session: session.session,
        fleet_arn: token.fleet_arn.clone(),
        fleet_name: token.fleet_name.clone(),
        heartbeat_seconds: builds.lease().as_secs_f64() / 3.0,
        poll_seconds: POLL.as_secs_f64(),
        region: builds.region().to_owned(),
        minute_seconds: builds.minute().as_secs_f64(),
        max_log_bytes: builds.max_log_bytes(),
        log_encodings: vec![log_chunk::LZ4_BLOCK.to_owned()],
    })
}
