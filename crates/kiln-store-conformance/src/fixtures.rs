//! Records the cases store: projects and queued builds as the API would make them.

use std::sync::Arc;

use kiln_domain::build::{BuildPhase, BuildRecord, BuildStatus, PhaseType};
use kiln_domain::project::{ProjectRecord, ProjectSettings};
use kiln_domain::start::StartBuildInput;
use kiln_store::{ClaimRequest, Store};

use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord, WebhookConfig, WebhookRecord};

pub const ACCOUNT: &str = "111111111111";
pub const OTHER_ACCOUNT: &str = "222222222222";

/// A project that builds from a remote git repository.
pub fn project(account: &str, name: &str, created: f64) -> ProjectRecord {
    let settings = ProjectSettings {
        source: serde_json::from_value(serde_json::json!(
            {"type": "GITHUB", "location": "https://git.example.com/a.git"}
        ))
        .unwrap(),
        ..ProjectSettings::default()
    };
    ProjectRecord {
        account_id: account.into(),
        name: name.into(),
        settings,
        badge_enabled: true,
        badge_token: format!("token-{account}-{name}-{created}"),
        created,
        last_modified: created,
        source_epoch: 0,
        public: Default::default(),
    }
}

/// A build of `project` as StartBuild queues it (numbered by the store on insert).
pub fn queued_build(account: &str, project: &str, n: u64, token: Option<&str>) -> BuildRecord {
    BuildRecord {
        account_id: account.into(),
        project_name: project.into(),
        uuid: format!("5b2a7c0e-0000-4000-8000-{n:012}"),
        build_number: 0,
        status: BuildStatus::InProgress,
        current_phase: PhaseType::Queued,
        phases: vec![BuildPhase {
            phase_type: PhaseType::Queued,
            phase_status: None,
            start_time: 100.0 + n as f64,
            end_time: None,
            contexts: Vec::new(),
        }],
        start_time: 100.0 + n as f64,
        end_time: None,
        initiator: "test".into(),
        settings: StartBuildInput::default()
            .resolve(&self::project(account, project, 1.0))
            .unwrap(),
        resolved_source_version: None,
        git_ref: None,
        source_epoch: 0,
        artifacts: None,
        secondary_artifacts: Vec::new(),
        exported_environment_variables: Vec::new(),
        idempotency_token: token.map(Into::into),
        trigger_variables: Vec::new(),
        report_arns: Vec::new(),
        auto_retry: Default::default(),
        agent: None,
        commit: None,
        retry_of: None,
        repository_page: None,
    }
}

/// Inserts build `n` of `project` in [`ACCOUNT`] and returns its id (`project:uuid`).
pub async fn insert(store: &Arc<dyn Store>, project: &str, n: u64) -> String {
    let mut build = queued_build(ACCOUNT, project, n, None);
    store.insert_build(&mut build, 0.0).await.unwrap();
    build.id()
}

/// The uuid part of a build id.
pub fn uuid_of(id: &str) -> &str {
    id.split_once(':').map_or(id, |(_, uuid)| uuid)
}

/// Lease length in the cases: long enough never to expire unless a case moves the clock.
pub const LEASE_SECONDS: f64 = 30.0;

/// A claim by `owner` at `now` of at most `capacity` builds, with no account limit.
pub fn claim_request(owner: &str, now: f64, capacity: u32) -> ClaimRequest<'_> {
    ClaimRequest {
        owner,
        now,
        lease_seconds: LEASE_SECONDS,
        capacity,
        account_limit: None,
        minute_seconds: 60.0,
        fleet: kiln_store::ClaimFleet::OnDemand { overflow: &[] },
    }
}

/// The reason a build ended with: the message of the first phase context that has a code.
pub fn end_reason(build: &BuildRecord) -> Option<&str> {
    build
        .phases
        .iter()
        .flat_map(|phase| &phase.contexts)
        .find(|context| !context.status_code.is_empty())
        .map(|context| context.message.as_str())
}

/// A webhook of `project` as CreateWebhook stores it.
pub fn webhook(account: &str, project: &str) -> WebhookRecord {
    WebhookRecord {
        account_id: account.into(),
        project_name: project.into(),
        token: format!("hook-{account}-{project}"),
        secret: "s".into(),
        config: WebhookConfig {
            branch_filter: None,
            filter_groups: Vec::new(),
            build_type: "BUILD".into(),
            manual_creation: None,
            pull_request_build_policy: None,
        },
        created: 1.0,
        last_modified_secret: 1.0,
    }
}

/// A verified push delivery to `project` in [`ACCOUNT`], received at 5 s.
pub fn delivery(project: &str, id: Option<&str>) -> DeliveryRecord {
    DeliveryRecord {
        account_id: ACCOUNT.into(),
        project_name: project.into(),
        delivery_id: id.map(Into::into),
        forge: Some("GitHub".into()),
        event: "PUSH".into(),
        outcome: DeliveryOutcome::Filtered,
        reason: "received".into(),
        build_id: None,
        received_at: 5.0,
        verified: true,
    }
}
