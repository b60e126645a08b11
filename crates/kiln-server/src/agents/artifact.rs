//! `PUT /agent/v1/builds/{uuid}/artifacts/{bucket}/{key…}`: an agent that cannot reach the
//! artifact store sends each object through the server, which streams it into its own store
//! (a multipart upload on S3 above the writer's buffer), never holding it whole. The object
//! is kept only when the body arrived whole and the agent still holds the build at the end
//! (docs/agents.md, "Artifacts through the server").

use std::sync::Arc;

use axum::body::Body;
use axum::http::HeaderMap;
use futures::StreamExt;
use kiln_domain::{ApiError, ErrorKind};
use kiln_store::AgentSession;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::call_error;
use crate::state::AppState;

/// The largest object an agent may send through the server (S3's single-object limit for a
/// PUT).
pub const MAX_ARTIFACT_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

fn too_large() -> ApiError {
    ApiError::new(
        ErrorKind::RequestEntityTooLarge,
        format!("an artifact object is at most {MAX_ARTIFACT_OBJECT_BYTES} bytes"),
    )
}

fn store_failed(err: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %err, "cannot write an agent's artifact to the artifact store");
    ApiError::internal()
}

/// Streams the body of the call into object `key` of `bucket`.
pub(super) async fn receive(
    state: &AppState,
    session: &AgentSession,
    uuid: &str,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    if super::announced_length(headers).is_some_and(|len| len > MAX_ARTIFACT_OBJECT_BYTES) {
        return Err(too_large());
    }
    let builds = &state.builds;
    builds
        .artifact_target(session, uuid, bucket, key)
        .await
        .map_err(call_error)?;
    let path = ObjectPath::parse(key).map_err(|e| ApiError::invalid_input(e.to_string()))?;
    let store = builds
        .artifact_store()
        .bucket(bucket)
        .map_err(|e| store_failed(&e))?;
    let mut writer = BufWriter::new(Arc::clone(&store), path);
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    while let Some(frame) = stream.next().await {
        let refused = match frame {
            Err(_) => Some(ApiError::invalid_input(
                "the artifact body broke off before its end; nothing was stored",
            )),
            Ok(bytes) => {
                received = received.saturating_add(bytes.len() as u64);
                if received > MAX_ARTIFACT_OBJECT_BYTES {
                    Some(too_large())
                } else if let Err(e) = writer.write_all(&bytes).await {
                    Some(store_failed(&e))
                } else {
                    None
                }
            }
        };
        if let Some(refused) = refused {
            // Best effort: parts of a multipart upload already sent are removed.
            let _ = writer.abort().await;
            return Err(refused);
        }
    }
    // A long upload may outlast the agent's lease: the object is kept only if the build is
    // still the agent's.
    if let Err(e) = builds.artifact_target(session, uuid, bucket, key).await {
        let _ = writer.abort().await;
        return Err(call_error(e));
    }
    writer.shutdown().await.map_err(|e| store_failed(&e))?;
    tracing::debug!(build = %uuid, bucket, key, bytes = received, "artifact stored for an agent");
    Ok(serde_json::json!({}))
}
