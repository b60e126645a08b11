//! The agent's side of the agent protocol: one HTTP/JSON call per method, to whichever
//! replica the server URL reaches.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use kiln_domain::agent::{
    AGENT_PATH, AssignedBuild, BuildOrders, BuildProgress, ClaimAsk, LogStored, Registered,
    Registration, RunningBuilds, SESSION_HEADER, SecretsAsk, log_chunk,
};
use kiln_domain::secrets::SecretReference;
use kiln_runner::artifacts::{ArtifactStoreConfig, describe_transport_error};
use kiln_runner::build::{CollectedReport, Resolved, SavedReport};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long a call other than a long poll may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer: the server or the network is down. Worth retrying.
    #[error("cannot reach the Kiln server: {0}")]
    Unreachable(String),
    /// The server answered with an error (`__type` and message).
    #[error("{kind}: {message}")]
    Refused { kind: String, message: String },
}

impl CallError {
    /// Whether the server refused the call with error type `kind`.
    pub fn is(&self, kind: &str) -> bool {
        matches!(self, CallError::Refused { kind: k, .. } if k == kind)
    }
}

/// The error types of the protocol the agent acts on.
pub mod kinds {
    pub const UNAUTHORIZED: &str = "AgentUnauthorizedException";
    pub const SESSION_GONE: &str = "AgentSessionGoneException";
    pub const NOT_HELD: &str = "BuildNotHeldException";
}

/// A log chunk as it goes to the server.
pub enum LogChunk {
    Raw(Vec<u8>),
    /// An LZ4 block of the raw bytes (`kiln_domain::agent::log_chunk`).
    Lz4(Vec<u8>),
}

pub struct ServerClient {
    http: reqwest::Client,
    /// The server's URL, without a trailing slash.
    server: String,
    base: String,
    token: SecretString,
    session: Mutex<Option<String>>,
}

#[derive(serde::Deserialize)]
struct Claimed {
    builds: Vec<AssignedBuild>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type")]
    kind: String,
    message: String,
}

impl ServerClient {
    pub fn new(server: &str, token: SecretString) -> Result<Self, CallError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        Ok(ServerClient {
            http,
            server: server.trim_end_matches('/').to_owned(),
            base: format!("{}{AGENT_PATH}", server.trim_end_matches('/')),
            token,
            session: Mutex::new(None),
        })
    }

    /// Where a build's artifacts go when the agent sends them through the server.
    pub fn relay_store_config(&self, build_uuid: &str) -> ArtifactStoreConfig {
        let session = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        ArtifactStoreConfig::relay(&self.server, self.token.clone(), session, build_uuid)
    }

    pub async fn register(&self, registration: &Registration) -> Result<Registered, CallError> {
        let registered: Registered = self
            .call(Method::POST, "/register", json(registration)?, CALL_TIMEOUT)
            .await?;
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(registered.session.clone());
        Ok(registered)
    }

    pub async fn deregister(&self) -> Result<(), CallError> {
        let _: serde_json::Value = self
            .call(Method::DELETE, "/session", Vec::new(), CALL_TIMEOUT)
            .await?;
        Ok(())
    }

    pub async fn heartbeat(&self, builds: Vec<String>) -> Result<BuildOrders, CallError> {
        let body = json(&RunningBuilds { builds })?;
        self.call(Method::POST, "/heartbeat", body, CALL_TIMEOUT)
            .await
    }

    /// Waits (up to the server's poll time) for builds of the fleet.
    pub async fn claim(
        &self,
        free_slots: u32,
        poll: Duration,
    ) -> Result<Vec<AssignedBuild>, CallError> {
        let body = json(&ClaimAsk { free_slots })?;
        let claimed: Claimed = self
            .call(Method::POST, "/claim", body, poll + CALL_TIMEOUT)
            .await?;
        Ok(claimed.builds)
    }

    /// Waits (up to the server's poll time) until one of `builds` must stop.
    pub async fn watch(
        &self,
        builds: Vec<String>,
        poll: Duration,
    ) -> Result<BuildOrders, CallError> {
        let body = json(&RunningBuilds { builds })?;
        self.call(Method::POST, "/watch", body, poll + CALL_TIMEOUT)
            .await
    }

    pub async fn progress(&self, uuid: &str, progress: &BuildProgress) -> Result<(), CallError> {
        let _: serde_json::Value = self
            .call(
                Method::POST,
                &format!("/builds/{uuid}/progress"),
                json(progress)?,
                CALL_TIMEOUT,
            )
            .await?;
        Ok(())
    }

    /// Sends the log bytes that start at `offset`, encoded as `chunk` says; returns how many
    /// the server has stored.
    pub async fn log(&self, uuid: &str, offset: u64, chunk: LogChunk) -> Result<u64, CallError> {
        let path = format!("/builds/{uuid}/log?offset={offset}");
        let request = match chunk {
            LogChunk::Raw(bytes) => self.request(Method::POST, &path, bytes, CALL_TIMEOUT),
            LogChunk::Lz4(block) => self
                .request(Method::POST, &path, block, CALL_TIMEOUT)
                .header("content-encoding", log_chunk::LZ4_BLOCK),
        };
        let stored: LogStored = self.send(request).await?;
        Ok(stored.size)
    }

    pub async fn reports(
        &self,
        uuid: &str,
        reports: &[CollectedReport],
    ) -> Result<Vec<Result<SavedReport, String>>, CallError> {
        self.call(
            Method::POST,
            &format!("/builds/{uuid}/reports"),
            json(reports)?,
            CALL_TIMEOUT,
        )
        .await
    }

    /// The values of a build's secret references, through the agent's lease on it.
    pub async fn secrets(
        &self,
        uuid: &str,
        references: &[SecretReference],
    ) -> Result<Resolved, CallError> {
        let body = json(&SecretsAsk {
            references: references.to_vec(),
        })?;
        self.call(
            Method::POST,
            &format!("/builds/{uuid}/secrets"),
            body,
            CALL_TIMEOUT,
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        self.send(self.request(method, path, body, timeout)).await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(timeout)
            .bearer_auth(self.token.expose_secret())
            .header("content-type", "application/json")
            .body(body);
        let session = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match session {
            Some(session) => request.header(SESSION_HEADER, session),
            None => request,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Unreachable(describe_transport_error(&e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Unreachable(describe_transport_error(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| CallError::Refused {
                kind: "InvalidAnswer".into(),
                message: format!("the server's answer is not what the agent expects: {e}"),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(error) => Err(CallError::Refused {
                kind: error.kind,
                message: error.message,
            }),
            // Not Kiln's answer (a proxy's 502, say): as if the server were down.
            Err(_) => Err(CallError::Unreachable(format!("HTTP {status}"))),
        }
    }
}

fn json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CallError> {
    serde_json::to_vec(value).map_err(|e| CallError::Refused {
        kind: "InvalidRequest".into(),
        message: e.to_string(),
    })
}
