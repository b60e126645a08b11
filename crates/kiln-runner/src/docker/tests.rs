//! Tests against the machine's real Docker Engine, with a busybox image built here (the Engine
//! cannot pull). Set `KILN_SKIP_DOCKER_TESTS=1` on a machine without an Engine.

use super::*;
use crate::build_user::UidRange;
use crate::executor::{Environment, Executor, ExecutorChoice};
use crate::shell::{CommandOutcome, Semantics, SessionConfig, Shell, ShellSession};
use std::sync::Mutex;

const TEST_IMAGE: &str = "kiln-test-busybox:latest";
/// A file only the test image has.
const IMAGE_MARKER: &str = "/etc/kiln-test-image";

static IMAGE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

fn skip() -> bool {
    std::env::var_os("KILN_SKIP_DOCKER_TESTS").is_some_and(|v| v == "1")
}

/// Imports `kiln-test-busybox:latest` (a root file system of Debian's static busybox and its
/// applet links) unless the Engine has it.
async fn ensure_test_image(docker: &Docker) {
    IMAGE
        .get_or_init(|| async {
            if docker.inspect_image(TEST_IMAGE).await.is_ok() {
                return;
            }
            let root = tempfile::tempdir().unwrap();
            let bin = root.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for dir in ["etc", "tmp", "root"] {
                std::fs::create_dir_all(root.path().join(dir)).unwrap();
            }
            std::fs::copy("/bin/busybox", bin.join("busybox"))
                .expect("install busybox-static: apt-get install -y busybox-static");
            let applets = std::process::Command::new("/bin/busybox")
                .arg("--list")
                .output()
                .unwrap();
            for applet in String::from_utf8(applets.stdout).unwrap().lines() {
                if applet != "busybox" {
                    std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
                }
            }
            std::fs::write(
                root.path().join(IMAGE_MARKER.trim_start_matches('/')),
                "kiln busybox\n",
            )
            .unwrap();
            let tar = std::process::Command::new("tar")
                .arg("-C")
                .arg(root.path())
                .args(["-cf", "-", "."])
                .output()
                .unwrap();
            assert!(tar.status.success());
            let options = CreateImageOptions {
                from_src: Some("-".to_owned()),
                repo: Some("kiln-test-busybox".to_owned()),
                tag: Some("latest".to_owned()),
                ..Default::default()
            };
            let mut import = docker.create_image(
                Some(options),
                Some(bollard::body_full(tar.stdout.into())),
                None,
            );
            while let Some(progress) = import.next().await {
                progress.unwrap();
            }
        })
        .await;
}

/// An executor with its own instance label, so tests do not reap each other's containers.
async fn executor() -> DockerExecutor {
    let config = DockerConfig {
        instance: format!("kiln-test-{}", uuid_like()),
        ..Default::default()
    };
    let executor = DockerExecutor::connect(&config)
        .await
        .expect("a Docker Engine (or set KILN_SKIP_DOCKER_TESTS=1)");
    ensure_test_image(&executor.docker).await;
    executor
}

fn uuid_like() -> String {
    let dir = tempfile::Builder::new().prefix("").tempdir().unwrap();
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

fn environment(image: &str, compute_type: &str) -> ProjectEnvironment {
    ProjectEnvironment {
        env_type: Some("LINUX_CONTAINER".to_owned()),
        image: Some(image.to_owned()),
        compute_type: Some(compute_type.to_owned()),
        ..Default::default()
    }
}

/// One build: its directory, log, container and shell session.
struct Build {
    dir: tempfile::TempDir,
    log: std::fs::File,
    lines: Arc<Mutex<Vec<String>>>,
    container: BuildContainer,
    session: ShellSession,
    cancel: CancellationToken,
}

impl Build {
    async fn start(executor: &DockerExecutor, environment: &ProjectEnvironment) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        let log_path = dir.path().join("build.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let uuid = uuid_like();
        let request = ProvisionRequest {
            build_uuid: &uuid,
            environment,
            work_dir: dir.path(),
            output_path: &log_path,
            registry_auth: None,
            layer_cache: None,
        };
        let container = executor
            .provision(
                &request,
                &move |line: &str| sink.lock().unwrap().push(line.to_owned()),
                &CancellationToken::new(),
            )
            .await
            .unwrap();
        let mut env = container.image_variables().to_vec();
        env.push((
            "CODEBUILD_SRC_DIR".to_owned(),
            src.to_string_lossy().into_owned(),
        ));
        let config = SessionConfig {
            state_dir: dir.path().join("shell"),
            initial_cwd: src,
            env,
            shell: Shell::Sh,
            semantics: Semantics::SharedSession,
        };
        let session = ShellSession::new(config, container.launcher()).unwrap();
        Self {
            dir,
            log,
            lines,
            container,
            session,
            cancel: CancellationToken::new(),
        }
    }

    async fn run(&mut self, command: &str) -> CommandOutcome {
        self.session
            .run(command, &self.log, &self.cancel)
            .await
            .unwrap()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("build.log")).unwrap()
    }

    fn provision_log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
}

async fn container_exists(executor: &DockerExecutor, id: &str) -> bool {
    executor.docker.inspect_container(id, None).await.is_ok()
}

#[tokio::test]
async fn commands_run_in_the_image_with_shell_semantics() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut build = Build::start(&executor, &environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL")).await;
    assert!(
        build
            .provision_log()
            .contains(&format!("image {TEST_IMAGE}"))
    );
    for command in [
        &format!("cat {IMAGE_MARKER}"),
        // The image's busybox, not the host's bash or coreutils.
        "readlink /bin/cat",
        "! command -v bash",
        "mkdir -p 'a b' && cd 'a b'",
        "export EXPORTED=x; PLAIN=y; echo made > file",
        "echo \"in $(pwd) with $EXPORTED$PLAIN\"",
    ] {
        assert_eq!(
            build.run(command).await,
            CommandOutcome::Exited(0),
            "{command}"
        );
    }
    assert_eq!(build.run("exit 3").await, CommandOutcome::Exited(3));
    assert_eq!(build.run("false").await, CommandOutcome::Exited(1));
    let log = build.log_text();
    assert!(log.contains("kiln busybox\n"), "{log}");
    assert!(log.contains("busybox\n"), "{log}");
    let cwd = build.src().join("a b");
    assert!(
        log.contains(&format!("in {} with xy\n", cwd.display())),
        "{log}"
    );
    // Files the build makes are in the host's work directory.
    assert_eq!(std::fs::read_to_string(cwd.join("file")).unwrap(), "made\n");
    assert_eq!(build.session.var("EXPORTED").as_deref(), Some("x"));
    // The imported image sets no PATH: Docker's default, not the host's.
    assert_eq!(
        build.container.image_variables(),
        [(
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()
        )]
    );
    assert_eq!(
        build.session.var("PATH").as_deref(),
        Some("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    );
    let id = build.container.id().to_owned();
    build.session.shutdown().await;
    build.container.teardown().await;
    assert!(!container_exists(&executor, &id).await);
    build.container.teardown().await;
}

#[tokio::test]
async fn background_jobs_do_not_hold_up_their_command() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut build = Build::start(&executor, &environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL")).await;
    let started = Instant::now();
    assert_eq!(
        build.run("(sleep 1; echo late) & echo early").await,
        CommandOutcome::Exited(0)
    );
    assert!(started.elapsed() < Duration::from_millis(900));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The job kept writing to the log after its command ended.
    assert_eq!(build.log_text(), "early\nlate\n");
    build.container.teardown().await;
}

#[tokio::test]
async fn missing_image_fails_provisioning_clearly() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("build.log");
    std::fs::write(&log_path, "").unwrap();
    let environment = environment("kiln-test-no-such-image:1", "BUILD_GENERAL1_SMALL");
    let lines = Mutex::new(Vec::new());
    let request = ProvisionRequest {
        build_uuid: "missing",
        environment: &environment,
        work_dir: dir.path(),
        output_path: &log_path,
        registry_auth: Some(&RegistryAuth {
            username: "user".to_owned(),
            password: SecretString::from("hunter2-secret"),
            server: None,
        }),
        layer_cache: None,
    };
    let err = executor
        .provision(
            &request,
            &|line: &str| lines.lock().unwrap().push(line.to_owned()),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(err.is_client_error());
    let message = err.to_string();
    assert!(
        message.starts_with("cannot pull image kiln-test-no-such-image:1: "),
        "{message}"
    );
    let logged = lines.lock().unwrap().join("\n");
    assert!(
        logged.contains("Pulling image kiln-test-no-such-image:1"),
        "{logged}"
    );
    assert!(!logged.contains("hunter2") && !message.contains("hunter2"));
    assert!(!format!("{request:?}").contains("hunter2"));
}

#[tokio::test]
async fn unavailable_platforms_fail_provisioning() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let dir = tempfile::tempdir().unwrap();
    let foreign = match Architecture::parse(&executor.host_architecture) {
        Some(Architecture::Arm64) => "LINUX_CONTAINER",
        _ => "ARM_CONTAINER",
    };
    for env_type in [foreign, "WINDOWS_SERVER_2022_CONTAINER"] {
        let mut environment = environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL");
        environment.env_type = Some(env_type.to_owned());
        let request = ProvisionRequest {
            build_uuid: "platform",
            environment: &environment,
            work_dir: dir.path(),
            output_path: dir.path(),
            registry_auth: None,
            layer_cache: None,
        };
        let err = executor
            .provision(&request, &|_: &str| {}, &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(err.is_client_error(), "{err}");
        assert!(
            matches!(
                err,
                ProvisionError::PlatformUnavailable { .. } | ProvisionError::UnsupportedType(_)
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn compute_limits_are_visible_inside() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut build =
        Build::start(&executor, &environment(TEST_IMAGE, "BUILD_GENERAL1_MEDIUM")).await;
    let limits = [
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/memory.max",
        "echo $(( $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max) * 1000 / $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cut -d' ' -f2 /sys/fs/cgroup/cpu.max) ))",
    ];
    for command in limits {
        assert_eq!(
            build.run(command).await,
            CommandOutcome::Exited(0),
            "{command}"
        );
    }
    let cpus = executor.host_limits.millicpus.min(4000);
    assert_eq!(
        build.log_text(),
        format!("{}\n{cpus}\n", 7 * 1024 * 1024 * 1024_u64)
    );
    let provision_log = build.provision_log();
    if executor.host_limits.millicpus < 4000 {
        assert!(
            provision_log.contains("Compute type BUILD_GENERAL1_MEDIUM asks for 4 vCPU, 7 GiB memory; capped at this host's"),
            "{provision_log}"
        );
    }
    build.container.teardown().await;
}

#[tokio::test]
async fn cancelling_a_command_removes_the_container_at_once() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut build = Build::start(&executor, &environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL")).await;
    let id = build.container.id().to_owned();
    let cancel = build.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    assert_eq!(
        build.run("trap '' TERM; sleep 1000").await,
        CommandOutcome::Cancelled
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!container_exists(&executor, &id).await);
    // Teardown after a stop is harmless.
    build.container.teardown().await;
}

#[tokio::test]
async fn reaping_removes_leftovers_of_this_instance_only() {
    if skip() {
        return;
    }
    let crashed = executor().await;
    let other = executor().await;
    let environment = environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL");
    let leftover = Build::start(&crashed, &environment).await;
    let kept = Build::start(&other, &environment).await;
    let (leftover_id, kept_id) = (
        leftover.container.id().to_owned(),
        kept.container.id().to_owned(),
    );
    // A crash: the build's state is lost without teardown.
    drop(leftover);
    assert!(container_exists(&crashed, &leftover_id).await);
    assert_eq!(crashed.reap_orphans().await.unwrap(), 1);
    assert!(!container_exists(&crashed, &leftover_id).await);
    assert!(container_exists(&other, &kept_id).await);
    kept.container.teardown().await;
}

#[tokio::test]
async fn unprivileged_containers_cannot_reach_the_engine() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut build = Build::start(&executor, &environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL")).await;
    for socket in ["/var/run/docker.sock", "/run/docker.sock"] {
        assert_ne!(
            build.run(&format!("ls {socket}")).await,
            CommandOutcome::Exited(0),
            "{socket}"
        );
    }
    assert_eq!(
        build
            .run("grep -q 'NoNewPrivs:.*1' /proc/self/status")
            .await,
        CommandOutcome::Exited(0)
    );
    // Not privileged: no access to the host's devices.
    assert_ne!(
        build
            .run("ls /dev/sda /dev/vda /dev/nvme0n1 /dev/mem")
            .await,
        CommandOutcome::Exited(0)
    );
    build.container.teardown().await;
}

#[tokio::test]
async fn privileged_mode_gives_every_capability() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let mut privileged = environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL");
    privileged.privileged_mode = Some(true);
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("build.log");
    std::fs::write(&log_path, "").unwrap();
    let request = ProvisionRequest {
        build_uuid: &uuid_like(),
        environment: &privileged,
        work_dir: dir.path(),
        output_path: &log_path,
        registry_auth: None,
        layer_cache: None,
    };
    let lines = Mutex::new(Vec::new());
    let provisioned = executor
        .provision(
            &request,
            &|line: &str| lines.lock().unwrap().push(line.to_owned()),
            &CancellationToken::new(),
        )
        .await;
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Privileged mode"))
    );
    match provisioned {
        Ok(container) => {
            let docker = &executor.docker;
            let caps = docker
                .inspect_container(container.id(), None)
                .await
                .unwrap();
            assert_eq!(caps.host_config.unwrap().privileged, Some(true));
            container.teardown().await;
        }
        // An Engine that itself runs without every capability (as on Kiln's CI machines)
        // cannot make privileged containers; the failure must say why and leave nothing.
        Err(ProvisionError::Container(message)) => {
            assert!(message.contains("caps"), "{message}");
            let name = container_name(request.build_uuid);
            assert!(
                executor
                    .docker
                    .inspect_container(&name, None)
                    .await
                    .is_err()
            );
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn builds_cannot_see_each_other() {
    if skip() {
        return;
    }
    let executor = executor().await;
    let environment = environment(TEST_IMAGE, "BUILD_GENERAL1_SMALL");
    let mut first = Build::start(&executor, &environment).await;
    let mut second = Build::start(&executor, &environment).await;
    assert_eq!(
        first.run("echo secret > mine").await,
        CommandOutcome::Exited(0)
    );
    let mine = first.src().join("mine");
    assert!(mine.exists());
    assert_ne!(
        second.run(&format!("cat {}", mine.display())).await,
        CommandOutcome::Exited(0)
    );
    assert_ne!(
        second
            .run(&format!("ls {}", first.dir.path().display()))
            .await,
        CommandOutcome::Exited(0)
    );
    first.container.teardown().await;
    second.container.teardown().await;
}

#[tokio::test]
async fn executor_selection_and_local_environment() {
    if skip() {
        return;
    }
    assert!(engine_available().await);
    assert_eq!(
        "AUTO".parse::<ExecutorChoice>().unwrap(),
        ExecutorChoice::Auto
    );
    assert!("podman".parse::<ExecutorChoice>().is_err());
    let local = Executor::select(
        ExecutorChoice::Local,
        &DockerConfig::default(),
        UidRange::DEFAULT,
    )
    .await
    .unwrap();
    assert_eq!(local.name(), "local");
    let config = DockerConfig {
        instance: format!("kiln-test-{}", uuid_like()),
        ..Default::default()
    };
    let auto = Executor::select(ExecutorChoice::Auto, &config, UidRange::DEFAULT)
        .await
        .unwrap();
    assert_eq!(auto.name(), "docker");

    let dir = tempfile::tempdir().unwrap();
    let environment = environment("aws/codebuild/standard:7.0", "BUILD_GENERAL1_SMALL");
    let lines = Mutex::new(Vec::new());
    let request = ProvisionRequest {
        build_uuid: "local",
        environment: &environment,
        work_dir: dir.path(),
        output_path: dir.path(),
        registry_auth: None,
        layer_cache: None,
    };
    let provisioned = local
        .provision(
            &request,
            &|line: &str| lines.lock().unwrap().push(line.to_owned()),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(matches!(provisioned, Environment::Local { .. }));
    assert!(!provisioned.is_container());
    assert!(lines.lock().unwrap()[0].contains("local executor"));
    provisioned.teardown().await;
}

/// Whole builds through the orchestrator with the Docker executor.
mod builds {
    use super::*;
    use crate::artifacts::{ArtifactStore, ArtifactStoreConfig};
    use crate::build::{BuildJob, BuildLimits, BuildSink, run_build};
    use crate::local_source::LocalSourcePolicy;
    use kiln_domain::build::{BuildRecord, BuildSettings, BuildStatus, PhaseType, context_codes};
    use kiln_domain::project::{ProjectArtifacts, ProjectSource};

    struct NoSink;

    #[async_trait::async_trait]
    impl BuildSink for NoSink {
        async fn save(&self, _record: &BuildRecord) {}

        async fn save_reports(
            &self,
            _record: &BuildRecord,
            _reports: Vec<kiln_reports::CollectedReport>,
        ) -> Vec<Result<crate::build::SavedReport, String>> {
            Vec::new()
        }
    }

    fn git(cwd: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .args(["-c", "init.defaultBranch=main", "-c", "user.name=T"])
            .args(["-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(cwd)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", cwd)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    struct Finished {
        record: BuildRecord,
        log: String,
    }

    /// Runs a build of a repository holding `buildspec` and a README, in `image`.
    async fn run(
        executor: &Executor,
        image: &str,
        buildspec: &str,
        minute: Duration,
        stop: CancellationToken,
    ) -> Finished {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("buildspec.yml"), buildspec).unwrap();
        std::fs::write(repo.join("README"), "readme from the repository\n").unwrap();
        git(&repo, &["init", "-q"]);
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
            artifacts: ProjectArtifacts {
                artifacts_type: Some("NO_ARTIFACTS".to_owned()),
                ..Default::default()
            },
            secondary_artifacts: Vec::new(),
            environment: environment(image, "BUILD_GENERAL1_SMALL"),
            service_role: None,
            timeout_in_minutes: 5,
            queued_timeout_in_minutes: 480,
            buildspec_override: None,
            environment_variables_override: Vec::new(),
            debug_session_enabled: None,
            unapplied: Default::default(),
            logs_config: None,
            cache: None,
        };
        let t = 1.0e9;
        let mut record = BuildRecord {
            account_id: "123456789012".to_owned(),
            project_name: "demo".to_owned(),
            uuid: format!("{}-docker", uuid_like()),
            build_number: 1,
            status: BuildStatus::InProgress,
            current_phase: PhaseType::Submitted,
            phases: Vec::new(),
            start_time: t,
            end_time: None,
            initiator: "tester".to_owned(),
            settings,
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
        record.begin_phase(PhaseType::Submitted, t);
        record.end_phase(BuildStatus::Succeeded, None, t);
        record.begin_phase(PhaseType::Queued, t);
        let job = BuildJob {
            record,
            region: "eu-west-1".to_owned(),
            work_dir: dir.path().join("work"),
            log_path: dir.path().join("build.log"),
            source_credential: None,
            local_sources: LocalSourcePolicy::anywhere_outside(dir.path().join("data")),
            artifact_store: Arc::new(ArtifactStore::new(ArtifactStoreConfig::Local {
                root: dir.path().join("store"),
            })),
            minute,
            log_link: "https://kiln.example/logs".to_owned(),
            public_build_url: None,
            limits: BuildLimits::default(),
            runtimes: Default::default(),
            secrets: Arc::new(crate::build::NoSecrets),
            cache: crate::cache::CacheSettings::new(
                dir.path().join("cache"),
                Some(0),
                crate::cache::DEFAULT_MAX_CACHE_ARCHIVE_BYTES,
            ),
        };
        let record = run_build(executor, job, None, &NoSink, stop).await;
        let log = std::fs::read_to_string(dir.path().join("build.log")).unwrap();
        assert!(
            !dir.path().join("work").exists(),
            "the work directory is removed"
        );
        Finished { record, log }
    }

    async fn docker_executor() -> (Executor, Arc<DockerExecutor>) {
        let executor = Arc::new(executor().await);
        (Executor::Docker(executor.clone()), executor)
    }

    /// Containers of this executor's instance, running or not.
    async fn containers(executor: &DockerExecutor) -> usize {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![format!("{INSTANCE_LABEL}={}", executor.instance)],
        )]);
        executor
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn build_runs_in_the_image_with_the_source_mounted() {
        if skip() {
            return;
        }
        let (executor, docker) = docker_executor().await;
        let spec = "version: 0.2\nenv:\n  shell: sh\n  variables:\n    GREETING: hi\n\
                    phases:\n  build:\n    commands:\n      - cat /etc/kiln-test-image\n\
                    \x20     - test \"$CODEBUILD_SRC_DIR\" = \"$PWD\" && cat README\n\
                    \x20     - echo \"$GREETING from $(readlink /bin/sh) home=$HOME\"\n\
                    \x20     - false\n  post_build:\n    commands:\n      - echo post ran\n";
        let done = run(
            &executor,
            TEST_IMAGE,
            spec,
            Duration::from_secs(60),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(done.record.status, BuildStatus::Failed, "{}", done.log);
        for expected in [
            "Running on Kiln, docker executor: image kiln-test-busybox:latest, platform linux/amd64",
            "kiln busybox\n",
            "readme from the repository\n",
            "hi from busybox home=/\n",
            "Phase complete: BUILD State: FAILED",
            "post ran\n",
        ] {
            assert!(done.log.contains(expected), "{expected:?} in\n{}", done.log);
        }
        assert_eq!(containers(&docker).await, 0, "the container is removed");
    }

    #[tokio::test]
    async fn missing_image_fails_provisioning_with_a_client_error() {
        if skip() {
            return;
        }
        let (executor, _) = docker_executor().await;
        let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo never\n";
        let done = run(
            &executor,
            "kiln-test-no-such-image:2",
            spec,
            Duration::from_secs(60),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(done.record.status, BuildStatus::Failed);
        let provisioning = done
            .record
            .phases
            .iter()
            .find(|p| p.phase_type == PhaseType::Provisioning)
            .unwrap();
        assert_eq!(provisioning.phase_status, Some(BuildStatus::Failed));
        let context = &provisioning.contexts[0];
        assert_eq!(context.status_code, context_codes::CLIENT_ERROR);
        assert!(
            context
                .message
                .contains("cannot pull image kiln-test-no-such-image:2"),
            "{context:?}"
        );
        assert!(!done.log.contains("never\n"));
    }

    #[tokio::test]
    async fn stop_and_timeout_leave_no_container() {
        if skip() {
            return;
        }
        let (executor, docker) = docker_executor().await;
        let spec = "version: 0.2\nenv:\n  shell: sh\nphases:\n  build:\n    commands:\n      - echo started; sleep 1000\n";
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        let watcher = docker.clone();
        tokio::spawn(async move {
            while containers(&watcher).await == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            stopper.cancel();
        });
        let started = Instant::now();
        let done = run(&executor, TEST_IMAGE, spec, Duration::from_secs(60), stop).await;
        assert_eq!(done.record.status, BuildStatus::Stopped, "{}", done.log);
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(containers(&docker).await, 0);

        // Five "minutes" of 200 ms.
        let done = run(
            &executor,
            TEST_IMAGE,
            spec,
            Duration::from_millis(200),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(done.record.status, BuildStatus::TimedOut, "{}", done.log);
        assert_eq!(containers(&docker).await, 0);
    }
}

#[test]
fn an_image_without_path_gets_dockers_default_and_one_with_path_keeps_it() {
    let none = super::image_variables(vec!["HOME=/root".into(), "junk".into()]);
    assert_eq!(
        none,
        [
            ("HOME".to_owned(), "/root".to_owned()),
            ("PATH".to_owned(), super::DOCKER_DEFAULT_PATH.to_owned())
        ]
    );
    let own = super::image_variables(vec!["PATH=/opt/bin".into()]);
    assert_eq!(own, [("PATH".to_owned(), "/opt/bin".to_owned())]);
}

mod run_as;
