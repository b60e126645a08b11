//! What the fleet pages show, made from the stored fleet, the account's connected agents and
//! the fleet's incomplete builds: no IO here, so every rule is a unit test.

use kiln_domain::build::BuildRecord;
use kiln_domain::fleet::{FleetRecord, FleetSettings};
use kiln_store::agents::agent_name_of_owner;
use kiln_store::{AgentSession, FleetBuild};

use crate::console::view;

pub fn fleet_url(name: &str) -> String {
    format!("/fleets/{name}")
}

/// A build as a link: `app #4`, to its page, with when it was queued.
pub struct BuildLink {
    pub label: String,
    pub url: String,
    pub queued_at: String,
    /// How long ago it was queued: `1 min 5 s`.
    pub waited: String,
}

impl BuildLink {
    fn of(build: &BuildRecord, now: f64) -> BuildLink {
        BuildLink {
            label: format!("{} #{}", build.project_name, build.build_number),
            url: format!("/projects/{}/builds/{}", build.project_name, build.uuid),
            queued_at: view::format_time(build.start_time),
            waited: view::format_duration(now - build.start_time),
        }
    }
}

/// A connected agent and the builds it holds.
pub struct AgentRow {
    pub name: String,
    pub version: String,
    /// `linux/x86_64`.
    pub platform: String,
    pub executor: String,
    pub capacity: i64,
    pub labels: String,
    /// `3 s ago`.
    pub last_heartbeat: String,
    pub last_heartbeat_at: String,
    pub running: Vec<BuildLink>,
}

/// A running build of the fleet that no connected agent holds.
pub struct ElsewhereRow {
    pub build: BuildLink,
    pub holder: String,
}

/// What runs a build whose lease owner is not a connected agent of the fleet.
fn holder_of(owner: &str) -> String {
    match agent_name_of_owner(owner) {
        Some(name) => format!("Agent {name}, no longer connected"),
        // A replica's own capacity (ON_DEMAND overflow); its instance name stays internal.
        None => "On-demand capacity of the server".to_string(),
    }
}

/// How the fleet's overflow behaviour reads, short and with what it means.
pub fn overflow_text(settings: &FleetSettings) -> (&'static str, &'static str) {
    match settings.overflow_behavior.as_str() {
        "ON_DEMAND" => (
            "On-demand",
            "While every agent is busy, builds run on the server's own capacity.",
        ),
        _ => ("Queue", "Builds wait until an agent of the fleet is free."),
    }
}

/// A fleet as a row of the list, and the head of its own page.
pub struct FleetRow {
    pub name: String,
    pub url: String,
    pub status_code: &'static str,
    pub status_label: String,
    pub status_class: &'static str,
    /// `Insufficient capacity`, `Action required`, or empty.
    pub context: String,
    pub message: String,
    pub base_capacity: i32,
    pub connected_slots: u32,
    pub overflow: &'static str,
    pub overflow_meaning: &'static str,
    pub agents: usize,
    /// Queued builds: `3`, or `200+` when the read stopped at its limit.
    pub queued: String,
}

/// A fleet's page: its row, its agents with what they run, its queue.
pub struct FleetView {
    pub row: FleetRow,
    pub agents: Vec<AgentRow>,
    pub elsewhere: Vec<ElsewhereRow>,
    pub queue: Vec<BuildLink>,
    /// The builds read stopped at their limit: the queue goes on.
    pub truncated: bool,
}

/// The pill of a fleet status: ready, short of slots, or waiting for its first agent.
fn status_class(code: &str, context: Option<&str>) -> &'static str {
    match (code, context) {
        ("ACTIVE", None) => "ok",
        ("ACTIVE", Some(_)) => "bad",
        _ => "idle",
    }
}

impl FleetView {
    /// `agents` are the account's connected agents (any fleet); `builds` the fleet's
    /// incomplete builds as `Store::fleet_builds` reads them, `truncated` when the read was cut.
    pub fn of(
        fleet: &FleetRecord,
        agents: &[AgentSession],
        builds: &[FleetBuild],
        truncated: bool,
        now: f64,
    ) -> FleetView {
        let capacity = crate::fleets::capacity_by_fleet(agents, &[&fleet.arn]);
        let status = crate::fleets::status_of(fleet, &capacity);
        let (_, slots) = capacity.get(&fleet.arn).copied().unwrap_or((0, 0));
        let mut rows: Vec<(String, AgentRow)> = agents
            .iter()
            .filter(|a| a.fleet_arn == fleet.arn)
            .map(|a| (a.lease_owner(), AgentRow::of(a, now)))
            .collect();
        let mut elsewhere = Vec::new();
        let mut queue = Vec::new();
        for build in builds {
            let link = BuildLink::of(&build.record, now);
            match &build.lease_owner {
                None => queue.push(link),
                Some(owner) => match rows.iter_mut().find(|(o, _)| o == owner) {
                    Some((_, row)) => row.running.push(link),
                    None => elsewhere.push(ElsewhereRow {
                        build: link,
                        holder: holder_of(owner),
                    }),
                },
            }
        }
        let (overflow, overflow_meaning) = overflow_text(&fleet.settings);
        let row = FleetRow {
            name: fleet.name.clone(),
            url: fleet_url(&fleet.name),
            status_code: status.status_code,
            status_label: view::status_label(status.status_code),
            status_class: status_class(status.status_code, status.context),
            context: status.context.map(view::status_label).unwrap_or_default(),
            message: status.message,
            base_capacity: fleet.settings.base_capacity,
            connected_slots: slots,
            overflow,
            overflow_meaning,
            agents: rows.len(),
            queued: format!("{}{}", queue.len(), if truncated { "+" } else { "" }),
        };
        FleetView {
            row,
            agents: rows.into_iter().map(|(_, row)| row).collect(),
            elsewhere,
            queue,
            truncated,
        }
    }
}

impl AgentRow {
    fn of(agent: &AgentSession, now: f64) -> AgentRow {
        AgentRow {
            name: agent.name.clone(),
            version: agent.version.clone(),
            platform: format!("{}/{}", agent.os, agent.arch),
            executor: agent.executor.clone(),
            capacity: agent.capacity,
            labels: agent.labels.join(", "),
            last_heartbeat: format!("{} ago", view::format_duration(now - agent.last_heartbeat)),
            last_heartbeat_at: view::format_time(agent.last_heartbeat),
            running: Vec::new(),
        }
    }
}

/// `1 build slot`, `3 build slots`.
pub fn build_slots(n: i64) -> String {
    format!("{n} build slot{}", if n == 1 { "" } else { "s" })
}

/// The fleet's settings as label and value, in the order the page lists them; settings the
/// fleet does not have are left out.
pub fn settings_of(fleet: &FleetRecord) -> Vec<(&'static str, String)> {
    let s = &fleet.settings;
    let mut props = vec![
        ("Environment type", s.environment_type.clone()),
        ("Compute type", s.compute_type.clone()),
        ("Base capacity", build_slots(i64::from(s.base_capacity))),
    ];
    if let Some(c) = &s.compute_configuration {
        let mut parts = Vec::new();
        if let Some(v) = c.v_cpu {
            parts.push(format!("{v} vCPU"));
        }
        if let Some(m) = c.memory {
            parts.push(format!("{m} GiB memory"));
        }
        if let Some(d) = c.disk {
            parts.push(format!("{d} GiB disk"));
        }
        if let Some(m) = &c.machine_type {
            parts.push(format!("machine type {m}"));
        }
        if let Some(i) = &c.instance_type {
            parts.push(format!("instance type {i}"));
        }
        if !parts.is_empty() {
            props.push(("Compute configuration", parts.join(", ")));
        }
    }
    if let Some(max) = s
        .scaling_configuration
        .as_ref()
        .and_then(|c| c.max_capacity)
    {
        props.push(("Scaling", format!("up to {}", build_slots(i64::from(max)))));
    }
    let optional = [
        ("Image", s.image_id.as_ref()),
        ("Service role", s.fleet_service_role.as_ref()),
        ("VPC", s.vpc_config.as_ref().and_then(|v| v.vpc_id.as_ref())),
    ];
    for (label, value) in optional {
        if let Some(value) = value {
            props.push((label, value.clone()));
        }
    }
    if let Some(proxy) = s
        .proxy_configuration
        .as_ref()
        .and_then(|p| p.default_behavior.as_ref())
    {
        props.push(("Proxy default", proxy.clone()));
    }
    let tags: Vec<String> = s
        .tags
        .iter()
        .map(|t| {
            format!(
                "{}={}",
                t.key.as_deref().unwrap_or_default(),
                t.value.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if !tags.is_empty() {
        props.push(("Tags", tags.join(", ")));
    }
    props.push(("Created", view::format_time(fleet.created)));
    props.push(("Last modified", view::format_time(fleet.last_modified)));
    props
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_domain::fleet::{FleetInput, validate_create};
    use kiln_domain::project::{ProjectRecord, ProjectSettings};
    use kiln_domain::retry::NewBuild;
    use kiln_domain::start::StartBuildInput;

    const NOW: f64 = 1_000.0;

    fn fleet(overflow: &str) -> FleetRecord {
        let input: FleetInput = serde_json::from_value(serde_json::json!({
            "name": "linux", "baseCapacity": 3, "environmentType": "LINUX_CONTAINER",
            "computeType": "BUILD_GENERAL1_SMALL", "overflowBehavior": overflow,
            "computeConfiguration": {"vCpu": 2, "memory": 4},
            "tags": [{"key": "team", "value": "ci"}]
        }))
        .unwrap();
        validate_create(input, "1", "r", "id-1", 0.0).unwrap()
    }

    fn agent(fleet_arn: &str, name: &str, capacity: i64, heard: f64) -> AgentSession {
        AgentSession {
            session: format!("s-{name}"),
            token_id: "t".into(),
            account_id: "1".into(),
            fleet_arn: fleet_arn.into(),
            name: name.into(),
            version: "0.3.0".into(),
            os: "linux".into(),
            arch: "aarch64".into(),
            executor: "docker".into(),
            capacity,
            labels: vec!["gpu".into(), "big".into()],
            registered: 0.0,
            last_heartbeat: heard,
        }
    }

    fn build(n: i64, owner: Option<String>) -> FleetBuild {
        let project = ProjectRecord {
            account_id: "1".into(),
            name: "app".into(),
            settings: ProjectSettings {
                source: serde_json::from_value(serde_json::json!(
                    {"type": "GITHUB", "location": "https://git.example.com/a.git"}
                ))
                .unwrap(),
                ..ProjectSettings::default()
            },
            badge_enabled: false,
            badge_token: String::new(),
            created: 0.0,
            last_modified: 0.0,
            source_epoch: 0,
            public: Default::default(),
        };
        let mut record = BuildRecord::submitted(NewBuild {
            account_id: "1",
            project_name: "app",
            uuid: format!("u-{n}"),
            settings: StartBuildInput::default().resolve(&project).unwrap(),
            source_epoch: 0,
            initiator: "me".into(),
            now: 900.0 + n as f64,
        });
        record.build_number = n;
        FleetBuild {
            record,
            lease_owner: owner,
        }
    }

    #[test]
    fn a_fleet_without_agents_waits_for_one_and_queues() {
        let f = fleet("QUEUE");
        let v = FleetView::of(&f, &[], &[build(1, None), build(2, None)], false, NOW);
        assert_eq!(v.row.status_code, "CREATING");
        assert_eq!(v.row.status_class, "idle");
        assert_eq!(v.row.context, "Action required");
        assert!(v.row.message.contains("kiln agent --fleet linux"));
        assert_eq!((v.row.agents, v.row.connected_slots), (0, 0));
        assert_eq!(v.row.queued, "2");
        assert_eq!(v.row.overflow, "Queue");
        let labels: Vec<&str> = v.queue.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["app #1", "app #2"]);
        assert_eq!(v.queue[0].url, "/projects/app/builds/u-1");
        assert_eq!(v.queue[0].waited, "1 min 39 s");
    }

    #[test]
    fn agents_show_their_platform_heartbeat_and_the_builds_they_hold() {
        let f = fleet("ON_DEMAND");
        let gpu = agent(&f.arn, "gpu-1", 2, NOW - 3.0);
        let other_fleet = agent("arn:other", "elsewhere", 8, NOW);
        let builds = [
            build(1, Some(gpu.lease_owner())),
            build(2, Some("agent:gone@s9".into())),
            build(3, Some("replica-a".into())),
            build(4, None),
        ];
        let v = FleetView::of(&f, &[gpu.clone(), other_fleet], &builds, true, NOW);
        assert_eq!(v.row.status_code, "ACTIVE");
        assert_eq!(v.row.context, "Insufficient capacity");
        assert_eq!(v.row.status_class, "bad");
        assert_eq!((v.row.agents, v.row.connected_slots), (1, 2));
        assert_eq!(v.row.queued, "1+", "the read was cut: more may wait");
        assert_eq!(v.row.overflow, "On-demand");
        let a = &v.agents[0];
        assert_eq!(a.name, "gpu-1");
        assert_eq!(a.platform, "linux/aarch64");
        assert_eq!(a.last_heartbeat, "3 s ago");
        assert_eq!(a.labels, "gpu, big");
        let running: Vec<&str> = a.running.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(running, ["app #1"]);
        let holders: Vec<&str> = v.elsewhere.iter().map(|e| e.holder.as_str()).collect();
        assert_eq!(
            holders,
            [
                "Agent gone, no longer connected",
                "On-demand capacity of the server"
            ]
        );
        assert_eq!(v.queue.len(), 1);
    }

    #[test]
    fn enough_slots_is_ready() {
        let f = fleet("QUEUE");
        let agents = [agent(&f.arn, "a", 2, NOW), agent(&f.arn, "b", 1, NOW)];
        let v = FleetView::of(&f, &agents, &[], false, NOW);
        assert_eq!(v.row.status_class, "ok");
        assert_eq!(v.row.context, "");
        assert_eq!(v.row.message, "3 of 3 build slots connected (2 agents)");
        assert_eq!(v.row.queued, "0");
    }

    #[test]
    fn settings_list_what_the_fleet_has() {
        let props = settings_of(&fleet("QUEUE"));
        let labels: Vec<&str> = props.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            labels,
            [
                "Environment type",
                "Compute type",
                "Base capacity",
                "Compute configuration",
                "Tags",
                "Created",
                "Last modified"
            ]
        );
        assert_eq!(props[2].1, "3 build slots");
        assert_eq!(build_slots(1), "1 build slot");
        assert_eq!(props[3].1, "2 vCPU, 4 GiB memory");
        assert_eq!(props[4].1, "team=ci");
    }
}
