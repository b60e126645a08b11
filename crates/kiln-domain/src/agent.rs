//! The agent protocol (`kiln agent` ⇄ any replica, HTTP/JSON under [`AGENT_PATH`]): the
//! bodies both sides exchange, and the checks the server makes of what an agent sends. See
//! `docs/agents.md`.

use serde::{Deserialize, Serialize};

use crate::build::{
    BuildArtifacts, BuildPhase, BuildRecord, BuildStatus, ExportedVariable, PhaseType,
};
use crate::refs::GitRef;

pub mod log_chunk;

/// Where the agent protocol is served.
pub const AGENT_PATH: &str = "/agent/v1";
/// The header that carries the session id from registration on.
pub const SESSION_HEADER: &str = "kiln-agent-session";
/// The largest log chunk an agent sends, and the body limit of the log call: large enough that
/// a loud build's log keeps up over HTTP (the server stores it in pieces of its own size).
pub const MAX_LOG_CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// The body limit of every other agent call (reports included).
pub const MAX_AGENT_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The most builds one agent runs at once.
pub const MAX_AGENT_CAPACITY: u32 = 64;

/// `POST /register`: who the agent is. Answered with [`Registered`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    pub name: String,
    pub version: String,
    /// `std::env::consts::OS`: linux, macos, windows.
    pub os: String,
    /// `std::env::consts::ARCH`: x86_64, aarch64.
    pub arch: String,
    /// local or docker.
    pub executor: String,
    /// How many builds it runs at once.
    pub capacity: u32,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Logical CPUs and memory, checked against the fleet's `computeType`.
    pub cpus: u32,
    pub memory_mib: u64,
    /// The fleet the agent was told to join (`--fleet`); must be its token's when given.
    #[serde(default)]
    pub fleet: Option<String>,
}

/// The answer to a registration: the session id, and the intervals the server wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub session: String,
    pub fleet_arn: String,
    pub fleet_name: String,
    pub heartbeat_seconds: f64,
    /// How long a claim or a watch waits before it answers with nothing.
    pub poll_seconds: f64,
    pub region: String,
    /// Length of one minute of `timeoutInMinutes` (shortened only by tests).
    pub minute_seconds: f64,
    pub max_log_bytes: u64,
    /// The `Content-Encoding`s the server takes for log chunks besides raw bytes
    /// ([`log_chunk::LZ4_BLOCK`]); none from a server that predates them.
    #[serde(default)]
    pub log_encodings: Vec<String>,
}

/// `POST /heartbeat` and `POST /watch`: the builds the agent runs. The heartbeat renews their
/// leases; the watch waits until one of them must stop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunningBuilds {
    pub builds: Vec<String>,
}

/// What the agent must do with the builds it listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildOrders {
    /// StopBuild was accepted (or the project deleted): stop them.
    pub stop: Vec<String>,
    /// The agent no longer holds them (the lease expired): stop them, save nothing.
    pub lost: Vec<String>,
}

impl BuildOrders {
    pub fn is_empty(&self) -> bool {
        self.stop.is_empty() && self.lost.is_empty()
    }
}

/// `POST /claim`: how many builds the agent can take now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimAsk {
    pub free_slots: u32,
}

/// `POST /builds/{uuid}/secrets`: the build's secret references the agent's runner needs
/// resolved (at PROVISIONING, and at DOWNLOAD_SOURCE for the buildspec's); answered with the
/// values or the first reference that names nothing (docs/secrets.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsAsk {
    pub references: Vec<crate::secrets::SecretReference>,
}

/// A build handed to an agent, with what it needs to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedBuild {
    pub record: BuildRecord,
    /// The project's cache generation when the build was claimed (docs/cache.md); `None`
    /// when the server could not read it (the build then uses no cache).
    #[serde(default)]
    pub cache_generation: Option<i64>,
    /// The fencing version of the agent's lease; every progress call carries it.
    pub lease_version: i64,
    pub log_link: String,
    /// `CODEBUILD_PUBLIC_BUILD_URL` while the build's project is public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_build_url: Option<String>,
    /// The account's source credential for the build's forge, only for this build.
    pub source_credential: Option<AssignedCredential>,
    /// The registry credential the project names, if the server has it.
    pub registry_credential: Option<AssignedRegistryCredential>,
}

/// A source credential as it travels to the agent that runs the build.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedCredential {
    pub server_type: String,
    pub username: String,
    pub token: String,
    /// `host:port` of each host it may be sent to, over https.
    pub hosts: Vec<String>,
}

impl std::fmt::Debug for AssignedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssignedCredential")
            .field("server_type", &self.server_type)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

/// A registry credential as it travels to the agent that runs the build.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedRegistryCredential {
    pub username: String,
    pub password: String,
    pub server: Option<String>,
}

impl std::fmt::Debug for AssignedRegistryCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssignedRegistryCredential")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// `POST /builds/{uuid}/progress`: the parts of a build its runner changes, saved through the
/// agent's lease. Everything else of the record (account, project, number, settings) stays
/// as the server stored it, whatever an agent sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildProgress {
    pub lease_version: i64,
    pub status: BuildStatus,
    pub current_phase: PhaseType,
    pub phases: Vec<BuildPhase>,
    pub end_time: Option<f64>,
    pub resolved_source_version: Option<String>,
    pub git_ref: Option<GitRef>,
    pub artifacts: Option<BuildArtifacts>,
    pub secondary_artifacts: Vec<BuildArtifacts>,
    pub exported_environment_variables: Vec<ExportedVariable>,
    /// The reports the server made for the build (the agent's report call answered them).
    pub report_arns: Vec<String>,
    /// The subject and author of the commit checked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<crate::commit::CommitSummary>,
}

/// Why a [`BuildProgress`] was refused, in words for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRefused(pub String);

impl std::fmt::Display for ProgressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bounds of what an agent may report of one build.
const MAX_PHASES: usize = 16;
const MAX_CONTEXTS: usize = 8;
const MAX_TEXT: usize = 4096;
const MAX_ARTIFACTS: usize = 16;
const MAX_EXPORTED: usize = 128;

impl BuildProgress {
    /// The runner-owned parts of `record`, under lease version `lease_version`.
    pub fn of(record: &BuildRecord, lease_version: i64) -> Self {
        BuildProgress {
            lease_version,
            status: record.status,
            current_phase: record.current_phase,
            phases: record.phases.clone(),
            end_time: record.end_time,
            resolved_source_version: record.resolved_source_version.clone(),
            git_ref: record.git_ref.clone(),
            artifacts: record.artifacts.clone(),
            secondary_artifacts: record.secondary_artifacts.clone(),
            exported_environment_variables: record.exported_environment_variables.clone(),
            report_arns: record.report_arns.clone(),
            commit: record.commit.clone(),
        }
    }

    /// `stored` with this progress applied, if it is within bounds and keeps the phases the
    /// server already has (an agent cannot rewrite history, only add to it).
    pub fn apply_to(self, stored: &BuildRecord) -> Result<BuildRecord, ProgressRefused> {
        self.check(stored)?;
        let mut record = stored.clone();
        record.status = self.status;
        record.current_phase = self.current_phase;
        record.phases = self.phases;
        record.end_time = self.end_time;
        record.resolved_source_version = self.resolved_source_version;
        record.git_ref = self.git_ref;
        record.artifacts = self.artifacts;
        record.secondary_artifacts = self.secondary_artifacts;
        record.exported_environment_variables = self.exported_environment_variables;
        record.report_arns = self.report_arns;
        record.commit = self.commit;
        Ok(record)
    }

    fn check(&self, stored: &BuildRecord) -> Result<(), ProgressRefused> {
        let refuse = |why: &str| Err(ProgressRefused(why.to_owned()));
        if self.phases.len() > MAX_PHASES
            || self.phases.iter().any(|p| p.contexts.len() > MAX_CONTEXTS)
        {
            return refuse("too many phases or phase contexts");
        }
        let texts = self
            .phases
            .iter()
            .flat_map(|p| &p.contexts)
            .flat_map(|c| [&c.status_code, &c.message])
            .chain(&self.resolved_source_version);
        if texts.into_iter().any(|t| t.len() > MAX_TEXT) {
            return refuse("a phase message or source version is too long");
        }
        if self.commit.as_ref().is_some_and(|c| !c.is_within_bounds()) {
            return refuse("the commit's subject or author is too long or not one line");
        }
        if self.secondary_artifacts.len() > MAX_ARTIFACTS
            || self.exported_environment_variables.len() > MAX_EXPORTED
        {
            return refuse("too many artifacts or exported variables");
        }
        // Report ARNs end with the build's uuid and name a report of its account.
        let of_this_build = |arn: &String| {
            arn.starts_with("arn:aws:codebuild:")
                && arn.contains(&format!(":{}:report/", stored.account_id))
                && arn.ends_with(&format!(":{}", stored.uuid))
                && arn.len() <= 1024
        };
        if self.report_arns.len() > MAX_ARTIFACTS || !self.report_arns.iter().all(of_this_build) {
            return refuse("reportArns must name reports of this build");
        }
        if self.phases.last().map(|p| p.phase_type) != Some(self.current_phase) {
            return refuse("currentPhase is not the last phase");
        }
        let kept = stored
            .phases
            .iter()
            .zip(&self.phases)
            .take(stored.phases.len().saturating_sub(1))
            .all(|(before, now)| before == now);
        if self.phases.len() < stored.phases.len() || !kept {
            return refuse("the phases already saved cannot change");
        }
        if let Some(GitRef::Branch(name) | GitRef::Tag(name)) = &self.git_ref
            && (name.is_empty() || name.len() > 255 || name.chars().any(char::is_control))
        {
            return refuse("gitRef is not a branch or tag name");
        }
        Ok(())
    }
}

/// The answer to a log chunk: how many bytes of the log the server has stored, where the
/// next chunk starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStored {
    pub size: u64,
}

/// Checks an agent's registration: a name that can appear in logs and lease owners, a
/// capacity within bounds, short printable fields.
pub fn check_registration(registration: &Registration) -> Result<(), String> {
    let name = &registration.name;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if !name_ok {
        return Err(
            "the agent name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a \
             letter or digit"
                .into(),
        );
    }
    if !(1..=MAX_AGENT_CAPACITY).contains(&registration.capacity) {
        return Err(format!(
            "capacity must be between 1 and {MAX_AGENT_CAPACITY}"
        ));
    }
    let short = |text: &str| text.len() <= 64 && !text.chars().any(char::is_control);
    let fields = [
        &registration.version,
        &registration.os,
        &registration.arch,
        &registration.executor,
    ];
    if !fields.iter().all(|f| short(f)) {
        return Err(
            "version, os, arch and executor must be at most 64 printable characters".into(),
        );
    }
    if registration.labels.len() > 32
        || !registration
            .labels
            .iter()
            .all(|l| !l.is_empty() && short(l))
    {
        return Err("at most 32 labels of 1 to 64 printable characters".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed step fails the test.
mod tests;
