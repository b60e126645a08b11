//! Where builds run: on this host (`local`) or in containers of the project's image (`docker`).

use std::str::FromStr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::build_user::{BuildUser, BuildUserPool, UidRange, kiln_is_root};
use crate::docker::{
    self, BuildContainer, DockerConfig, DockerError, DockerExecutor, ProvisionError,
    ProvisionRequest,
};
use crate::shell::{Launcher, LocalLauncher};

/// The `--executor` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorChoice {
    Local,
    Docker,
    /// Docker when an Engine answers, local otherwise.
    Auto,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown executor {0:?}: use docker, local or auto")]
pub struct UnknownExecutor(String);

impl FromStr for ExecutorChoice {
    type Err = UnknownExecutor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "docker" => Ok(Self::Docker),
            "auto" => Ok(Self::Auto),
            _ => Err(UnknownExecutor(text.to_owned())),
        }
    }
}

/// Runs builds; shared by all builds of a server.
#[derive(Clone)]
pub enum Executor {
    Local(LocalExecutor),
    Docker(Arc<DockerExecutor>),
}

/// Runs builds on this host: as Kiln's own user, or (Kiln being root) each as a user of its own.
#[derive(Clone)]
pub struct LocalExecutor {
    launcher: LocalLauncher,
    build_users: Option<Arc<BuildUserPool>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Executor {
    /// The executor running commands on this host as Kiln's own user.
    pub fn local() -> Self {
        Self::Local(LocalExecutor {
            launcher: LocalLauncher::new(),
            build_users: None,
        })
    }

    /// The executor running commands on this host; when Kiln is root, each build runs as a uid
    /// of `build_uids` of its own.
    pub fn local_isolated(build_uids: UidRange) -> Self {
        Self::Local(LocalExecutor {
            launcher: LocalLauncher::new(),
            build_users: kiln_is_root().then(|| BuildUserPool::new(build_uids)),
        })
    }

    /// The executor `choice` names. For docker (and auto when an Engine answers) this connects
    /// to the Engine and reaps what a crash left behind; local builds take their users from
    /// `build_uids` (see [`Self::local_isolated`]).
    pub async fn select(
        choice: ExecutorChoice,
        config: &DockerConfig,
        build_uids: UidRange,
    ) -> Result<Self, DockerError> {
        let use_docker = match choice {
            ExecutorChoice::Local => false,
            ExecutorChoice::Docker => true,
            ExecutorChoice::Auto => match &config.host {
                // An explicit address means Docker is wanted; its errors are worth seeing.
                Some(_) => true,
                None => docker::engine_available().await,
            },
        };
        if !use_docker {
            return Ok(Self::local_isolated(build_uids));
        }
        let executor = DockerExecutor::connect(config).await?;
        executor.reap_orphans().await?;
        Ok(Self::Docker(Arc::new(executor)))
    }

    /// `local` or `docker`, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::Docker(_) => "docker",
        }
    }

    /// The uids local builds run as, when they run as users of their own.
    pub fn build_uid_range(&self) -> Option<UidRange> {
        match self {
            Self::Local(local) => local.build_users.as_ref().map(|pool| pool.range()),
            Self::Docker(_) => None,
        }
    }

    /// Prepares where a build's commands run, writing what it does to `log` (one line per call).
    /// The request's work directory and log file must exist.
    pub async fn provision(
        &self,
        request: &ProvisionRequest<'_>,
        log: &(dyn Fn(&str) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<Environment, ProvisionError> {
        match self {
            Self::Local(local) => {
                // The type is checked here too: a Windows build cannot run on this host either.
                docker::PlatformRequest::for_environment_type(
                    request.environment.env_type.as_deref(),
                )?;
                let image = request.environment.image.as_deref().unwrap_or("(none)");
                log(&format!(
                    "Running on Kiln, local executor: commands run on this host (image {image} is not used)"
                ));
                let Some(pool) = &local.build_users else {
                    return Ok(Environment::Local {
                        launcher: Arc::new(local.launcher.clone()),
                        user: None,
                    });
                };
                let user = pool.allocate()?;
                log(&format!(
                    "Commands run as uid {uid}, gid {uid}, a user of this build's own",
                    uid = user.uid()
                ));
                Ok(Environment::Local {
                    launcher: Arc::new(local.launcher.as_user(user.uid(), user.gid())),
                    user: Some(user),
                })
            }
            Self::Docker(executor) => executor
                .provision(request, log, cancel)
                .await
                .map(Environment::Container),
        }
    }
}

/// Where one build's commands run.
pub enum Environment {
    Local {
        launcher: Arc<dyn Launcher>,
        /// The build's own user, when Kiln is root; its processes end with the environment.
        user: Option<BuildUser>,
    },
    Container(BuildContainer),
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local { user, .. } => f.debug_struct("Local").field("user", user).finish(),
            Self::Container(container) => f.debug_tuple("Container").field(container).finish(),
        }
    }
}

impl Environment {
    /// What the build's shell session runs its commands with.
    pub fn launcher(&self) -> Arc<dyn Launcher> {
        match self {
            Self::Local { launcher, .. } => launcher.clone(),
            Self::Container(container) => container.launcher(),
        }
    }

    /// The variables the build's environment starts from, below CodeBuild's own: the host's
    /// `PATH` for the local executor, the image's environment in a container.
    pub fn base_variables(&self) -> Vec<(String, String)> {
        match self {
            Self::Local { .. } => std::env::var_os("PATH")
                .map(|path| ("PATH".to_owned(), path.to_string_lossy().into_owned()))
                .into_iter()
                .collect(),
            Self::Container(container) => container.image_variables().to_vec(),
        }
    }

    /// Whether commands run in a container, whose image (not Kiln) decides `HOME`.
    pub fn is_container(&self) -> bool {
        matches!(self, Self::Container(_))
    }

    /// The user the build's commands run as, when it is one of its own.
    pub fn build_user(&self) -> Option<&BuildUser> {
        match self {
            Self::Local { user, .. } => user.as_ref(),
            Self::Container(_) => None,
        }
    }

    /// Ends everything the environment runs (the container, or every process of the build's
    /// user); safe to call more than once.
    pub async fn teardown(&self) {
        match self {
            Self::Container(container) => container.teardown().await,
            Self::Local {
                user: Some(user), ..
            } => user.end_all_processes().await,
            Self::Local { user: None, .. } => {}
        }
    }
}
