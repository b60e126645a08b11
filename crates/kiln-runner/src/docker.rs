//! The Docker executor: each build runs in a container of its project's environment image,
//! through the Docker Engine API (`bollard`).
//!
//! Provisioning pulls the image if it is missing, then starts a container that idles until the
//! build's commands are run in it with the exec API. The build's work directory and its output
//! pipe (a FIFO whose other end Kiln reads into the log) are bind-mounted at their host paths, so
//! `CODEBUILD_SRC_DIR`, the shell session's state files and the pipe have the same paths inside
//! and out: the source is checked out on the host, and artifacts are collected on the host. The
//! log file itself is not in the container. Every container carries the [`MANAGED_LABEL`],
//! [`INSTANCE_LABEL`] and [`BUILD_LABEL`] labels, so a crash's leftovers can be reaped.

mod exec;
mod run_as;
mod spec;
#[cfg(test)]
mod tests;

pub use spec::{
    Architecture, ComputeLimits, ImageTable, PlatformRequest, UnsupportedEnvironmentType,
};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as EngineError;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions,
};
use futures::StreamExt;
use kiln_domain::project::ProjectEnvironment;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::shell::Launcher;
use exec::ContainerLauncher;

/// Label on everything Kiln creates in the Engine.
pub const MANAGED_LABEL: &str = "kiln.managed";
/// Label naming the Kiln instance that created a container (reaping touches only its own).
pub const INSTANCE_LABEL: &str = "kiln.instance";
/// Label naming the build (its uuid) a container runs.
pub const BUILD_LABEL: &str = "kiln.build";
/// Label naming the project (a digest) whose Docker layer cache a volume is.
pub const LAYER_CACHE_LABEL: &str = "kiln.layer-cache";
/// Instance name used when the configuration gives none.
pub const DEFAULT_INSTANCE: &str = "kiln";

/// How long `engine_available` waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Engine request timeout in seconds (pulls stream for longer; each read must be quicker).
const ENGINE_TIMEOUT_SECS: u64 = 600;
/// Keeps the container alive between commands; `init` reaps the orphans of background jobs.
const IDLE_COMMAND: &str = "while :; do sleep 86400; done";
/// Longest pull progress message kept (the Engine's are short).
const MAX_PROGRESS_CHARS: usize = 200;
/// How often a layer's download or extraction progress is logged.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// How long the ownership fix-up at teardown may take.
const CHOWN_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest build uuid accepted in a container name.
const MAX_UUID_CHARS: usize = 64;

/// How Kiln reaches the Engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// Engine address (`unix:///var/run/docker.sock`, `tcp://…`); `DOCKER_HOST` or the
    /// default socket when `None`.
    pub host: Option<String>,
    /// Managed image names mapped to real images, over the default rule of [`ImageTable`].
    pub images: BTreeMap<String, String>,
    /// This Kiln instance's name in container labels; [`DEFAULT_INSTANCE`] when empty.
    pub instance: String,
}

/// A registry credential (the project's `registryCredential`, resolved by the server).
/// `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct RegistryAuth {
    pub username: String,
    pub password: SecretString,
    /// The registry it is for (`registry.example.com`); the image's registry when `None`.
    pub server: Option<String>,
}

/// What provisioning needs to know about a build.
#[derive(Debug, Clone, Copy)]
pub struct ProvisionRequest<'a> {
    pub build_uuid: &'a str,
    /// The build's environment (image, type, compute type, privileged mode).
    pub environment: &'a ProjectEnvironment,
    /// The build's private directory (it must exist); mounted at the same path.
    pub work_dir: &'a Path,
    /// Where commands write their output (it must exist; a FIFO Kiln reads): mounted at the
    /// same path, on its own even inside the work directory, so the build cannot replace it.
    pub output_path: &'a Path,
    pub registry_auth: Option<&'a RegistryAuth>,
    /// The project's Docker layer cache, mounted at `/var/lib/docker` of a privileged
    /// container (docs/cache.md).
    pub layer_cache: Option<&'a crate::cache::LayerCache>,
}

/// Why the Engine could not be used.
#[derive(Debug, thiserror::Error)]
#[error("Docker Engine: {0}")]
pub struct DockerError(String);

impl From<EngineError> for DockerError {
    fn from(err: EngineError) -> Self {
        Self(err.to_string())
    }
}

/// Why a build's container could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("the build environment has no image")]
    NoImage,
    #[error(transparent)]
    UnsupportedType(#[from] UnsupportedEnvironmentType),
    #[error(
        "the build asks for platform {wanted}, but the Docker host is {host} and cannot run it"
    )]
    PlatformUnavailable { wanted: &'static str, host: String },
    #[error("image {image} is for architecture {found}, but the build asks for platform {wanted}")]
    WrongArchitecture {
        image: String,
        found: String,
        wanted: &'static str,
    },
    #[error("cannot pull image {image}: {message}")]
    PullFailed { image: String, message: String },
    #[error("the registry refused the credential for image {image}: {message}")]
    CredentialRefused { image: String, message: String },
    #[error("cannot start the build container: {0}")]
    Container(String),
    #[error("provisioning was cancelled")]
    Cancelled,
    #[error(transparent)]
    BuildUser(#[from] crate::build_user::BuildUserError),
}

impl ProvisionError {
    /// Whether the build's settings are at fault (a `CLIENT_ERROR` context) rather than Kiln
    /// or its host (`SERVER_ERROR`).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Self::Container(_) | Self::Cancelled | Self::BuildUser(_)
        )
    }
}

/// Whether a Docker Engine answers at the default address (`DOCKER_HOST` or the socket), for
/// `--executor auto`.
pub async fn engine_available() -> bool {
    let probe = async {
        let docker = Docker::connect_with_defaults().ok()?;
        let docker = docker.negotiate_version().await.ok()?;
        docker.ping().await.ok()
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Some(_))
    )
}

/// Runs builds in containers of one Engine.
pub struct DockerExecutor {
    docker: Docker,
    images: ImageTable,
    instance: String,
    host_architecture: String,
    host_limits: ComputeLimits,
}

impl std::fmt::Debug for DockerExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerExecutor")
            .field("instance", &self.instance)
            .field("host_architecture", &self.host_architecture)
            .finish_non_exhaustive()
    }
}

impl DockerExecutor {
    /// Connects to the Engine, agrees on an API version and reads what the host has.
    pub async fn connect(config: &DockerConfig) -> Result<Self, DockerError> {
        let docker = match &config.host {
            Some(host) if host.starts_with("unix://") || host.starts_with('/') => {
                Docker::connect_with_unix(host, ENGINE_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)?
            }
            Some(host) => Docker::connect_with_host(host)?,
            None => Docker::connect_with_defaults()?,
        }
        .with_timeout(Duration::from_secs(ENGINE_TIMEOUT_SECS));
        let docker = docker.negotiate_version().await?;
        let info = docker.info().await?;
        let host_limits = ComputeLimits {
            millicpus: info
                .ncpu
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(1)
                .saturating_mul(1000),
            memory_bytes: info
                .mem_total
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(u64::MAX),
        };
        let instance = if config.instance.is_empty() {
            DEFAULT_INSTANCE.to_owned()
        } else {
            config.instance.clone()
        };
        Ok(Self {
            docker,
            images: ImageTable::new(config.images.clone()),
            instance,
            host_architecture: info.architecture.unwrap_or_default(),
            host_limits,
        })
    }

    /// Removes every container and volume of this instance that a crash left behind; returns
    /// how many containers were removed. Call once at start, before any build runs.
    pub async fn reap_orphans(&self) -> Result<usize, DockerError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{MANAGED_LABEL}=true"),
                format!("{INSTANCE_LABEL}={}", self.instance),
            ],
        )]);
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await?;
        let mut removed = 0;
        for id in containers.into_iter().filter_map(|c| c.id) {
            remove_container(&self.docker, &id).await;
            removed += 1;
        }
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await?;
        for volume in volumes.volumes.into_iter().flatten() {
            // A volume still in use belongs to a container being removed; the next start
            // reaps it.
            let _ = self
                .docker
                .remove_volume(&volume.name, Some(RemoveVolumeOptions { force: true }))
                .await;
        }
        Ok(removed)
    }

    /// The volume of a project's Docker layer cache, made if missing (labelled, so older
    /// generations of the project are found and removed here, and never by
    /// [`Self::reap_orphans`]).
    async fn layer_cache_mount(
        &self,
        cache: &crate::cache::LayerCache,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Mount, ProvisionError> {
        let name = cache.volume_name();
        let stale = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(HashMap::from([(
                    "label".to_owned(),
                    vec![format!("{LAYER_CACHE_LABEL}={}", cache.owner)],
                )])),
            }))
            .await
            .map_err(|err| ProvisionError::Container(err.to_string()))?;
        for volume in stale.volumes.into_iter().flatten() {
            if volume.name != name {
                // In use by a build still running an older generation: removed next time.
                let _ = self
                    .docker
                    .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                    .await;
            }
        }
        self.docker
            .create_volume(bollard::models::VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(HashMap::from([(
                    LAYER_CACHE_LABEL.to_owned(),
                    cache.owner.clone(),
                )])),
                ..Default::default()
            })
            .await
            .map_err(|err| ProvisionError::Container(err.to_string()))?;
        log(&format!(
            "LOCAL_DOCKER_LAYER_CACHE: /var/lib/docker is the project's volume {name}"
        ));
        Ok(Mount {
            target: Some("/var/lib/docker".to_owned()),
            source: Some(name),
            typ: Some(MountType::VOLUME),
            read_only: Some(false),
            ..Default::default()
        })
    }

    /// Makes the build's container: pulls the image if missing (progress goes to `log`, one
    /// line per call), creates and starts the container. Cancelling `cancel` abandons it.
    pub async fn provision(
        &self,
        request: &ProvisionRequest<'_>,
        log: &(dyn Fn(&str) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<BuildContainer, ProvisionError> {
        let environment = request.environment;
        let platform = PlatformRequest::for_environment_type(environment.env_type.as_deref())?;
        let wanted = platform.architecture.platform();
        if Architecture::parse(&self.host_architecture) != Some(platform.architecture) {
            return Err(ProvisionError::PlatformUnavailable {
                wanted,
                host: self.host_architecture.clone(),
            });
        }
        let asked = environment
            .image
            .as_deref()
            .filter(|image| !image.trim().is_empty())
            .ok_or(ProvisionError::NoImage)?;
        let image = self.images.resolve(asked);
        if image == asked {
            log(&format!(
                "Running on Kiln, docker executor: image {image}, platform {wanted}"
            ));
        } else {
            log(&format!(
                "Running on Kiln, docker executor: image {asked} (as {image}), platform {wanted}"
            ));
        }

        let inspected = match self.docker.inspect_image(&image).await {
            Ok(inspected) => inspected,
            Err(EngineError::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                let pull = self.pull(&image, wanted, request.registry_auth, log);
                tokio::select! {
                    pulled = pull => pulled?,
                    () = cancel.cancelled() => return Err(ProvisionError::Cancelled),
                }
                self.docker.inspect_image(&image).await.map_err(|err| {
                    ProvisionError::PullFailed {
                        image: image.clone(),
                        message: err.to_string(),
                    }
                })?
            }
            Err(err) => return Err(ProvisionError::Container(err.to_string())),
        };
        let found = inspected.architecture.clone().unwrap_or_default();
        if Architecture::parse(&found) != Some(platform.architecture) {
            return Err(ProvisionError::WrongArchitecture {
                image,
                found,
                wanted,
            });
        }
        let image_variables = image_variables(
            inspected
                .config
                .and_then(|config| config.env)
                .unwrap_or_default(),
        );

        let limits = self.limits(environment.compute_type.as_deref(), log);
        let container = self
            .start_container(request, &image, platform, limits, log, cancel)
            .await?;
        Ok(BuildContainer {
            launcher: Arc::new(ContainerLauncher {
                docker: self.docker.clone(),
                container,
                output_path: absolute(request.output_path),
                work_dir: absolute(request.work_dir),
                user: None,
            }),
            image,
            image_variables,
            work_dir: absolute(request.work_dir),
        })
    }

    /// Pulls `image` for `platform`, logging progress.
    async fn pull(
        &self,
        image: &str,
        platform: &str,
        auth: Option<&RegistryAuth>,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<(), ProvisionError> {
        log(&format!("Pulling image {image}"));
        let credentials = auth.map(|auth| DockerCredentials {
            username: Some(auth.username.clone()),
            password: Some(auth.password.expose_secret().to_owned()),
            serveraddress: auth.server.clone(),
            ..Default::default()
        });
        let options = CreateImageOptions {
            from_image: Some(image.to_owned()),
            platform: platform.to_owned(),
            ..Default::default()
        };
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        let mut last_logged: HashMap<String, Instant> = HashMap::new();
        while let Some(item) = progress.next().await {
            let info = item.map_err(|err| pull_error(image, auth.is_some(), err))?;
            let status = info.status.unwrap_or_default();
            let line = match &info.id {
                Some(id) => format!("{id}: {status}"),
                None => status.clone(),
            };
            // Byte counts arrive many times a second; keep one line per layer now and then.
            if matches!(status.as_str(), "Downloading" | "Extracting") {
                let key = info.id.clone().unwrap_or_default();
                if last_logged
                    .get(&key)
                    .is_some_and(|at| at.elapsed() < PROGRESS_INTERVAL)
                {
                    continue;
                }
                last_logged.insert(key, Instant::now());
            }
            let line = match info.progress_detail.and_then(|d| d.current.zip(d.total)) {
                Some((current, total)) if total > 0 => {
                    format!("{line} {} of {} MB", current / 1_000_000, total / 1_000_000)
                }
                _ => line,
            };
            log(&line.chars().take(MAX_PROGRESS_CHARS).collect::<String>());
        }
        log(&format!("Pulled image {image}"));
        Ok(())
    }

    /// The container's limits for `compute_type`, at most the host's.
    fn limits(
        &self,
        compute_type: Option<&str>,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> ComputeLimits {
        let compute_type = compute_type.unwrap_or("BUILD_GENERAL1_SMALL");
        let Some(asked) = ComputeLimits::for_compute_type(compute_type) else {
            log(&format!(
                "Compute type {compute_type} has no fixed size; the container may use {}",
                self.host_limits.describe()
            ));
            return self.host_limits;
        };
        let (limits, capped) = asked.capped_at(self.host_limits);
        if capped {
            log(&format!(
                "Compute type {compute_type} asks for {}; capped at this host's {}",
                asked.describe(),
                limits.describe()
            ));
        } else {
            log(&format!(
                "Compute type {compute_type}: {}",
                limits.describe()
            ));
        }
        limits
    }

    async fn start_container(
        &self,
        request: &ProvisionRequest<'_>,
        image: &str,
        platform: PlatformRequest,
        limits: ComputeLimits,
        log: &(dyn Fn(&str) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<String, ProvisionError> {
        let name = container_name(request.build_uuid);
        // A container of an earlier attempt of this build (a crash) would clash by name.
        remove_container(&self.docker, &name).await;
        let privileged = request.environment.privileged_mode == Some(true);
        if privileged {
            log("Privileged mode: the container is privileged");
        }
        let bind = |path: &Path| {
            let path = path.to_string_lossy().into_owned();
            Mount {
                target: Some(path.clone()),
                source: Some(path),
                typ: Some(MountType::BIND),
                read_only: Some(false),
                ..Default::default()
            }
        };
        let mut mounts = vec![
            bind(&absolute(request.work_dir)),
            bind(&absolute(request.output_path)),
        ];
        if privileged && let Some(cache) = request.layer_cache {
            mounts.push(self.layer_cache_mount(cache, log).await?);
        }
        let host_config = HostConfig {
            mounts: Some(mounts),
            init: Some(true),
            nano_cpus: i64::try_from(limits.millicpus.saturating_mul(1_000_000)).ok(),
            memory: i64::try_from(limits.memory_bytes).ok(),
            // No swap beyond the memory limit, as on CodeBuild.
            memory_swap: i64::try_from(limits.memory_bytes).ok(),
            privileged: Some(privileged),
            // The default capability set, nothing added; no gaining privileges through setuid
            // (a privileged build runs docker-in-docker and may need it).
            cap_add: Some(Vec::new()),
            security_opt: (!privileged).then(|| vec!["no-new-privileges".to_owned()]),
            device_requests: platform.gpu.then(|| {
                vec![DeviceRequest {
                    count: Some(-1),
                    capabilities: Some(vec![vec!["gpu".to_owned()]]),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        };
        let labels = HashMap::from([
            (MANAGED_LABEL.to_owned(), "true".to_owned()),
            (INSTANCE_LABEL.to_owned(), self.instance.clone()),
            (BUILD_LABEL.to_owned(), request.build_uuid.to_owned()),
        ]);
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            // The image's entrypoint would start its own program; the build only needs a shell.
            entrypoint: Some(vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                IDLE_COMMAND.to_owned(),
            ]),
            cmd: Some(Vec::new()),
            labels: Some(labels),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            platform: platform.architecture.platform().to_owned(),
        };
        let created = tokio::select! {
            created = self.docker.create_container(Some(options), body) => created,
            () = cancel.cancelled() => {
                remove_container(&self.docker, &name).await;
                return Err(ProvisionError::Cancelled);
            }
        }
        .map_err(|err| ProvisionError::Container(err.to_string()))?;
        let started = tokio::select! {
            started = self.docker.start_container(&created.id, None) => started,
            () = cancel.cancelled() => Ok(()),
        };
        if cancel.is_cancelled() {
            remove_container(&self.docker, &created.id).await;
            return Err(ProvisionError::Cancelled);
        }
        if let Err(err) = started {
            remove_container(&self.docker, &created.id).await;
            return Err(ProvisionError::Container(err.to_string()));
        }
        log(&format!(
            "Started container {name} with {}",
            limits.describe()
        ));
        Ok(created.id)
    }
}

/// A build's running container.
pub struct BuildContainer {
    launcher: Arc<ContainerLauncher>,
    image: String,
    image_variables: Vec<(String, String)>,
    work_dir: PathBuf,
}

impl std::fmt::Debug for BuildContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContainer")
            .field("container", &self.launcher.container)
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

impl BuildContainer {
    /// Runs the build's shell session in the container.
    pub fn launcher(&self) -> Arc<dyn Launcher> {
        self.launcher.clone()
    }

    /// The image's environment (`PATH`, `HOME`, …), the lowest layer of the build's
    /// variables: it replaces the host's `PATH` and `HOME` of the local executor.
    pub fn image_variables(&self) -> &[(String, String)] {
        &self.image_variables
    }

    /// The image the container runs (after the managed-name table).
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The Engine's id of the container.
    pub fn id(&self) -> &str {
        &self.launcher.container
    }

    /// Removes the container (and its anonymous volumes), ending every process in it. Files the
    /// build made in the work directory are first given to Kiln's user, so that it can remove
    /// them. Safe to call more than once, and after a stop removed the container.
    pub async fn teardown(&self) {
        let launcher = &self.launcher;
        let uid = rustix::process::getuid().as_raw();
        if uid != 0 {
            let gid = rustix::process::getgid().as_raw();
            let owner = format!("{uid}:{gid}");
            let work_dir = self.work_dir.to_string_lossy().into_owned();
            let chown = exec::run_captured(
                &launcher.docker,
                &launcher.container,
                "0",
                vec!["chown".to_owned(), "-R".to_owned(), owner, work_dir],
            );
            // Best effort: a container without `chown` leaves the files to the host's cleanup.
            let _ = tokio::time::timeout(CHOWN_TIMEOUT, chown).await;
        }
        remove_container(&launcher.docker, &launcher.container).await;
    }
}

/// The PATH `docker run` gives a container whose image sets none (an imported or `FROM scratch`
/// image); without it, no command of such an image would be found.
const DOCKER_DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The image's `NAME=value` environment, with Docker's default `PATH` when it sets none.
fn image_variables(env: Vec<String>) -> Vec<(String, String)> {
    let mut variables: Vec<(String, String)> = env
        .into_iter()
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    if !variables.iter().any(|(name, _)| name == "PATH") {
        variables.push(("PATH".to_owned(), DOCKER_DEFAULT_PATH.to_owned()));
    }
    variables
}

/// Force-removes a container with its anonymous volumes; a missing one is not an error.
async fn remove_container(docker: &Docker, container: &str) {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    // Errors mean it is gone already, or the Engine is gone; reaping at start covers both.
    let _ = docker.remove_container(container, Some(options)).await;
}

/// `kiln-<uuid>`, with anything a container name may not hold replaced.
fn container_name(build_uuid: &str) -> String {
    let safe: String = build_uuid
        .chars()
        .take(MAX_UUID_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("kiln-{safe}")
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// A pull failure as the build's context reports it.
fn pull_error(image: &str, with_credential: bool, err: EngineError) -> ProvisionError {
    let message = match err {
        EngineError::DockerStreamError { error } => error,
        EngineError::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    };
    let lower = message.to_ascii_lowercase();
    let refused = lower.contains("unauthorized")
        || lower.contains("authentication required")
        || lower.contains("incorrect username or password");
    if with_credential && refused {
        ProvisionError::CredentialRefused {
            image: image.to_owned(),
            message,
        }
    } else {
        ProvisionError::PullFailed {
            image: image.to_owned(),
            message,
        }
    }
}
