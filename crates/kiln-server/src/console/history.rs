//! Build histories: one row per build, as the project page, the public page and the Builds page
//! list them, and a project's builds read a page at a time (keyset pages: a page boundary does
//! not move while builds start).

use kiln_domain::build::BuildRecord;
use kiln_domain::refs::GitRef;
use kiln_store::{Store, StoreResult};

use super::view;

/// A running build's start and the server's clock when the page was drawn (epoch seconds):
/// static/live.js counts the duration on from there, whatever the browser's clock says.
pub struct Ticking {
    pub started: String,
    pub now: String,
}

pub struct BuildRow {
    pub number: i64,
    pub project: String,
    pub project_url: String,
    pub url: String,
    pub status: String,
    pub status_class: &'static str,
    /// The branch or tag the build checked out, else the version it was asked for.
    pub source_version: String,
    pub started: String,
    pub duration: String,
    pub ticking: Option<Ticking>,
}

/// How long a build took, or has run so far when it has not ended by `now`.
pub fn duration(build: &BuildRecord, now: f64) -> String {
    match build.end_time {
        Some(end) => view::format_duration(end - build.start_time),
        None if !build.is_complete() => {
            format!("{} so far", view::format_duration(now - build.start_time))
        }
        None => "—".to_string(),
    }
}

/// What a build built: the ref it checked out, else its source version, else the default.
pub fn source_version(build: &BuildRecord) -> String {
    match (&build.git_ref, &build.settings.source_version) {
        (Some(GitRef::Branch(name) | GitRef::Tag(name)), _) => name.clone(),
        (None, Some(version)) => version.clone(),
        (None, None) => "Default branch".to_string(),
    }
}

impl BuildRow {
    /// The row of `build`, whose page is `<builds_url>/<uuid>`, drawn at `now`.
    pub fn of(build: &BuildRecord, builds_url: &str, now: f64) -> BuildRow {
        let status = build.status.as_str();
        BuildRow {
            number: build.build_number,
            project: build.project_name.clone(),
            project_url: format!("/projects/{}", build.project_name),
            url: format!("{builds_url}/{}", build.uuid),
            status: view::status_label(status),
            status_class: view::status_class(status),
            source_version: source_version(build),
            started: view::format_time(build.start_time),
            duration: duration(build, now),
            ticking: (!build.is_complete()).then(|| Ticking {
                started: format!("{:.3}", build.start_time),
                now: format!("{now:.3}"),
            }),
        }
    }
}

/// A page of a project's live builds, newest first, and the key of the next (older) page.
pub async fn project_builds(
    store: &dyn Store,
    account_id: &str,
    project_name: &str,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<(Vec<BuildRecord>, Option<i64>)> {
    let page = store
        .list_builds(account_id, Some(project_name), false, after, limit)
        .await?;
    let uuids: Vec<&str> = page
        .items
        .iter()
        .filter_map(|id| id.split_once(':').map(|(_, uuid)| uuid))
        .collect();
    let mut builds = store.get_builds(account_id, &uuids).await?;
    builds.sort_by_key(|b| std::cmp::Reverse(b.build_number));
    Ok((builds, page.next))
}

/// The key of a page named by a query's `after`; none (the first page) when it is not one.
pub fn after_of(text: &str) -> Option<i64> {
    text.trim().parse().ok().filter(|n: &i64| *n > 0)
}

#[cfg(test)]
pub(crate) mod tests {
    use kiln_domain::build::{BuildStatus, PhaseType};
    use kiln_domain::project::{ProjectRecord, ProjectSettings};
    use kiln_domain::retry::NewBuild;
    use kiln_domain::start::StartBuildInput;

    use super::*;

    /// Build `number` of project `p`, started at 100 s, running unless `end` is given.
    pub fn build(number: i64, status: BuildStatus, end: Option<f64>) -> BuildRecord {
        let project = ProjectRecord {
            account_id: "111111111111".into(),
            name: "p".into(),
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
        let mut build = BuildRecord::submitted(NewBuild {
            account_id: "111111111111",
            project_name: "p",
            uuid: format!("u{number}"),
            settings: StartBuildInput::default().resolve(&project).unwrap(),
            source_epoch: 0,
            initiator: "me".into(),
            now: 100.0,
        });
        build.build_number = number;
        build.status = status;
        build.end_time = end;
        if end.is_some() {
            build.current_phase = PhaseType::Completed;
        }
        build
    }

    #[test]
    fn a_finished_build_shows_how_long_it_took() {
        let mut done = build(7, BuildStatus::Failed, Some(165.0));
        done.git_ref = Some(GitRef::Branch("main".into()));
        let row = BuildRow::of(&done, "/projects/p/builds", 1000.0);
        assert_eq!(row.number, 7);
        assert_eq!(row.url, "/projects/p/builds/u7");
        assert_eq!(row.project_url, "/projects/p");
        assert_eq!((row.status.as_str(), row.status_class), ("Failed", "bad"));
        assert_eq!(row.source_version, "main");
        assert_eq!(row.duration, "1 min 5 s");
        assert!(row.ticking.is_none());
    }

    #[test]
    fn a_running_build_ticks_from_its_start() {
        let running = build(8, BuildStatus::InProgress, None);
        let row = BuildRow::of(&running, "/b", 112.5);
        assert_eq!(row.duration, "13 s so far");
        assert_eq!(row.source_version, "Default branch");
        let ticking = row.ticking.unwrap();
        assert_eq!(
            (ticking.started.as_str(), ticking.now.as_str()),
            ("100.000", "112.500")
        );
    }

    #[test]
    fn page_keys_are_positive_numbers() {
        assert_eq!(after_of("42"), Some(42));
        assert_eq!(after_of(""), None);
        assert_eq!(after_of("-1"), None);
        assert_eq!(after_of("x"), None);
    }
}
