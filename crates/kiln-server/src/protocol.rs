//! The wire protocol seam. Operations see only an operation name and a JSON document; a
//! protocol turns HTTP into that and back. AWS JSON 1.1 is the one in use; Smithy RPC v2 CBOR
//! can be added as a second implementation without touching the operations.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kiln_domain::{ApiError, ErrorKind};
use serde_json::Value;

use crate::service::Service;

/// A decoded API call.
#[derive(Debug)]
pub struct Call {
    pub service: Service,
    pub operation: String,
    pub input: Value,
}

pub trait WireProtocol: Send + Sync {
    /// The service a request is for, from its headers alone (the signature is checked for that
    /// service before the body is decoded).
    fn service(&self, headers: &HeaderMap) -> Option<Service>;
    /// Turns the request's headers and raw body into a call.
    fn decode(&self, headers: &HeaderMap, body: &[u8]) -> Result<Call, ApiError>;
    /// Renders a result, with the request id every response carries.
    fn encode(&self, result: Result<Value, ApiError>, request_id: &str) -> Response;
}

/// AWS JSON 1.1: `X-Amz-Target: <service prefix>.<Operation>`, JSON body.
pub struct AwsJson11;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

fn target(headers: &HeaderMap) -> &str {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

impl WireProtocol for AwsJson11 {
    fn service(&self, headers: &HeaderMap) -> Option<Service> {
        Service::of_target(target(headers)).map(|(service, _)| service)
    }

    fn decode(&self, headers: &HeaderMap, body: &[u8]) -> Result<Call, ApiError> {
        let target = target(headers);
        let Some((service, operation)) = Service::of_target(target) else {
            return Err(ApiError::new(
                ErrorKind::UnknownOperation,
                if target.is_empty() {
                    "Missing X-Amz-Target header".to_string()
                } else {
                    format!("Unknown target: {}", truncate(target, 128))
                },
            ));
        };
        let input = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    ErrorKind::Serialization,
                    format!("Request body is not valid JSON: {e}"),
                )
            })?
        };
        if !input.is_object() {
            return Err(ApiError::new(
                ErrorKind::Serialization,
                "Request body must be a JSON object",
            ));
        }
        Ok(Call {
            service,
            operation: operation.to_string(),
            input,
        })
    }

    fn encode(&self, result: Result<Value, ApiError>, request_id: &str) -> Response {
        let (status, body) = match result {
            Ok(value) => (StatusCode::OK, value),
            Err(err) => error_status_and_body(&err),
        };
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        response
    }
}

/// The HTTP status and `{"__type","message"}` body of an error, for every JSON answer (the
/// API's and the agent protocol's).
pub(crate) fn error_status_and_body(err: &ApiError) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(err.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
        serde_json::json!({"__type": err.kind.type_name(), "message": err.message}),
    )
}

pub(crate) fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(target: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", HeaderValue::from_str(target).unwrap());
        h
    }

    #[test]
    fn decodes_target_and_body() {
        let call = AwsJson11
            .decode(&headers("CodeBuild_20161006.ListProjects"), b"{\"a\":1}")
            .unwrap();
        assert_eq!(call.service, Service::CodeBuild);
        assert_eq!(call.operation, "ListProjects");
        assert_eq!(call.input["a"], 1);
        let empty = AwsJson11
            .decode(&headers("CodeBuild_20161006.X"), b"")
            .unwrap();
        assert!(empty.input.is_object());
    }

    #[test]
    fn rejects_bad_target_and_body() {
        let err = AwsJson11
            .decode(&headers("Other.ListProjects"), b"{}")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownOperation);
        let err = AwsJson11
            .decode(&headers("CodeBuild_20161006.ListProjects"), b"{nope")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Serialization);
        let err = AwsJson11
            .decode(&headers("CodeBuild_20161006.ListProjects"), b"[1]")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Serialization);
    }
}
