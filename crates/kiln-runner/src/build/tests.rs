//! Whole builds with real git repositories, real shells and the local launcher.

use super::*;
use crate::artifacts::ArtifactStoreConfig;
use crate::executor::Executor;
use kiln_domain::build::{BuildPhase, BuildSettings, ExportedVariable};
use kiln_domain::project::{EnvironmentVariable, ProjectEnvironment, ProjectSource};
use kiln_domain::refs;
use std::process::Command as StdCommand;
use std::sync::Mutex;
use std::time::Instant;

mod runtime_versions;

/// Records every state the build saved, and the reports it collected (each report group
/// gets the ARN `report/<group>`, and the export of `exports` by its name, if any).
#[derive(Default)]
struct MemorySink {
    saved: Mutex<Vec<BuildRecord>>,
    reports: Mutex<Vec<CollectedReport>>,
    exports: Vec<(String, ReportExport)>,
}

#[async_trait]
impl BuildSink for MemorySink {
    async fn save(&self, record: &BuildRecord) {
        self.saved.lock().unwrap().push(record.clone());
    }

    async fn save_reports(
        &self,
        _record: &BuildRecord,
        reports: Vec<CollectedReport>,
    ) -> Vec<Result<SavedReport, String>> {
        let arns = reports
            .iter()
            .map(|r| {
                Ok(SavedReport {
                    arn: format!("report/{}", r.group),
                    export: self
                        .exports
                        .iter()
                        .find(|(group, _)| *group == r.group)
                        .map(|(_, export)| export.clone()),
                })
            })
            .collect();
        self.reports.lock().unwrap().extend(reports);
        arns
    }
}

fn git(cwd: &Path, args: &[&str]) -> String {
    let out = StdCommand::new("git")
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Harness {
    dir: tempfile::TempDir,
    repo: PathBuf,
    settings: BuildSettings,
    minute: Duration,
    runtimes: RuntimeTable,
    secrets: Arc<dyn SecretSource>,
}

struct Finished {
    record: BuildRecord,
    log: String,
    saved: Vec<BuildRecord>,
    /// What the build handed to `save_reports`.
    reports: Vec<CollectedReport>,
    work_dir: PathBuf,
}

impl Finished {
    fn phase(&self, phase_type: PhaseType) -> &BuildPhase {
        self.record
            .phases
            .iter()
            .find(|p| p.phase_type == phase_type)
            .unwrap_or_else(|| panic!("no {phase_type:?} in {:#?}", self.record.phases))
    }

    fn phase_types(&self) -> Vec<PhaseType> {
        self.record.phases.iter().map(|p| p.phase_type).collect()
    }

    fn status_of(&self, phase_type: PhaseType) -> Option<BuildStatus> {
        self.phase(phase_type).phase_status
    }

    fn context_of(&self, phase_type: PhaseType) -> &PhaseContext {
        &self.phase(phase_type).contexts[0]
    }
}

use PhaseType::*;
const ALL_PHASES: [PhaseType; 11] = [
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
];

impl Harness {
    /// A repository whose `main` branch holds `buildspec` (if any) and a few files.
    fn new(buildspec: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("out/sub")).unwrap();
        git(&repo, &["init", "-q"]);
        if let Some(buildspec) = buildspec {
            std::fs::write(repo.join("buildspec.yml"), buildspec).unwrap();
        }
        std::fs::write(repo.join("README"), "readme\n").unwrap();
        std::fs::write(repo.join("out/a.txt"), "a\n").unwrap();
        std::fs::write(repo.join("out/sub/b.txt"), "b\n").unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "first"]);
        let settings = BuildSettings {
            source: ProjectSource {
                source_type: Some("GITHUB".to_owned()),
                location: Some(repo.display().to_string()),
                ..Default::default()
            },
            source_version: Some("main".to_owned()),
            secondary_sources: Vec::new(),
            secondary_source_versions: Vec::new(),
            artifacts: kiln_domain::project::ProjectArtifacts {
                artifacts_type: Some("NO_ARTIFACTS".to_owned()),
                ..Default::default()
            },
            secondary_artifacts: Vec::new(),
            environment: ProjectEnvironment {
                env_type: Some("LINUX_CONTAINER".to_owned()),
                image: Some("aws/codebuild/standard:7.0".to_owned()),
                compute_type: Some("BUILD_GENERAL1_SMALL".to_owned()),
                ..Default::default()
            },
            service_role: None,
            timeout_in_minutes: 60,
            queued_timeout_in_minutes: 480,
            buildspec_override: None,
            environment_variables_override: Vec::new(),
            debug_session_enabled: None,
            unapplied: Default::default(),
            logs_config: None,
            cache: None,
        };
        Self {
            dir,
            repo,
            settings,
            minute: Duration::from_secs(60),
            runtimes: RuntimeTable::default(),
            secrets: Arc::new(NoSecrets),
        }
    }

    fn store_root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn head(&self) -> String {
        git(&self.repo, &["rev-parse", "HEAD"])
    }

    fn record(&self) -> BuildRecord {
        let t = now();
        let mut record = BuildRecord {
            account_id: "123456789012".to_owned(),
            project_name: "demo".to_owned(),
            uuid: "6f1c1a4e-0000-4000-8000-000000000001".to_owned(),
            build_number: 7,
            status: BuildStatus::InProgress,
            current_phase: Submitted,
            phases: Vec::new(),
            start_time: t,
            end_time: None,
            initiator: "tester".to_owned(),
            settings: self.settings.clone(),
            resolved_source_version: None,
            git_ref: None,
            source_epoch: 0,
            artifacts: None,
            secondary_artifacts: Vec::new(),
            exported_environment_variables: Vec::new(),
            idempotency_token: None,
            trigger_variables: Vec::new(),
            report_arns: Vec::new(),
            auto_retry: Default::default(),
            agent: None,
            commit: None,
            retry_of: None,
            repository_page: None,
        };
        record.begin_phase(Submitted, t);
        record.end_phase(BuildStatus::Succeeded, None, t);
        record.begin_phase(Queued, t);
        record
    }

    fn job(&self) -> BuildJob {
        BuildJob {
            record: self.record(),
            region: "eu-west-1".to_owned(),
            work_dir: self.dir.path().join("work"),
            log_path: self.dir.path().join("build.log"),
            source_credential: None,
            local_sources: LocalSourcePolicy::anywhere_outside(self.dir.path().join("data")),
            artifact_store: Arc::new(ArtifactStore::new(ArtifactStoreConfig::Local {
                root: self.store_root(),
            })),
            minute: self.minute,
            log_link: "https://kiln.example/logs/demo".to_owned(),
            public_build_url: None,
            limits: BuildLimits::default(),
            runtimes: Arc::new(self.runtimes.clone()),
            secrets: Arc::clone(&self.secrets),
            cache: crate::cache::CacheSettings::new(
                self.dir.path().join("cache"),
                Some(0),
                crate::cache::DEFAULT_MAX_CACHE_ARCHIVE_BYTES,
            ),
        }
    }

    async fn run_with(&self, stop: CancellationToken) -> Finished {
        self.run_with_sink(MemorySink::default(), stop).await
    }

    async fn run_with_sink(&self, sink: MemorySink, stop: CancellationToken) -> Finished {
        let record = run_build(&Executor::local(), self.job(), None, &sink, stop).await;
        let log = std::fs::read_to_string(self.dir.path().join("build.log")).unwrap_or_default();
        let saved = sink.saved.into_inner().unwrap();
        let reports = sink.reports.into_inner().unwrap();
        assert!(record.is_complete());
        assert_eq!(saved.last(), Some(&record), "the final state is saved");
        Finished {
            record,
            log,
            saved,
            reports,
            work_dir: self.dir.path().join("work"),
        }
    }

    async fn run(&self) -> Finished {
        self.run_with(CancellationToken::new()).await
    }
}

fn spec(phases: &str) -> String {
    format!("version: 0.2\nphases:\n{phases}")
}

#[tokio::test]
async fn successful_build_runs_every_phase() {
    let harness = Harness::new(Some(&spec(
        "  install:\n    commands:\n      - echo installing\n  build:\n    commands:\n      - echo hello from build\n      - cd out\n  post_build:\n    commands:\n      - echo \"post in $(basename $PWD)\"\n",
    )));
    let done = harness.run().await;
    assert_eq!(done.phase_types(), ALL_PHASES);
    assert_eq!(done.record.status, BuildStatus::Succeeded);
    for phase in &done.record.phases[..10] {
        assert_eq!(
            phase.phase_status,
            Some(BuildStatus::Succeeded),
            "{phase:?}"
        );
        assert!(phase.end_time.is_some());
    }
    assert_eq!(done.record.phases[10].phase_status, None);
    assert_eq!(done.record.resolved_source_version, Some(harness.head()));
    assert_eq!(
        done.record.git_ref,
        Some(refs::GitRef::Branch("main".to_owned()))
    );
    for expected in [
        "Waiting for agent ping",
        "Phase is DOWNLOAD_SOURCE",
        "Running command echo hello from build\nhello from build\n",
        "Phase complete: BUILD State: SUCCEEDED",
        "Phase context status code:  Message: \n",
        "Entering phase POST_BUILD",
        "post in out\n",
        "Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED",
    ] {
        assert!(done.log.contains(expected), "{expected:?} in\n{}", done.log);
    }
    // Kiln's lines carry CodeBuild's timestamp format.
    let first = done.log.lines().next().unwrap();
    let stamp = first.strip_prefix("[Container] ").unwrap();
    assert_eq!(stamp.as_bytes()[4], b'/');
    assert_eq!(stamp.as_bytes()[19], b'.');
    assert_eq!(stamp.as_bytes()[26], b' ');
    assert!(!done.work_dir.exists(), "the work directory is removed");
}

#[tokio::test]
async fn failed_build_still_runs_post_build_and_upload() {
    let harness = Harness::new(Some(&spec(
        "  install:\n    commands:\n      - echo \"install succeeding=$CODEBUILD_BUILD_SUCCEEDING\"\n  build:\n    commands:\n      - exit 3\n      - echo never\n  post_build:\n    commands:\n      - echo \"post succeeding=$CODEBUILD_BUILD_SUCCEEDING\"\n",
    )));
    let done = harness.run().await;
    assert_eq!(done.phase_types(), ALL_PHASES);
    assert_eq!(done.record.status, BuildStatus::Failed);
    assert_eq!(done.status_of(Build), Some(BuildStatus::Failed));
    assert_eq!(
        done.context_of(Build),
        &PhaseContext::new(
            "COMMAND_EXECUTION_ERROR",
            "Error while executing command: exit 3. Reason: exit status 3"
        )
    );
    assert_eq!(done.status_of(PostBuild), Some(BuildStatus::Succeeded));
    assert_eq!(
        done.status_of(UploadArtifacts),
        Some(BuildStatus::Succeeded)
    );
    for expected in [
        "install succeeding=1\n",
        "Command did not exit successfully exit 3 exit status 3\n",
        "Phase complete: BUILD State: FAILED\n",
        "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: exit 3. Reason: exit status 3\n",
        "Entering phase POST_BUILD",
        "post succeeding=0\n",
    ] {
        assert!(done.log.contains(expected), "{expected:?} in\n{}", done.log);
    }
    assert!(!done.log.contains("never\n"));
}

#[tokio::test]
async fn install_failure_skips_to_finalizing() {
    let harness = Harness::new(Some(&spec(
        "  install:\n    commands:\n      - \"false\"\n  build:\n    commands:\n      - echo building\n  post_build:\n    commands:\n      - echo posting\n",
    )));
    let done = harness.run().await;
    assert_eq!(
        done.phase_types(),
        [
            Submitted,
            Queued,
            Provisioning,
            DownloadSource,
            Install,
            Finalizing,
            Completed
        ]
    );
    assert_eq!(done.status_of(Install), Some(BuildStatus::Failed));
    assert_eq!(done.status_of(Finalizing), Some(BuildStatus::Succeeded));
    assert_eq!(done.record.status, BuildStatus::Failed);
    assert!(!done.log.contains("building\n") && !done.log.contains("posting\n"));
}

#[tokio::test]
async fn finally_runs_after_a_failed_command() {
    let harness = Harness::new(Some(&spec(
        "  build:\n    commands:\n      - \"false\"\n      - echo skipped\n    finally:\n      - echo cleaning up\n",
    )));
    let done = harness.run().await;
    assert!(done.log.contains("cleaning up\n"), "{}", done.log);
    assert!(!done.log.contains("skipped\n"));
    assert_eq!(done.status_of(Build), Some(BuildStatus::Failed));
    assert!(done.context_of(Build).message.contains("command: false."));

    // A failing `finally` fails a phase whose commands succeeded.
    let harness = Harness::new(Some(&spec(
        "  build:\n    commands:\n      - echo fine\n    finally:\n      - exit 4\n",
    )));
    let done = harness.run().await;
    assert_eq!(done.status_of(Build), Some(BuildStatus::Failed));
    assert!(done.context_of(Build).message.ends_with("exit status 4"));
}

#[tokio::test]
async fn on_failure_continue_and_abort() {
    let harness = Harness::new(Some(&spec(
        "  install:\n    on-failure: CONTINUE\n    commands:\n      - \"false\"\n  pre_build:\n    commands:\n      - echo pre-build ran\n",
    )));
    let done = harness.run().await;
    assert_eq!(done.phase_types(), ALL_PHASES);
    assert_eq!(done.status_of(Install), Some(BuildStatus::Failed));
    assert!(done.log.contains("pre-build ran\n"));
    assert_eq!(done.record.status, BuildStatus::Failed);

    let harness = Harness::new(Some(&spec(
        "  build:\n    on-failure: ABORT\n    commands:\n      - \"false\"\n  post_build:\n    commands:\n      - echo post ran\n",
    )));
    let done = harness.run().await;
    assert_eq!(
        done.phase_types(),
        [
            Submitted,
            Queued,
            Provisioning,
            DownloadSource,
            Install,
            PreBuild,
            Build,
            Finalizing,
            Completed
        ]
    );
    assert!(!done.log.contains("post ran\n"));
}

#[tokio::test]
async fn yaml_error_fails_download_source_with_position() {
    let harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a\n     - echo b\n",
    ));
    let done = harness.run().await;
    assert_eq!(
        done.phase_types(),
        [
            Submitted,
            Queued,
            Provisioning,
            DownloadSource,
            Finalizing,
            Completed
        ]
    );
    assert_eq!(done.status_of(DownloadSource), Some(BuildStatus::Failed));
    let context = done.context_of(DownloadSource);
    assert_eq!(context.status_code, "YAML_FILE_ERROR");
    assert!(context.message.contains("at line 6, column"), "{context:?}");
    assert!(
        done.log
            .contains("Phase context status code: YAML_FILE_ERROR")
    );
    assert_eq!(done.record.status, BuildStatus::Failed);
}

#[tokio::test]
async fn missing_buildspec_fails_download_source() {
    let harness = Harness::new(None);
    let done = harness.run().await;
    assert_eq!(
        done.context_of(DownloadSource),
        &PhaseContext::new("YAML_FILE_ERROR", "YAML file does not exist")
    );
    assert_eq!(done.record.status, BuildStatus::Failed);
}

#[tokio::test]
async fn inline_buildspec_override_wins() {
    let mut harness = Harness::new(Some(&spec(
        "  build:\n    commands:\n      - echo from file\n",
    )));
    harness.settings.buildspec_override = Some(spec(
        "  build:\n    commands:\n      - echo from override\n",
    ));
    let done = harness.run().await;
    assert!(done.log.contains("from override\n"), "{}", done.log);
    assert!(!done.log.contains("from file\n"));

    // A path override names another file of the source.
    std::fs::write(
        harness.repo.join("other.yml"),
        spec("  build:\n    commands:\n      - echo from other\n"),
    )
    .unwrap();
    git(&harness.repo, &["add", "other.yml"]);
    git(&harness.repo, &["commit", "-q", "-m", "other"]);
    harness.settings.buildspec_override = Some("other.yml".to_owned());
    let done = harness.run().await;
    assert!(done.log.contains("from other\n"), "{}", done.log);
}

#[tokio::test]
async fn no_source_with_inline_buildspec() {
    let mut harness = Harness::new(None);
    harness.settings.source = ProjectSource {
        source_type: Some("NO_SOURCE".to_owned()),
        buildspec: Some(spec("  build:\n    commands:\n      - ls -A | wc -l\n")),
        ..Default::default()
    };
    harness.settings.source_version = None;
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    assert_eq!(done.record.resolved_source_version, None);
    assert!(done.log.contains("\n0\n"), "{}", done.log);
}

#[tokio::test]
async fn environment_precedence_and_codebuild_variables() {
    let mut harness = Harness::new(Some(
        "version: 0.2\nenv:\n  variables:\n    A: spec\n    B: spec\n    C: spec\n    D: $HOME/literal\n\
         phases:\n  build:\n    commands:\n      - echo \"vars=$A,$B,$C,$D\"\n\
         \x20     - echo \"id=$CODEBUILD_BUILD_ID number=$CODEBUILD_BUILD_NUMBER region=$AWS_REGION/$AWS_DEFAULT_REGION\"\n\
         \x20     - echo \"resolved=$CODEBUILD_RESOLVED_SOURCE_VERSION version=$CODEBUILD_SOURCE_VERSION\"\n\
         \x20     - echo \"src=$([ \"$CODEBUILD_SRC_DIR\" = \"$PWD\" ] && echo pwd) home=$([ -d \"$HOME\" ] && echo dir) log=$CODEBUILD_LOG_PATH\"\n\
         \x20     - echo \"initiator=$CODEBUILD_INITIATOR arn=$CODEBUILD_BUILD_ARN project=$CODEBUILD_PROJECT_ARN\"\n",
    ));
    harness.settings.environment.environment_variables = Some(vec![
        EnvironmentVariable {
            name: Some("A".to_owned()),
            value: Some("project".to_owned()),
            var_type: Some("PLAINTEXT".to_owned()),
        },
        EnvironmentVariable {
            name: Some("B".to_owned()),
            value: Some("project".to_owned()),
            var_type: None,
        },
    ]);
    harness.settings.environment_variables_override = vec![EnvironmentVariable {
        name: Some("A".to_owned()),
        value: Some("override".to_owned()),
        var_type: None,
    }];
    let done = harness.run().await;
    let head = harness.head();
    for expected in [
        "vars=override,project,spec,$HOME/literal\n".to_owned(),
        "id=demo:6f1c1a4e-0000-4000-8000-000000000001 number=7 region=eu-west-1/eu-west-1\n"
            .to_owned(),
        format!("resolved={head} version=main\n"),
        "src=pwd home=dir log=6f1c1a4e-0000-4000-8000-000000000001\n".to_owned(),
        "initiator=tester arn=arn:aws:codebuild:eu-west-1:123456789012:build/demo:6f1c1a4e-0000-4000-8000-000000000001 project=arn:aws:codebuild:eu-west-1:123456789012:project/demo\n".to_owned(),
    ] {
        assert!(done.log.contains(&expected), "{expected:?} in\n{}", done.log);
    }
}

#[tokio::test]
async fn exported_variables_are_captured() {
    let harness = Harness::new(Some(
        "version: 0.2\nenv:\n  exported-variables:\n    - OUT\n    - FROM_SPEC\n    - UNSET\n  variables:\n    FROM_SPEC: x\n\
         phases:\n  install:\n    commands:\n      - export OUT=first\n  build:\n    commands:\n      - OUT=\"$OUT-second\"\n",
    ));
    let done = harness.run().await;
    assert_eq!(
        done.record.exported_environment_variables,
        vec![
            ExportedVariable {
                name: "OUT".to_owned(),
                value: "first-second".to_owned()
            },
            ExportedVariable {
                name: "FROM_SPEC".to_owned(),
                value: "x".to_owned()
            },
        ]
    );
}

#[tokio::test]
async fn buildspec_warnings_are_logged_with_their_lines() {
    let harness = Harness::new(Some(&spec(
        "  build:\n    on-failure: RETRY\n    Commands:\n      - echo hi\n",
    )));
    let done = harness.run().await;
    for warning in [
        "Warning: buildspec line 4, column 5: key `phases.build.on-failure: RETRY` is not supported by Kiln and is ignored",
        "Warning: buildspec line 5, column 5: key `Commands` is read as `commands`",
    ] {
        assert!(done.log.contains(warning), "{warning}\n{}", done.log);
    }
    assert!(done.log.contains("\nhi\n"), "{}", done.log);
    assert_eq!(done.record.status, BuildStatus::Succeeded);
}

#[tokio::test]
async fn run_as_fails_its_phase_on_the_local_executor() {
    let harness = Harness::new(Some(&spec(
        "  install:\n    commands:\n      - echo as-kiln\n  build:\n    run-as: root\n    commands:\n      - echo as-root\n",
    )));
    let done = harness.run().await;
    assert!(done.log.contains("\nas-kiln\n"), "{}", done.log);
    assert!(!done.log.contains("\nas-root\n"), "{}", done.log);
    assert_eq!(done.status_of(Install), Some(BuildStatus::Succeeded));
    assert_eq!(done.status_of(Build), Some(BuildStatus::Failed));
    let context = done.context_of(Build);
    assert_eq!(context.status_code, "CLIENT_ERROR");
    assert!(
        context.message.contains("run-as root: the local executor")
            && context.message.contains("run-as needs the Docker executor"),
        "{}",
        context.message
    );
    assert!(done.log.contains(&context.message), "{}", done.log);
    assert_eq!(done.record.status, BuildStatus::Failed);
}

#[tokio::test]
async fn version_0_1_runs_each_command_in_a_fresh_shell() {
    let harness = Harness::new(Some(
        "version: 0.1\nphases:\n  build:\n    commands:\n      - cd out && export X=1\n      - echo \"at $(basename $PWD) x=$X\"\n",
    ));
    let done = harness.run().await;
    assert!(done.log.contains("at src x=\n"), "{}", done.log);
}

#[tokio::test]
async fn timeout_ends_the_build_as_timed_out() {
    let mut harness = Harness::new(Some(&spec(
        "  build:\n    commands:\n      - sleep 30\n  post_build:\n    commands:\n      - echo post\n",
    )));
    harness.minute = Duration::from_secs(2);
    harness.settings.timeout_in_minutes = 1;
    let started = Instant::now();
    let done = harness.run().await;
    assert!(started.elapsed() < Duration::from_secs(12));
    assert_eq!(done.record.status, BuildStatus::TimedOut);
    assert_eq!(done.status_of(Build), Some(BuildStatus::TimedOut));
    assert_eq!(done.context_of(Build).status_code, "BUILD_TIMED_OUT");
    assert!(
        done.context_of(Build)
            .message
            .starts_with("Build has timed out.")
    );
    assert_eq!(
        done.phase_types(),
        [
            Submitted,
            Queued,
            Provisioning,
            DownloadSource,
            Install,
            PreBuild,
            Build,
            Finalizing,
            Completed
        ]
    );
    assert!(done.log.contains("Phase complete: BUILD State: TIMED_OUT"));
    assert!(!done.work_dir.exists());
}

#[tokio::test]
async fn stop_ends_the_build_within_five_seconds() {
    let harness = Harness::new(Some(&spec(
        "  build:\n    commands:\n      - sleep 60 & sleep 60\n",
    )));
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let log_path = harness.dir.path().join("build.log");
    // Stops once the command runs; times from there.
    let stopped_at = tokio::spawn(async move {
        while !std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("Running command sleep")
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.cancel();
        Instant::now()
    });
    let done = harness.run_with(stop).await;
    let stopped_at = stopped_at.await.unwrap();
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopped_at.elapsed()
    );
    assert_eq!(done.record.status, BuildStatus::Stopped);
    assert_eq!(done.status_of(Build), Some(BuildStatus::Stopped));
    assert_eq!(done.context_of(Build).status_code, "BUILD_STOPPED");
    assert!(!done.work_dir.exists());
}

#[tokio::test]
async fn stop_before_start_never_runs() {
    let harness = Harness::new(Some(&spec("  build:\n    commands:\n      - echo ran\n")));
    let stop = CancellationToken::new();
    stop.cancel();
    let done = harness.run_with(stop).await;
    assert_eq!(done.record.status, BuildStatus::Stopped);
    assert_eq!(done.phase_types(), [Submitted, Queued, Completed]);
    assert!(!done.log.contains("ran\n"));
}

#[tokio::test]
async fn sink_sees_progress_in_order() {
    let harness = Harness::new(Some(&spec("  build:\n    commands:\n      - echo hi\n")));
    let done = harness.run().await;
    let (running, last) = done.saved.split_at(done.saved.len() - 1);
    assert!(running.iter().all(|r| r.status == BuildStatus::InProgress));
    assert_eq!(last[0].status, BuildStatus::Succeeded);
    let mut current: Vec<PhaseType> = running.iter().map(|r| r.current_phase).collect();
    current.dedup();
    assert_eq!(current, ALL_PHASES[2..10]);
    // Each phase is saved open (while it runs) before it is saved ended.
    let build_open = running
        .iter()
        .position(|r| r.current_phase == Build && r.phases.last().unwrap().end_time.is_none())
        .unwrap();
    let build_ended = running
        .iter()
        .position(|r| r.current_phase == Build && r.phases.last().unwrap().end_time.is_some())
        .unwrap();
    assert!(build_open < build_ended);
    // The source is saved as soon as it is resolved.
    let resolved = running
        .iter()
        .position(|r| r.resolved_source_version.is_some())
        .unwrap();
    assert_eq!(running[resolved].current_phase, DownloadSource);
}

#[tokio::test]
async fn preset_git_ref_is_kept_and_tags_are_recorded() {
    let mut harness = Harness::new(Some(&spec("  build:\n    commands:\n      - echo hi\n")));
    git(&harness.repo, &["tag", "v1.0"]);
    harness.settings.source_version = Some("v1.0".to_owned());
    let done = harness.run().await;
    assert_eq!(
        done.record.git_ref,
        Some(refs::GitRef::Tag("v1.0".to_owned()))
    );

    harness.settings.source_version = Some(harness.head());
    let done = harness.run().await;
    assert_eq!(done.record.git_ref, None);
    assert_eq!(done.record.resolved_source_version, Some(harness.head()));

    let sink = MemorySink::default();
    let mut job = harness.job();
    job.record.git_ref = Some(refs::GitRef::Branch("from-webhook".to_owned()));
    let record = run_build(
        &Executor::local(),
        job,
        None,
        &sink,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        record.git_ref,
        Some(refs::GitRef::Branch("from-webhook".to_owned()))
    );
}

#[tokio::test]
async fn unknown_source_version_is_a_client_error() {
    let mut harness = Harness::new(Some(&spec("  build:\n    commands:\n      - echo hi\n")));
    harness.settings.source_version = Some("no-such-branch".to_owned());
    let done = harness.run().await;
    let context = done.context_of(DownloadSource);
    assert_eq!(context.status_code, "CLIENT_ERROR");
    assert!(context.message.contains("no-such-branch"), "{context:?}");
}

fn s3_artifacts(bucket: &str) -> kiln_domain::project::ProjectArtifacts {
    kiln_domain::project::ProjectArtifacts {
        artifacts_type: Some("S3".to_owned()),
        location: Some(bucket.to_owned()),
        ..Default::default()
    }
}

fn zip_entries(path: &Path) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut content = String::new();
        std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
        entries.push((entry.name().unwrap().into_owned(), content));
    }
    entries.sort();
    entries
}

#[tokio::test]
async fn artifacts_are_zipped_and_uploaded() {
    let mut harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built > out/built.txt\n      - echo log > out/sub/debug.log\n\
         artifacts:\n  files:\n    - '**/*'\n  base-directory: out\n  exclude-paths:\n    - '**/*.log'\n  name: from-spec.zip\n\
         \x20 secondary-artifacts:\n    flat:\n      files:\n        - out/**/*.txt\n      discard-paths: yes\n",
    ));
    harness.settings.artifacts = kiln_domain::project::ProjectArtifacts {
        path: Some("builds".to_owned()),
        namespace_type: Some("BUILD_ID".to_owned()),
        name: Some("app.zip".to_owned()),
        packaging: Some("ZIP".to_owned()),
        ..s3_artifacts("artifact-bucket")
    };
    harness.settings.secondary_artifacts = vec![kiln_domain::project::ProjectArtifacts {
        name: Some("flat".to_owned()),
        artifact_identifier: Some("flat".to_owned()),
        ..s3_artifacts("other-bucket")
    }];
    let done = harness.run().await;
    assert_eq!(
        done.status_of(UploadArtifacts),
        Some(BuildStatus::Succeeded),
        "{}",
        done.log
    );
    let uuid = &done.record.uuid;
    let artifacts = done.record.artifacts.clone().unwrap();
    assert_eq!(
        artifacts.location.as_deref(),
        Some(format!("arn:aws:s3:::artifact-bucket/builds/{uuid}/app.zip").as_str())
    );
    assert_eq!(artifacts.sha256sum.as_ref().map(String::len), Some(64));
    let zip_path = harness
        .store_root()
        .join(format!("artifact-bucket/builds/{uuid}/app.zip"));
    assert_eq!(
        zip_entries(&zip_path),
        [
            ("a.txt".to_owned(), "a\n".to_owned()),
            ("built.txt".to_owned(), "built\n".to_owned()),
            ("sub/b.txt".to_owned(), "b\n".to_owned()),
        ]
    );
    let secondary = &done.record.secondary_artifacts;
    assert_eq!(secondary.len(), 1);
    assert_eq!(secondary[0].artifact_identifier.as_deref(), Some("flat"));
    let flat = harness.store_root().join("other-bucket/flat");
    let mut names: Vec<_> = std::fs::read_dir(&flat)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "b.txt", "built.txt"]);
}

#[tokio::test]
async fn missing_artifact_files_fail_upload_after_a_failed_build() {
    let mut harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 1\nartifacts:\n  files:\n    - nothing/**/*\n",
    ));
    harness.settings.artifacts = kiln_domain::project::ProjectArtifacts {
        name: Some("x.zip".to_owned()),
        packaging: Some("ZIP".to_owned()),
        ..s3_artifacts("artifact-bucket")
    };
    let done = harness.run().await;
    assert_eq!(done.status_of(UploadArtifacts), Some(BuildStatus::Failed));
    let context = done.context_of(UploadArtifacts);
    assert_eq!(context.status_code, "CLIENT_ERROR");
    assert!(
        context.message.contains("no matching artifact paths"),
        "{context:?}"
    );
    assert_eq!(done.status_of(Finalizing), Some(BuildStatus::Succeeded));
}

#[tokio::test]
async fn overriding_artifact_name_is_expanded_by_the_shell() {
    let mut harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - export FLAVOUR=blue\n\
         artifacts:\n  files:\n    - README\n  name: app-$CODEBUILD_BUILD_NUMBER-$FLAVOUR.zip\n",
    ));
    harness.settings.artifacts = kiln_domain::project::ProjectArtifacts {
        name: Some("ignored.zip".to_owned()),
        packaging: Some("ZIP".to_owned()),
        override_artifact_name: Some(true),
        ..s3_artifacts("artifact-bucket")
    };
    let done = harness.run().await;
    assert_eq!(
        done.record.artifacts.unwrap().location.as_deref(),
        Some("arn:aws:s3:::artifact-bucket/app-7-blue.zip"),
        "{}",
        done.log
    );
    assert_eq!(
        zip_entries(&harness.store_root().join("artifact-bucket/app-7-blue.zip")),
        [("README".to_owned(), "readme\n".to_owned())]
    );
}

#[tokio::test]
async fn leftovers_in_the_work_dir_are_cleared_and_an_unopenable_log_is_a_fault() {
    let harness = Harness::new(Some(&spec("  build:\n    commands:\n      - echo hi\n")));
    std::fs::create_dir_all(harness.dir.path().join("work/src/stale")).unwrap();
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);

    let sink = MemorySink::default();
    let mut job = harness.job();
    job.log_path = harness.dir.path().join("no/such/dir/build.log");
    let record = run_build(
        &Executor::local(),
        job,
        None,
        &sink,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(record.status, BuildStatus::Fault);
    let provisioning = &record.phases[2];
    assert_eq!(provisioning.phase_type, Provisioning);
    assert_eq!(provisioning.contexts[0].status_code, "SERVER_ERROR");
}

mod confinement;
mod reports;
mod secrets;
