//! New builds: a submitted one, a retry of a finished one (RetryBuild), and an automatic retry
//! of a failed one (the project's `autoRetryLimit`, see `docs/queue.md`).

use serde::{Deserialize, Serialize};

use crate::build::{BuildPhase, BuildRecord, BuildSettings, BuildStatus, PhaseType};
use crate::refs::{self, GitRef};
use crate::shapes::AutoRetryConfig;

/// A build's place in a chain of automatic retries (`AutoRetryConfig`). Builds refer to each
/// other by uuid; the API shows build ARNs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRetry {
    /// How many retries the chain may make after its first build (0: none).
    pub limit: i64,
    /// 0 for the first build, n for the n-th retry.
    pub number: i64,
    /// The retry of this build, once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The build this one retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

impl AutoRetry {
    /// The first build of a chain that may retry `limit` times.
    pub fn first(limit: i64) -> Self {
        AutoRetry {
            limit: limit.max(0),
            ..AutoRetry::default()
        }
    }

    /// Retries the chain may still make after this build.
    pub fn remaining(&self) -> i64 {
        (self.limit - self.number).max(0)
    }
}

impl BuildStatus {
    /// Whether a build that ended so is retried automatically (a stop or a success never is).
    pub fn is_auto_retried(self) -> bool {
        matches!(
            self,
            BuildStatus::Failed | BuildStatus::Fault | BuildStatus::TimedOut
        )
    }
}

/// The branch or tag a source version names on its face; checkout may refine it.
pub fn provisional_ref(source_version: Option<&str>) -> Option<GitRef> {
    let version = source_version?;
    if let Some(tag) = version.strip_prefix("refs/tags/") {
        return (!tag.is_empty()).then(|| GitRef::Tag(tag.to_string()));
    }
    refs::branch_named_by(version).map(GitRef::Branch)
}

/// What every new build is made of; the rest starts empty.
#[derive(Debug, Clone)]
pub struct NewBuild<'a> {
    pub account_id: &'a str,
    pub project_name: &'a str,
    pub uuid: String,
    pub settings: BuildSettings,
    /// The project's `source_epoch` now.
    pub source_epoch: i64,
    pub initiator: String,
    pub now: f64,
}

impl BuildRecord {
    /// A new build, SUBMITTED (done) and QUEUED (open), numbered by the store on insert. It
    /// retries nothing automatically until its caller sets `auto_retry`.
    pub fn submitted(new: NewBuild<'_>) -> BuildRecord {
        let NewBuild {
            account_id,
            project_name,
            uuid,
            settings,
            source_epoch,
            initiator,
            now,
        } = new;
        let git_ref = provisional_ref(settings.source_version.as_deref());
        let mut build = BuildRecord {
            account_id: account_id.to_string(),
            project_name: project_name.to_string(),
            uuid,
            build_number: 0,
            status: BuildStatus::InProgress,
            current_phase: PhaseType::Submitted,
            phases: vec![BuildPhase {
                phase_type: PhaseType::Submitted,
                phase_status: None,
                start_time: now,
                end_time: None,
                contexts: Vec::new(),
            }],
            start_time: now,
            end_time: None,
            initiator,
            settings,
            resolved_source_version: None,
            git_ref,
            source_epoch,
            artifacts: None,
            secondary_artifacts: Vec::new(),
            exported_environment_variables: Vec::new(),
            idempotency_token: None,
            trigger_variables: Vec::new(),
            report_arns: Vec::new(),
            auto_retry: AutoRetry::default(),
            agent: None,
            commit: None,
            retry_of: None,
            repository_page: None,
        };
        build.end_phase(BuildStatus::Succeeded, None, now);
        build.begin_phase(PhaseType::Queued, now);
        build
    }

    /// A new build that runs this one again (RetryBuild): its settings, source version, ref
    /// and webhook variables, under `uuid`. It starts a chain of its own with this build's
    /// auto-retry limit.
    pub fn retried(&self, uuid: String, source_epoch: i64, initiator: String, now: f64) -> Self {
        let mut build = BuildRecord::submitted(NewBuild {
            account_id: &self.account_id,
            project_name: &self.project_name,
            uuid,
            settings: self.settings.clone(),
            source_epoch,
            initiator,
            now,
        });
        build.git_ref = self.git_ref.clone().or(build.git_ref);
        build.trigger_variables = self.trigger_variables.clone();
        build.repository_page = self.repository_page.clone();
        build.retry_of = Some(self.uuid.clone());
        build.auto_retry = AutoRetry::first(self.auto_retry.limit);
        build
    }

    /// Whether this build still owes its chain an automatic retry: it ended FAILED, FAULT or
    /// TIMED_OUT, the chain's limit is not reached, and no retry was made yet.
    pub fn owes_auto_retry(&self) -> bool {
        self.is_complete()
            && self.status.is_auto_retried()
            && self.auto_retry.remaining() > 0
            && self.auto_retry.next.is_none()
    }

    /// The automatic retry of this build, under `uuid`, when it owes one: a retry with the
    /// same initiator, next in the chain.
    pub fn auto_retried(&self, uuid: String, source_epoch: i64, now: f64) -> Option<Self> {
        if !self.owes_auto_retry() {
            return None;
        }
        let mut build = self.retried(uuid, source_epoch, self.initiator.clone(), now);
        build.auto_retry = AutoRetry {
            limit: self.auto_retry.limit,
            number: self.auto_retry.number + 1,
            next: None,
            previous: Some(self.uuid.clone()),
        };
        Some(build)
    }

    /// `AutoRetryConfig`, for a build of a chain (a limit above 0, or a retry).
    pub(crate) fn auto_retry_api(&self, region: &str) -> Option<AutoRetryConfig> {
        let chain = &self.auto_retry;
        if chain.limit == 0 && chain.number == 0 {
            return None;
        }
        let arn = |uuid: &String| {
            format!(
                "arn:aws:codebuild:{region}:{}:build/{}:{uuid}",
                self.account_id, self.project_name
            )
        };
        Some(AutoRetryConfig {
            auto_retry_limit: chain.limit,
            auto_retry_number: chain.number,
            next_auto_retry: chain.next.as_ref().map(arn),
            previous_auto_retry: chain.previous.as_ref().map(arn),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed step fails the test.
mod tests {
    use super::*;
    use crate::build::{PhaseContext, context_codes};
    use serde_json::json;

    fn settings() -> BuildSettings {
        serde_json::from_value(json!({
            "source": {"type": "GITHUB", "location": "https://example.com/r.git"},
            "sourceVersion": "main",
            "secondarySources": [], "artifacts": {"type": "NO_ARTIFACTS"},
            "secondaryArtifacts": [], "environment": {}, "serviceRole": null,
            "timeoutInMinutes": 60, "queuedTimeoutInMinutes": 480,
            "buildspecOverride": null, "environmentVariablesOverride": [],
            "debugSessionEnabled": null
        }))
        .unwrap()
    }

    fn build(limit: i64) -> BuildRecord {
        let mut build = BuildRecord::submitted(NewBuild {
            account_id: "111111111111",
            project_name: "p",
            uuid: "u0".into(),
            settings: settings(),
            source_epoch: 0,
            initiator: "alice".into(),
            now: 10.0,
        });
        build.auto_retry = AutoRetry::first(limit);
        build
    }

    fn ended(mut build: BuildRecord, status: BuildStatus) -> BuildRecord {
        build.abort(
            status,
            PhaseContext::new(context_codes::SERVER_ERROR, "x"),
            20.0,
        );
        build
    }

    #[test]
    fn provisional_refs() {
        assert_eq!(
            provisional_ref(Some("main")),
            Some(GitRef::Branch("main".into()))
        );
        assert_eq!(
            provisional_ref(Some("refs/tags/v1")),
            Some(GitRef::Tag("v1".into()))
        );
        assert_eq!(
            provisional_ref(Some("refs/heads/a/b")),
            Some(GitRef::Branch("a/b".into()))
        );
        assert_eq!(
            provisional_ref(Some("0123456789abcdef0123456789abcdef01234567")),
            None
        );
        assert_eq!(provisional_ref(None), None);
    }

    #[test]
    fn failures_are_retried_up_to_the_limit() {
        let first = ended(build(2), BuildStatus::Failed);
        let second = first.auto_retried("u1".into(), 3, 30.0).unwrap();
        assert_eq!(second.settings, first.settings);
        assert_eq!(second.initiator, "alice");
        assert_eq!(second.source_epoch, 3);
        assert_eq!(second.current_phase, PhaseType::Queued);
        assert_eq!(second.auto_retry.number, 1);
        assert_eq!(second.auto_retry.previous.as_deref(), Some("u0"));
        assert_eq!(second.retry_of.as_deref(), Some("u0"));
        let third = ended(second, BuildStatus::TimedOut)
            .auto_retried("u2".into(), 3, 40.0)
            .unwrap();
        assert_eq!(third.auto_retry.number, 2);
        let third = ended(third, BuildStatus::Fault);
        assert!(!third.owes_auto_retry(), "the limit is reached");
    }

    #[test]
    fn stops_successes_and_chains_without_a_limit_are_not_retried() {
        for status in [BuildStatus::Stopped, BuildStatus::Succeeded] {
            assert!(!ended(build(2), status).owes_auto_retry(), "{status:?}");
        }
        assert!(!ended(build(0), BuildStatus::Failed).owes_auto_retry());
        assert!(
            !build(2).owes_auto_retry(),
            "an unfinished build owes nothing"
        );
        let mut retried = ended(build(2), BuildStatus::Failed);
        retried.auto_retry.next = Some("u1".into());
        assert!(!retried.owes_auto_retry(), "a retry is made once");
    }

    #[test]
    fn the_api_shows_the_chain_as_arns() {
        assert_eq!(build(0).auto_retry_api("r"), None);
        let first = ended(build(1), BuildStatus::Failed);
        let second = first.auto_retried("u1".into(), 0, 30.0).unwrap();
        assert_eq!(
            serde_json::to_value(second.auto_retry_api("r").unwrap()).unwrap(),
            json!({
                "autoRetryLimit": 1, "autoRetryNumber": 1,
                "previousAutoRetry": "arn:aws:codebuild:r:111111111111:build/p:u0"
            })
        );
    }
}
