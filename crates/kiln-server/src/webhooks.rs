//! The webhook receiver, `POST /webhooks?t=<token>&v=1`: forges post their events here and a
//! matching event starts a build (docs/webhooks.md).
//!
//! The token names the webhook; the forge's signature over the raw body proves the delivery
//! genuine before anything is parsed. Every delivery to a known webhook is recorded with what
//! became of it. A delivery id is processed once, and so is a signed body within
//! [`REPLAY_WINDOW`]: a body replayed under another delivery id, an upper-cased one or none is a
//! duplicate. Both claims live in the store, shared by every Kiln serving the database.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kiln_domain::ApiError;
use kiln_domain::build::BuildRecord;
use kiln_domain::start::StartBuildInput;
use kiln_domain::token;
use kiln_domain::webhook::filter;
use kiln_domain::webhook::{
    BuildPlan, Delivery, DeliveryOutcome, DeliveryRecord, Forge, Headers, Parsed, WebhookRecord,
};
use kiln_store::{BodyClaim, Claim, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::builds::{new_build, refuse_unsupported_platform, submit};
use crate::state::AppState;

/// Largest delivery accepted. GitHub caps payloads at 25 MB but a push's payload is far smaller;
/// the body is held in memory to check its signature.
pub const MAX_WEBHOOK_BODY: usize = 4 * 1024 * 1024;
/// Most deliveries [`recent_deliveries`] returns.
pub const MAX_RECENT_DELIVERIES: u64 = 500;
/// How long a signed body, once received, makes the same body a duplicate. Forges send a new
/// body for every event (timestamps, commits, ids), and redeliver under the same delivery id.
pub const REPLAY_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// The request's headers, as the domain reads them.
struct RequestHeaders<'a>(&'a HeaderMap);

impl Headers for RequestHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The answer to a delivery: its status and what became of it.
struct Reply {
    status: StatusCode,
    outcome: DeliveryOutcome,
    reason: String,
    build_id: Option<String>,
}

impl Reply {
    fn refused(status: StatusCode, reason: impl Into<String>) -> Reply {
        Reply {
            status,
            outcome: DeliveryOutcome::Refused,
            reason: reason.into(),
            build_id: None,
        }
    }

    fn filtered(reason: impl Into<String>) -> Reply {
        Reply {
            status: StatusCode::OK,
            outcome: DeliveryOutcome::Filtered,
            reason: reason.into(),
            build_id: None,
        }
    }

    /// 503 when the store cannot write (a full disk: the forge redelivers later), else 500.
    fn store_failure(err: StoreError) -> Reply {
        tracing::error!(error = %err, "store failure");
        if err.is_unavailable() {
            Reply::refused(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
        } else {
            Reply::refused(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut body = json!({ "outcome": self.outcome.as_str(), "reason": self.reason });
        if let Some(id) = self.build_id {
            body["buildId"] = id.into();
        }
        (self.status, axum::Json(body)).into_response()
    }
}

pub async fn webhook_handler(
    State(state): State<Arc<AppState>>,
    request: Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let reply = receive(&state, &parts.uri, &parts.headers, body).await;
    state.metrics.webhook_delivery(reply.outcome.as_str());
    reply.into_response()
}

/// The webhook token of `?t=<token>&v=1`, when the query is one Kiln issued.
fn token_from_query(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    let mut hook_token = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "t" => hook_token = Some(value.into_owned()),
            "v" if value != "1" => return None,
            _ => {}
        }
    }
    hook_token.filter(|t| token::is_well_formed(t))
}

async fn receive(state: &AppState, uri: &Uri, headers: &HeaderMap, body: Body) -> Reply {
    let Some(hook_token) = token_from_query(uri) else {
        return Reply::refused(StatusCode::NOT_FOUND, "unknown webhook");
    };
    let hook = match state.store.webhook_by_token(&hook_token).await {
        Ok(Some(hook)) => hook,
        Ok(None) => return Reply::refused(StatusCode::NOT_FOUND, "unknown webhook"),
        Err(err) => return Reply::store_failure(err),
    };
    let headers = RequestHeaders(headers);
    let delivery = Delivery::identify(&headers);
    let mut record = DeliveryRecord {
        account_id: hook.account_id.clone(),
        project_name: hook.project_name.clone(),
        delivery_id: delivery.as_ref().and_then(|d| d.delivery_id.clone()),
        forge: delivery.as_ref().map(|d| d.forge.name().to_string()),
        event: delivery
            .as_ref()
            .map(|d| d.event_name.clone())
            .unwrap_or_default(),
        outcome: DeliveryOutcome::Refused,
        reason: String::new(),
        build_id: None,
        received_at: state.now_epoch(),
        verified: false,
    };
    let reply = match accept(&hook, delivery.as_ref(), &headers, body).await {
        Err(refusal) => {
            record.reason.clone_from(&refusal.reason);
            save_unclaimed(state, &record).await;
            refusal
        }
        Ok((decision, body_sha256)) => {
            record.verified = true;
            act(state, &hook, decision, &body_sha256, &mut record).await
        }
    };
    tracing::info!(
        project = %hook.project_name,
        forge = record.forge.as_deref().unwrap_or("unknown"),
        event = %record.event,
        outcome = reply.outcome.as_str(),
        reason = %reply.reason,
        "webhook delivery"
    );
    reply
}

/// What a genuine delivery asks for.
enum Decision {
    Ignore {
        event: Option<String>,
        why: String,
    },
    Build {
        forge: Forge,
        event: String,
        plan: Box<BuildPlan>,
    },
}

/// Reads, authenticates and understands a delivery, or refuses it. Returns what it asks for
/// and the SHA-256 (hex) of its signed body.
async fn accept(
    hook: &WebhookRecord,
    delivery: Option<&Delivery>,
    headers: &RequestHeaders<'_>,
    body: Body,
) -> Result<(Decision, String), Reply> {
    let body = axum::body::to_bytes(body, MAX_WEBHOOK_BODY)
        .await
        .map_err(|_| {
            Reply::refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the payload exceeds {MAX_WEBHOOK_BODY} bytes"),
            )
        })?;
    let delivery = delivery.ok_or_else(|| {
        Reply::refused(
            StatusCode::UNAUTHORIZED,
            "the sender is not a known forge: no GitHub, GitLab, Gitea, Forgejo or Bitbucket event header",
        )
    })?;
    delivery
        .verify(headers, &hook.secret, &body)
        .map_err(|err| Reply::refused(StatusCode::UNAUTHORIZED, err.to_string()))?;
    let parsed = delivery
        .parse(&body)
        .map_err(|why| Reply::refused(StatusCode::BAD_REQUEST, why))?;
    Ok((
        decide(hook, delivery, parsed),
        hex::encode(Sha256::digest(&body)),
    ))
}

fn decide(hook: &WebhookRecord, delivery: &Delivery, parsed: Parsed) -> Decision {
    match parsed {
        Parsed::Ping => Decision::Ignore {
            event: None,
            why: "ping: the webhook is reachable".into(),
        },
        Parsed::Ignored(why) => Decision::Ignore { event: None, why },
        Parsed::Event(event) => {
            let name = event.event.as_str().to_string();
            let planned = filter::evaluate(&hook.config, &event)
                .and_then(|()| event.plan_build(delivery.delivery_id.as_deref()));
            match planned {
                Ok(plan) => Decision::Build {
                    forge: delivery.forge,
                    event: name,
                    plan: Box::new(plan),
                },
                Err(why) => Decision::Ignore {
                    event: Some(name),
                    why,
                },
            }
        }
    }
}

/// Carries out a genuine delivery's decision, once per delivery id and signed body.
async fn act(
    state: &AppState,
    hook: &WebhookRecord,
    decision: Decision,
    body_sha256: &str,
    record: &mut DeliveryRecord,
) -> Reply {
    match decision {
        Decision::Ignore { event, why } => {
            if let Some(event) = event {
                record.event = event;
            }
            record.outcome = DeliveryOutcome::Filtered;
            record.reason.clone_from(&why);
            match claim(state, record, body_sha256).await {
                Ok(_) => Reply::filtered(why),
                Err(reply) => reply,
            }
        }
        Decision::Build { forge, event, plan } => {
            record.event = event;
            record.outcome = DeliveryOutcome::Built;
            record.reason = "starting a build".into();
            let seq = match claim(state, record, body_sha256).await {
                Ok(seq) => seq,
                Err(reply) => return reply,
            };
            let reply = start_build(state, hook, forge, *plan).await;
            if let Err(err) = state
                .store
                .set_webhook_delivery_outcome(
                    seq,
                    reply.outcome,
                    &reply.reason,
                    reply.build_id.as_deref(),
                )
                .await
            {
                tracing::error!(error = %err, "cannot record a webhook delivery's outcome");
            }
            reply
        }
    }
}

/// Records a genuine delivery and claims its delivery id and its body; a duplicate is recorded
/// as such and answered without acting.
async fn claim(state: &AppState, record: &DeliveryRecord, body_sha256: &str) -> Result<i64, Reply> {
    let body = BodyClaim {
        body_sha256,
        window_start: record.received_at - REPLAY_WINDOW.as_secs_f64(),
    };
    let why = match state.store.claim_webhook_delivery(record, &body).await {
        Ok(Claim::Claimed(seq)) => return Ok(seq),
        Ok(Claim::DuplicateDeliveryId) => format!(
            "duplicate: delivery {} was received before",
            record.delivery_id.as_deref().unwrap_or_default()
        ),
        Ok(Claim::DuplicateBody) => format!(
            "duplicate: the same signed body was received within the last {} hours",
            REPLAY_WINDOW.as_secs() / 3600
        ),
        Err(StoreError::NotFound) => {
            return Err(Reply::refused(StatusCode::NOT_FOUND, "unknown webhook"));
        }
        Err(err) => return Err(Reply::store_failure(err)),
    };
    let duplicate = DeliveryRecord {
        outcome: DeliveryOutcome::Filtered,
        reason: why.clone(),
        ..record.clone()
    };
    save_unclaimed(state, &duplicate).await;
    Err(Reply::filtered(why))
}

async fn save_unclaimed(state: &AppState, record: &DeliveryRecord) {
    if let Err(err) = state.store.insert_webhook_delivery(record).await {
        tracing::error!(error = %err, "cannot record a webhook delivery");
    }
}

/// Starts the build a delivery asks for, as `StartBuild` would at the pushed commit.
async fn start_build(
    state: &AppState,
    hook: &WebhookRecord,
    forge: Forge,
    plan: BuildPlan,
) -> Reply {
    let project = match state
        .store
        .get_project(&hook.account_id, &hook.project_name)
        .await
    {
        Ok(Some(project)) => project,
        Ok(None) => return Reply::refused(StatusCode::NOT_FOUND, "the project no longer exists"),
        Err(err) => return Reply::store_failure(err),
    };
    let input = StartBuildInput {
        project_name: Some(project.name.clone()),
        source_version: Some(plan.source_version.clone()),
        ..StartBuildInput::default()
    };
    let refused = |err: ApiError| Reply::refused(StatusCode::UNPROCESSABLE_ENTITY, err.message);
    if let Err(err) = input.validate() {
        return refused(err);
    }
    let settings = match input
        .resolve(&project)
        .and_then(|settings| refuse_unsupported_platform(&settings).map(|()| settings))
    {
        Ok(settings) => settings,
        Err(err) => return refused(err),
    };
    let mut build = new_build(
        state,
        &project.account_id,
        &project.name,
        settings,
        project.source_epoch,
        plan.initiator,
    );
    build.git_ref = plan.git_ref;
    build.trigger_variables = plan.trigger_variables;
    build.repository_page = plan.repository_page;
    build.auto_retry = kiln_domain::retry::AutoRetry::first(input.auto_retry_limit(&project));
    if let Err(err) = submit(state, &mut build).await {
        let status = if err.kind == kiln_domain::ErrorKind::ServiceUnavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return Reply::refused(status, err.message);
    }
    let wants_status = project
        .settings
        .source
        .as_ref()
        .and_then(|s| s.report_build_status)
        == Some(true);
    if wants_status {
        report_status(state, forge, &build, CommitState::Pending).await;
    }
    Reply {
        status: StatusCode::OK,
        outcome: DeliveryOutcome::Built,
        reason: format!("started build {}", build.build_number),
        build_id: Some(build.id()),
    }
}

/// A project's recent webhook deliveries, newest first, for its page in the console.
pub async fn recent_deliveries(
    state: &AppState,
    account_id: &str,
    project_name: &str,
    limit: u64,
) -> Result<Vec<DeliveryRecord>, ApiError> {
    state
        .store
        .recent_webhook_deliveries(account_id, project_name, limit.min(MAX_RECENT_DELIVERIES))
        .await
        .map_err(crate::api::store_failure)
}

/// A commit status for the forge (`reportBuildStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitState {
    Pending,
    Success,
    Failure,
    Error,
}

/// What a forge's commit-status API needs to show a build on a commit.
#[derive(Debug)]
pub struct CommitStatus<'a> {
    pub forge: Forge,
    /// The project's source location.
    pub repository: &'a str,
    pub commit: &'a str,
    pub state: CommitState,
    /// The status's name on the forge: the project's name.
    pub context: &'a str,
    /// Where the forge links to: the build's log.
    pub target_url: String,
}

/// The seam for reporting build states back to the forge. Each forge's API (GitHub's statuses,
/// GitLab's commit statuses, Gitea's, Bitbucket's build statuses) needs a token with write
/// access, from the source credentials; none is implemented yet.
#[async_trait]
pub trait StatusReporter: Send + Sync {
    async fn report(&self, status: &CommitStatus<'_>);
}

/// Says, in the server's log, that a status would have been reported. Reports nothing.
pub struct LogOnlyStatusReporter;

#[async_trait]
impl StatusReporter for LogOnlyStatusReporter {
    async fn report(&self, status: &CommitStatus<'_>) {
        tracing::info!(
            forge = status.forge.name(),
            commit = status.commit,
            context = status.context,
            state = ?status.state,
            "reportBuildStatus is not implemented: no status sent to the forge"
        );
    }
}

async fn report_status(
    state: &AppState,
    forge: Forge,
    build: &BuildRecord,
    commit_state: CommitState,
) {
    let status = CommitStatus {
        forge,
        repository: build
            .settings
            .source
            .location
            .as_deref()
            .unwrap_or_default(),
        commit: build.settings.source_version.as_deref().unwrap_or_default(),
        state: commit_state,
        context: &build.project_name,
        target_url: state.builds.log_link(build),
    };
    LogOnlyStatusReporter.report(&status).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_issued_payload_urls_name_a_webhook() {
        let token = |uri: &str| token_from_query(&uri.parse::<Uri>().unwrap());
        assert_eq!(token("/webhooks?t=abc_-9&v=1").as_deref(), Some("abc_-9"));
        assert_eq!(token("/webhooks?v=1&t=abc").as_deref(), Some("abc"));
        assert_eq!(token("/webhooks?t=abc").as_deref(), Some("abc"));
        assert_eq!(token("/webhooks?t=abc&v=2"), None);
        assert_eq!(token("/webhooks?t=a%20b&v=1"), None);
        assert_eq!(token("/webhooks?v=1"), None);
        assert_eq!(token("/webhooks"), None);
        let long = format!("/webhooks?t={}&v=1", "a".repeat(65));
        assert_eq!(token(&long), None);
    }

    #[test]
    fn headers_are_read_case_insensitively() {
        let mut map = HeaderMap::new();
        map.insert("x-github-event", "push".parse().unwrap());
        let headers = RequestHeaders(&map);
        assert_eq!(headers.header("X-GitHub-Event"), Some("push"));
        assert_eq!(headers.header("X-Gitea-Event"), None);
    }
}
