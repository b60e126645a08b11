//! Build logs over HTTP: `GET /builds/<uuid>/log[?offset=N]`, for the build's own account only
//! (SigV4-signed, e.g. `curl --aws-sigv4 "aws:amz:<region>:codebuild"`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kiln_domain::ApiError;
use kiln_store::{MAX_LOG_CHUNK_BYTES, Store, StoreError};

use crate::protocol::{AwsJson11, WireProtocol};
use crate::service::Service;
use crate::state::AppState;

/// Parses `offset=N` out of the query string.
fn offset_of(raw: Option<&str>) -> Result<u64, String> {
    let mut offset = 0;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if key == "offset" {
            offset = value
                .parse()
                .map_err(|_| "offset must be a non-negative integer".to_string())?;
        }
    }
    Ok(offset)
}

/// Streams the log of one of the account's builds from `offset`. The response says how large
/// the log was and whether the build has completed, so a reader knows when to stop following.
pub async fn read_log(
    state: &AppState,
    account_id: &str,
    uuid: &str,
    offset: u64,
) -> Result<Response, (StatusCode, String)> {
    let build = state
        .store
        .get_build(account_id, uuid)
        .await
        .map_err(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "store failure".to_string(),
            )
        })?
        .ok_or((StatusCode::NOT_FOUND, "no such build".to_string()))?;
    // Only what was stored when the request came in, so `size` is the next offset.
    let size = state.store.log_size(&build.uuid).await.map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "log unreadable".to_string(),
        )
    })?;
    let body = Body::from_stream(stored_log(
        Arc::clone(&state.store),
        build.uuid.clone(),
        offset.min(size),
        size,
    ));
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
        h.insert("x-kiln-log-size", v);
    }
    h.insert(
        "x-kiln-build-complete",
        HeaderValue::from_static(if build.is_complete() { "true" } else { "false" }),
    );
    Ok(response)
}

/// Bytes `start..end` of a build's stored log, read a piece at a time.
pub fn stored_log(
    store: Arc<dyn Store>,
    uuid: String,
    start: u64,
    end: u64,
) -> impl futures::Stream<Item = Result<Vec<u8>, StoreError>> {
    futures::stream::try_unfold(start, move |position| {
        let store = Arc::clone(&store);
        let uuid = uuid.clone();
        async move {
            let wanted = usize::try_from(end.saturating_sub(position))
                .unwrap_or(usize::MAX)
                .min(MAX_LOG_CHUNK_BYTES);
            if wanted == 0 {
                return Ok(None);
            }
            let bytes = store.read_log(&uuid, position, wanted).await?;
            // Nothing where something was: the build was deleted meanwhile.
            if bytes.is_empty() {
                return Ok(None);
            }
            let next = position + bytes.len() as u64;
            Ok(Some((bytes, next)))
        }
    })
}

pub async fn log_handler(
    State(state): State<Arc<AppState>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let caller = match crate::auth::authenticate(
        &state.keys,
        Service::CodeBuild,
        &method,
        &uri,
        &headers,
        b"",
    ) {
        Ok(c) => c,
        Err(err) => return auth_failure(err),
    };
    let offset = match offset_of(raw.as_deref()) {
        Ok(o) => o,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    match read_log(&state, &caller.account_id, &uuid, offset).await {
        Ok(response) => response,
        Err((status, message)) => (status, message).into_response(),
    }
}

fn auth_failure(err: ApiError) -> Response {
    let mut response = AwsJson11.encode(Err(err), &uuid::Uuid::new_v4().to_string());
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets() {
        assert_eq!(super::offset_of(None), Ok(0));
        assert_eq!(super::offset_of(Some("offset=12")), Ok(12));
        assert!(super::offset_of(Some("offset=-1")).is_err());
    }
}
