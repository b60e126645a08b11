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
}

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
                    "log" => AgentEndpoint::Log {
                        uuid,
                        offset: log_offset(query)?,
                    },
                    _ => return Err(unknown(method, path)),
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
}
