//! An agent request, parsed once from its method, path and query into the call it makes.

use axum::http::Method;

/// One call of the agent protocol (paths below `kiln_domain::agent::AGENT_PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEndpoint {
    /// `POST /register`: the token alone; answers with a session.
    Register,
    /// `DELETE /session`: the agent stops.
    Deregister,
    /// `POST /heartbeat`.
    Heartbeat,
    /// `POST /claim`: long poll for builds.
    Claim,
    /// `POST /watch`: long poll until a listed build must stop.
    Watch,
    /// `POST /builds/{uuid}/progress`.
    Progress { uuid: String },
    /// `POST /builds/{uuid}/log?offset=N`: a raw chunk of the log.
    Log { uuid: String, offset: u64 },
    /// `POST /builds/{uuid}/reports`.
    Reports { uuid: String },
    /// `POST /builds/{uuid}/secrets`: the values of the build's secret references.
    Secrets { uuid: String },
    /// `PUT /builds/{uuid}/artifacts/{bucket}/{key…}`: one object of the build's artifacts or
    /// report exports, its body streamed to the server's artifact store. The bucket is a
    /// valid bucket name and the key a valid object path (both percent-decoded).
    Artifact {
        uuid: String,
        bucket: String,
        key: String,
    },
}

/// Longest object key (S3's limit).
pub const MAX_ARTIFACT_KEY_BYTES: usize = 1024;

impl AgentEndpoint {
    /// The endpoint `method` and `path` (below the agent prefix) with `query` name, or why
    /// none does.
    pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Result<Self, String> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let endpoint = match (method, segments.as_slice()) {
            (&Method::POST, ["register"]) => AgentEndpoint::Register,
            (&Method::DELETE, ["session"]) => AgentEndpoint::Deregister,
            (&Method::POST, ["heartbeat"]) => AgentEndpoint::Heartbeat,
            (&Method::POST, ["claim"]) => AgentEndpoint::Claim,
            (&Method::POST, ["watch"]) => AgentEndpoint::Watch,
            (&Method::POST, ["builds", uuid, call]) => {
                let uuid = build_uuid(uuid)?;
                match *call {
                    "progress" => AgentEndpoint::Progress { uuid },
                    "reports" => AgentEndpoint::Reports { uuid },
                    "secrets" => AgentEndpoint::Secrets { uuid },
                    "log" => AgentEndpoint::Log {
                        uuid,
                        offset: log_offset(query)?,
                    },
                    _ => return Err(unknown(method, path)),
                }
            }
            (&Method::PUT, ["builds", uuid, "artifacts", bucket, key @ ..]) if !key.is_empty() => {
                AgentEndpoint::Artifact {
                    uuid: build_uuid(uuid)?,
                    bucket: artifact_bucket(bucket)?,
                    key: artifact_key(key)?,
                }
            }
            _ => return Err(unknown(method, path)),
        };
        Ok(endpoint)
    }

    /// Whether the call needs the session header (all but registration).
    pub fn needs_session(&self) -> bool {
        *self != AgentEndpoint::Register
    }
}

fn unknown(method: &Method, path: &str) -> String {
    let path: String = path.chars().take(128).collect();
    format!("no agent call {method} {path}")
}

/// A build uuid as Kiln makes them: 36 characters of hex digits and dashes.
fn build_uuid(text: &str) -> Result<String, String> {
    if text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        Ok(text.to_owned())
    } else {
        Err("the build id is not a build uuid".to_owned())
    }
}

/// A percent-decoded path segment, which must be UTF-8.
fn decoded(segment: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| "the artifact path is not UTF-8".to_owned())
}

fn artifact_bucket(segment: &str) -> Result<String, String> {
    let bucket = decoded(segment)?;
    kiln_runner::artifacts::validate_bucket(&bucket).map_err(|e| e.to_string())?;
    Ok(bucket)
}

/// The object key of the path's last segments: each decoded on its own (an encoded `/` stays
/// inside its segment and is refused), no empty, `.` or `..` segment, no control character,
/// at most [`MAX_ARTIFACT_KEY_BYTES`].
fn artifact_key(segments: &[&str]) -> Result<String, String> {
    let invalid = || "the artifact key is not a valid object key".to_owned();
    let mut parts = Vec::with_capacity(segments.len());
    for segment in segments {
        let part = decoded(segment)?;
        if part.is_empty() || part == "." || part == ".." || part.contains('/') {
            return Err(invalid());
        }
        if part.chars().any(char::is_control) {
            return Err(invalid());
        }
        parts.push(part);
    }
    let key = parts.join("/");
    if key.len() > MAX_ARTIFACT_KEY_BYTES {
        return Err(format!(
            "the artifact key is longer than {MAX_ARTIFACT_KEY_BYTES} bytes"
        ));
    }
    match object_store::path::Path::parse(&key) {
        Ok(path) if path.as_ref() == key => Ok(key),
        _ => Err(invalid()),
    }
}

fn log_offset(query: Option<&str>) -> Result<u64, String> {
    let mut offset = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "offset" {
            if offset.is_some() {
                return Err("offset is given twice".to_owned());
            }
            offset = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| "offset must be a byte offset")?,
            );
        }
    }
    offset.ok_or_else(|| "a log chunk needs ?offset=".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "5b2a7c0e-0000-4000-8000-000000000001";

    #[test]
    fn calls_parse_once_and_everything_else_is_refused() {
        let post = Method::POST;
        assert_eq!(
            AgentEndpoint::parse(&post, "/register", None),
            Ok(AgentEndpoint::Register)
        );
        assert_eq!(
            AgentEndpoint::parse(&post, &format!("/builds/{UUID}/log"), Some("offset=42")),
            Ok(AgentEndpoint::Log {
                uuid: UUID.into(),
                offset: 42
            })
        );
        assert_eq!(
            AgentEndpoint::parse(&Method::DELETE, "/session", None),
            Ok(AgentEndpoint::Deregister)
        );
        for (method, path, query) in [
            (&post, "/builds/../../etc/log", None),
            (&post, &format!("/builds/{UUID}/log") as &str, None),
            (&post, &format!("/builds/{UUID}/log"), Some("offset=-1")),
            (
                &post,
                &format!("/builds/{UUID}/log"),
                Some("offset=1&offset=2"),
            ),
            (&post, &format!("/builds/{UUID}/delete"), None),
            (&Method::GET, "/claim", None),
            (&post, "/", None),
        ] {
            assert!(AgentEndpoint::parse(method, path, query).is_err(), "{path}");
        }
    }

    fn artifact(path: &str) -> Result<AgentEndpoint, String> {
        AgentEndpoint::parse(
            &Method::PUT,
            &format!("/builds/{UUID}/artifacts{path}"),
            None,
        )
    }

    #[test]
    fn an_artifact_path_names_a_bucket_and_a_decoded_key() {
        assert_eq!(
            artifact("/my-bucket/out/app%20v1/%23notes.txt"),
            Ok(AgentEndpoint::Artifact {
                uuid: UUID.into(),
                bucket: "my-bucket".into(),
                key: "out/app v1/#notes.txt".into(),
            })
        );
        assert_eq!(
            artifact("/my-bucket/%C3%A9t%C3%A9.zip"),
            Ok(AgentEndpoint::Artifact {
                uuid: UUID.into(),
                bucket: "my-bucket".into(),
                key: "été.zip".into(),
            })
        );
        let longest = "k".repeat(MAX_ARTIFACT_KEY_BYTES);
        assert!(artifact(&format!("/my-bucket/{longest}")).is_ok());
    }

    #[test]
    fn hostile_artifact_paths_are_refused() {
        let too_long = format!("/my-bucket/{}", "k".repeat(MAX_ARTIFACT_KEY_BYTES + 1));
        for path in [
            "/my-bucket",
            "/my-bucket/",
            "/my-bucket/a//b",
            "/my-bucket/a/",
            "/my-bucket/../etc/passwd",
            "/my-bucket/a/%2E%2E/b",
            "/my-bucket/a/./b",
            "/my-bucket/a%2Fb",
            "/my-bucket/%2F",
            "/my-bucket/a%00b",
            "/my-bucket/a%0Ab",
            "/my-bucket/a%7Fb",
            "/my-bucket/%FF%FE",
            "/my-bucket/%C2%85",
            "/..",
            "/../k",
            "/%2E%2E/k",
            "/My-Bucket/k",
            "/my_bucket/k",
            "/ab/k",
            "/my-bucket%2Fother/k",
            "/192.168..1/k",
            &too_long,
        ] {
            assert!(artifact(path).is_err(), "{path}");
        }
        for (method, path) in [
            (
                Method::POST,
                format!("/builds/{UUID}/artifacts/my-bucket/k"),
            ),
            (Method::GET, format!("/builds/{UUID}/artifacts/my-bucket/k")),
            (
                Method::PUT,
                "/builds/not-a-uuid/artifacts/my-bucket/k".to_owned(),
            ),
            (Method::PUT, format!("/builds/{UUID}/artifact/my-bucket/k")),
        ] {
            assert!(
                AgentEndpoint::parse(&method, &path, None).is_err(),
                "{method} {path}"
            );
        }
    }
}
