//! Where builds run: on this host (`local`) or in containers of the project's image (`docker`).

use std::str::FromStr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

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
    Local(Arc<dyn Launcher>),
    Docker(Arc<DockerExecutor>),
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Executor {
    /// The executor running commands on this host.
    pub fn local() -> Self {
        Self::Local(Arc::new(LocalLauncher::new()))
    }

    /// The executor `choice` names. For docker (and auto when an Engine answers) this connects
    /// to the Engine and reaps what a crash left behind.
    pub async fn select(
        choice: ExecutorChoice,
        config: &DockerConfig,
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
            return Ok(Self::local());
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

    /// Prepares where a build's commands run, writing what it does to `log` (one line per call).
    /// The request's work directory and log file must exist.
    pub async fn provision(
        &self,
        request: &ProvisionRequest<'_>,
        log: &(dyn Fn(&str) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<Environment, ProvisionError> {
        match self {
            Self::Local(launcher) => {
                // The type is checked here too: a Windows build cannot run on this host either.
                docker::PlatformRequest::for_environment_type(
                    request.environment.env_type.as_deref(),
                )?;
                let image = request.environment.image.as_deref().unwrap_or("(none)");
                log(&format!(
                    "Running on Kiln, local executor: commands run on this host (image {image} is not used)"
                ));
                Ok(Environment::Local(launcher.clone()))
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
    Local(Arc<dyn Launcher>),
    Container(BuildContainer),
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(_) => f.write_str("Local"),
            Self::Container(container) => f.debug_tuple("Container").field(container).finish(),
        }
    }
}

impl Environment {
    /// What the build's shell session runs its commands with.
    pub fn launcher(&self) -> Arc<dyn Launcher> {
        match self {
            Self::Local(launcher) => launcher.clone(),
            Self::Container(container) => container.launcher(),
        }
    }

    /// The variables the build's environment starts from, below CodeBuild's own: the host's
    /// `PATH` for the local executor, the image's environment in a container.
    pub fn base_variables(&self) -> Vec<(String, String)> {
        match self {
            Self::Local(_) => std::env::var_os("PATH")
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

    /// Ends everything the environment runs (the container); safe to call more than once.
    pub async fn teardown(&self) {
        if let Self::Container(container) = self {
            container.teardown().await;
        }
    }
}
