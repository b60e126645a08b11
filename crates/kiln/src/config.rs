//! Settings: command-line flags, then `KILN_*` environment variables (both through clap), then
//! `kiln.toml`, then defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use kiln_domain::source::hosts::{CredentialHost, SourceHosts};
use kiln_runner::runtimes::{RuntimeSelector, RuntimeTable};
use serde::Deserialize;

use crate::database::{Database, check_artifacts_shared};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "KILN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of a second listener that serves only `GET /metrics` (Prometheus); none unless set.
    #[arg(long, env = "KILN_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Directory for the database, logs and artifacts.
    #[arg(long, env = "KILN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Base URL that badge and console links use (defaults to the listen address).
    #[arg(long, env = "KILN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The AWS region Kiln answers as.
    #[arg(long, env = "KILN_REGION")]
    pub region: Option<String>,
    /// Builds that may run at once (default: the number of cores).
    #[arg(long, env = "KILN_MAX_CONCURRENT_BUILDS")]
    pub max_concurrent_builds: Option<usize>,
    /// Builds one account may run at once, across every replica (default: no limit).
    #[arg(long, env = "KILN_MAX_CONCURRENT_BUILDS_PER_ACCOUNT")]
    pub max_concurrent_builds_per_account: Option<u32>,
    /// This replica's name: the owner of the builds it runs, in their logs and leases
    /// (default: the host name and a random suffix).
    #[arg(long, env = "KILN_INSTANCE")]
    pub instance: Option<String>,
    /// Seconds a build's lease lasts unless its replica renews it. Only tests shorten it.
    #[arg(long, env = "KILN_LEASE_SECONDS", hide = true)]
    pub lease_seconds: Option<f64>,
    /// Seconds a running build gets to finish after SIGTERM before it is stopped.
    #[arg(long, env = "KILN_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,
    /// Length in seconds of one minute of build and queued timeouts. Only tests shorten it.
    #[arg(long, env = "KILN_MINUTE_SECONDS", hide = true)]
    pub minute_seconds: Option<f64>,
    /// Where builds run: `docker`, `local` (on this host) or `auto` (docker when an engine
    /// answers).
    #[arg(long, env = "KILN_EXECUTOR")]
    pub executor: Option<String>,
    /// Largest build log in bytes; a build whose log reaches it ends FAILED (default 64 MiB,
    /// at least 64 KiB).
    #[arg(long, env = "KILN_MAX_LOG_BYTES")]
    pub max_log_bytes: Option<u64>,
    /// Largest project cache archive in bytes, saved or restored (default 2 GiB); a larger one
    /// is skipped with a warning in the build's log.
    #[arg(long, env = "KILN_MAX_CACHE_ARCHIVE_BYTES")]
    pub max_cache_archive_bytes: Option<u64>,
    /// Free space in bytes kept on the data dir's file system for Kiln's own writes: below it,
    /// running builds end FAULT and queued ones wait (default: 1 GiB, or 5% of the file system
    /// when smaller; at least 1 MiB).
    #[arg(long, env = "KILN_DISK_RESERVE_BYTES")]
    pub disk_reserve_bytes: Option<u64>,
    /// The database: `postgres://…` (several replicas share it) or `sqlite://PATH` (default:
    /// `<data-dir>/kiln.db`).
    #[arg(long, env = "KILN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Allows artifacts on the local disk with PostgreSQL, for a single replica: other
    /// replicas cannot read them.
    #[arg(
        long,
        env = "KILN_ALLOW_LOCAL_ARTIFACTS",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_local_artifacts: Option<bool>,
    /// Configuration file (default: ./kiln.toml when it exists).
    #[arg(long, env = "KILN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Take the console's client address (for sign-in limits and logs) from the last
    /// X-Forwarded-For address. Only behind a reverse proxy that sets it.
    #[arg(long, env = "KILN_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Seconds of the first console sign-in lockout (doubling after). Only tests change it.
    #[arg(long, env = "KILN_SIGN_IN_LOCKOUT_SECONDS", hide = true)]
    pub sign_in_lockout_seconds: Option<f64>,
    /// Allows the local executor with more than one account: every account's builds then run
    /// on this host (as users of their own when Kiln is root).
    #[arg(
        long,
        env = "KILN_TRUST_LOCAL_BUILDS",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub trust_local_builds: Option<bool>,
    /// Run no builds on this server: only agents (`kiln agent`) run them.
    #[arg(
        long,
        env = "KILN_NO_LOCAL_BUILDS",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub no_local_builds: Option<bool>,
    /// Uids (and gids) local builds run as when Kiln is root, FIRST-LAST (default
    /// 2000000000-2000065535).
    #[arg(long, env = "KILN_BUILD_UID_RANGE")]
    pub build_uid_range: Option<String>,
}

/// One access key pair from the environment or `kiln.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    /// Where this account's local sources may be, when Kiln has several accounts.
    #[serde(default)]
    pub local_source_roots: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    allow_local_artifacts: Option<bool>,
    public_url: Option<String>,
    region: Option<String>,
    max_concurrent_builds: Option<usize>,
    max_concurrent_builds_per_account: Option<u32>,
    instance: Option<String>,
    lease_seconds: Option<f64>,
    shutdown_grace_seconds: Option<u64>,
    max_log_bytes: Option<u64>,
    max_cache_archive_bytes: Option<u64>,
    disk_reserve_bytes: Option<u64>,
    #[serde(default)]
    credentials: Vec<CredentialConfig>,
    artifacts: Option<ArtifactStoreConfig>,
    executor: Option<String>,
    #[serde(default)]
    docker: DockerSection,
    #[serde(default)]
    registry_credentials: Vec<RegistryCredentialConfig>,
    #[serde(default)]
    source_hosts: SourceHostsConfig,
    trust_forwarded_for: Option<bool>,
    trust_local_builds: Option<bool>,
    no_local_builds: Option<bool>,
    /// Base64 of 32 bytes: the key of parameter and secret values (docs/secrets.md).
    secrets_key: Option<String>,
    /// `kiln agent`'s section, read by the agent alone.
    #[serde(rename = "agent")]
    _agent: Option<toml::Table>,
    build_uid_range: Option<String>,
    /// `[runtimes.<name>]`: how INSTALL's `runtime-versions` select each runtime.
    #[serde(default)]
    runtimes: BTreeMap<String, RuntimeSelector>,
}

/// `[source_hosts]`: the hosts (`host` or `host:port`, https only) that GITHUB_ENTERPRISE and
/// GITLAB_SELF_MANAGED source credentials may be sent to. GITHUB, GITLAB and BITBUCKET
/// credentials go to github.com, gitlab.com and bitbucket.org only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceHostsConfig {
    #[serde(default)]
    github_enterprise: Vec<String>,
    #[serde(default)]
    gitlab_self_managed: Vec<String>,
}

impl SourceHostsConfig {
    fn resolve(&self) -> anyhow::Result<SourceHosts> {
        let parse = |key: &str, hosts: &[String]| {
            hosts
                .iter()
                .map(|host| {
                    CredentialHost::parse(host).map_err(|why| {
                        anyhow::anyhow!(
                            "source_hosts.{key}: {host:?} is not host or host:port: {why}"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
        };
        Ok(SourceHosts {
            github_enterprise: parse("github_enterprise", &self.github_enterprise)?,
            gitlab_self_managed: parse("gitlab_self_managed", &self.gitlab_self_managed)?,
        })
    }
}

/// The Docker executor's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSection {
    /// Engine address; `DOCKER_HOST` or the default socket when absent.
    pub host: Option<String>,
    /// Name of this Kiln in container labels, so several instances can share an engine.
    pub instance: Option<String>,
    /// Managed image names mapped to real images, e.g.
    /// `"aws/codebuild/standard:7.0" = "registry.example/codebuild/standard:7.0"`.
    #[serde(default)]
    pub images: std::collections::BTreeMap<String, String>,
}

/// A registry login that projects name in `environment.registryCredential.credential`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCredentialConfig {
    pub name: String,
    pub username: String,
    pub password: String,
    pub server: Option<String>,
}

/// Where artifacts go: by default a directory per bucket under the data dir; or any
/// S3-compatible endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactStoreConfig {
    pub s3_endpoint: String,
    pub region: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub database: Database,
    pub public_url: Option<String>,
    pub region: String,
    pub credentials: Vec<CredentialConfig>,
    pub max_concurrent_builds: usize,
    pub max_concurrent_builds_per_account: Option<u32>,
    pub instance: String,
    pub lease: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
    pub minute: std::time::Duration,
    pub max_log_bytes: u64,
    pub max_cache_archive_bytes: u64,
    /// `None`: the default reserve.
    pub disk_reserve_bytes: Option<u64>,
    pub artifacts: Option<ArtifactStoreConfig>,
    pub executor: kiln_runner::executor::ExecutorChoice,
    pub docker: DockerSection,
    pub registry_credentials: Vec<RegistryCredentialConfig>,
    pub source_hosts: SourceHosts,
    pub trust_forwarded_for: bool,
    pub sign_in_backoff: kiln_store::SignInBackoff,
    pub trust_local_builds: bool,
    /// Whether this server runs builds itself (`--no-local-builds` turns it off).
    pub local_builds: bool,
    pub build_uid_range: kiln_runner::build_user::UidRange,
    pub runtimes: RuntimeTable,
    /// `KILN_SECRETS_KEY`, else kiln.toml's `secrets_key` (never a flag: a process argument
    /// is visible to every user of the host).
    pub secrets_key: Option<crate::secrets_key::KeyText>,
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Settings> {
        let file = load_file(args.config.as_deref())?;
        let mut credentials = file.credentials;
        if let Some(env) = credential_from_env()? {
            credentials.insert(0, env);
        }
        for c in &credentials {
            validate_credential(c)?;
        }
        let region = args
            .region
            .or(file.region)
            .unwrap_or_else(|| "us-east-1".into());
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!("region {region:?} is not a region name such as us-east-1");
        }
        let public_url = args.public_url.or(file.public_url);
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("public URL {url:?} must start with http:// or https://");
        }
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./kiln-data"));
        let database = Database::from_url(
            args.database_url.or(file.database_url).as_deref(),
            &data_dir,
        )?;
        check_artifacts_shared(
            &database,
            file.artifacts.is_none(),
            args.allow_local_artifacts
                .or(file.allow_local_artifacts)
                .unwrap_or(false),
        )?;
        Ok(Settings {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            data_dir,
            database,
            public_url,
            region,
            credentials,
            max_concurrent_builds: args
                .max_concurrent_builds
                .or(file.max_concurrent_builds)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
                .max(1),
            max_concurrent_builds_per_account: match args
                .max_concurrent_builds_per_account
                .or(file.max_concurrent_builds_per_account)
            {
                Some(0) => bail!("max_concurrent_builds_per_account must be at least 1"),
                limit => limit,
            },
            instance: instance_name(args.instance.or(file.instance))?,
            lease: lease_length(args.lease_seconds.or(file.lease_seconds))?,
            shutdown_grace: std::time::Duration::from_secs(
                args.shutdown_grace_seconds
                    .or(file.shutdown_grace_seconds)
                    .unwrap_or(60),
            ),
            minute: minute_length(args.minute_seconds)?,
            max_log_bytes: max_log_bytes(args.max_log_bytes.or(file.max_log_bytes))?,
            max_cache_archive_bytes: args
                .max_cache_archive_bytes
                .or(file.max_cache_archive_bytes)
                .unwrap_or(kiln_runner::cache::DEFAULT_MAX_CACHE_ARCHIVE_BYTES),
            disk_reserve_bytes: args.disk_reserve_bytes.or(file.disk_reserve_bytes),
            artifacts: file.artifacts,
            executor: match args.executor.or(file.executor) {
                None => kiln_runner::executor::ExecutorChoice::Local,
                Some(text) => text.parse().map_err(|_| {
                    anyhow::anyhow!("executor {text:?} must be docker, local or auto")
                })?,
            },
            source_hosts: file.source_hosts.resolve()?,
            runtimes: runtime_table(file.runtimes)?,
            docker: file.docker,
            registry_credentials: file.registry_credentials,
            trust_forwarded_for: args.trust_forwarded_for
                || file.trust_forwarded_for.unwrap_or(false),
            sign_in_backoff: sign_in_backoff(args.sign_in_lockout_seconds)?,
            trust_local_builds: args
                .trust_local_builds
                .or(file.trust_local_builds)
                .unwrap_or(false),
            local_builds: !args
                .no_local_builds
                .or(file.no_local_builds)
                .unwrap_or(false),
            secrets_key: std::env::var("KILN_SECRETS_KEY")
                .ok()
                .filter(|k| !k.is_empty())
                .or(file.secrets_key)
                .map(crate::secrets_key::KeyText),
            build_uid_range: match args.build_uid_range.or(file.build_uid_range) {
                None => kiln_runner::build_user::UidRange::DEFAULT,
                Some(text) => text.parse()?,
            },
        })
    }
}

/// The default runtime selectors with the configured ones in their place; each needs commands.
pub fn runtime_table(
    configured: BTreeMap<String, RuntimeSelector>,
) -> anyhow::Result<RuntimeTable> {
    for (name, selector) in &configured {
        if name.trim().is_empty() {
            bail!("runtimes: a runtime needs a name");
        }
        if selector.commands.is_empty() {
            bail!("runtimes.{name}.commands: give at least one command");
        }
        if selector.versions.is_empty() && !selector.any_version {
            bail!("runtimes.{name}: list its versions, or set any_version = true");
        }
    }
    Ok(RuntimeTable::with(configured))
}

fn max_log_bytes(bytes: Option<u64>) -> anyhow::Result<u64> {
    use kiln_runner::build::{DEFAULT_MAX_LOG_BYTES, MIN_MAX_LOG_BYTES};
    match bytes {
        None => Ok(DEFAULT_MAX_LOG_BYTES),
        Some(bytes) if bytes >= MIN_MAX_LOG_BYTES => Ok(bytes),
        Some(bytes) => bail!("max_log_bytes {bytes} must be at least {MIN_MAX_LOG_BYTES}"),
    }
}

/// The configured instance name, or the host name with a random suffix: unique among the
/// replicas sharing a store, and readable in logs.
fn instance_name(configured: Option<String>) -> anyhow::Result<String> {
    if let Some(name) = configured {
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            bail!("instance {name:?} must be 1 to 128 letters, digits, '-', '_' or '.'");
        }
        return Ok(name);
    }
    let host = host_name().unwrap_or_else(|| "kiln".to_owned());
    let suffix: u32 = rand::random();
    Ok(format!("{host}-{suffix:08x}"))
}

/// This machine's host name, if it has one.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
}

fn lease_length(seconds: Option<f64>) -> anyhow::Result<std::time::Duration> {
    match seconds {
        None => Ok(kiln_scheduler::DEFAULT_LEASE),
        Some(s) if s.is_finite() && (0.3..=3600.0).contains(&s) => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        Some(s) => bail!("lease length {s} must be from 0.3 to 3600 seconds"),
    }
}

fn minute_length(seconds: Option<f64>) -> anyhow::Result<std::time::Duration> {
    match seconds {
        None => Ok(std::time::Duration::from_secs(60)),
        Some(s) if s.is_finite() && s > 0.0 && s <= 60.0 => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        Some(s) => bail!("minute length {s} must be more than 0 and at most 60 seconds"),
    }
}

fn sign_in_backoff(first_lockout: Option<f64>) -> anyhow::Result<kiln_store::SignInBackoff> {
    let default = kiln_server::console::SIGN_IN_BACKOFF;
    match first_lockout {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s <= default.max_lockout => {
            Ok(kiln_store::SignInBackoff {
                first_lockout: s,
                ..default
            })
        }
        Some(s) => bail!(
            "sign-in lockout {s} must be more than 0 and at most {} seconds",
            default.max_lockout
        ),
    }
}

fn load_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("kiln.toml");
            if !default.exists() {
                return Ok(FileConfig::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

fn credential_from_env() -> anyhow::Result<Option<CredentialConfig>> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        get("KILN_ACCESS_KEY_ID"),
        get("KILN_SECRET_ACCESS_KEY"),
        get("KILN_ACCOUNT_ID"),
    ) {
        (None, None, None) => Ok(None),
        (Some(access_key_id), Some(secret_access_key), account) => Ok(Some(CredentialConfig {
            access_key_id,
            secret_access_key,
            account_id: account.unwrap_or_else(|| "000000000000".into()),
            local_source_roots: Vec::new(),
        })),
        _ => bail!("KILN_ACCESS_KEY_ID and KILN_SECRET_ACCESS_KEY must be set together"),
    }
}

pub fn validate_credential(c: &CredentialConfig) -> anyhow::Result<()> {
    if c.account_id.len() != 12 || !c.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "account id {:?} of access key {} must be 12 digits",
            c.account_id,
            c.access_key_id
        );
    }
    if c.access_key_id.is_empty() || !c.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        bail!(
            "access key id {:?} must be letters and digits",
            c.access_key_id
        );
    }
    if c.secret_access_key.len() < 16 {
        bail!(
            "the secret of access key {} is shorter than 16 characters",
            c.access_key_id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_runtimes_replace_defaults_and_need_commands() {
        let file: FileConfig = toml::from_str(
            "[runtimes.nodejs]\ncommands = [\"nvm use {version}\"]\nversions = { \"18\" = \"18.20.4\" }\n",
        )
        .unwrap();
        let table = runtime_table(file.runtimes).unwrap();
        let pick = |runtime: &str, version: &str| {
            table.commands_for(&[(runtime.to_owned(), version.to_owned())])
        };
        assert_eq!(pick("nodejs", "18").unwrap(), ["nvm use 18.20.4"]);
        assert!(pick("nodejs", "20").is_err());
        assert_eq!(pick("ruby", "3.3").unwrap(), ["rbenv global 3.3"]);

        for bad in [
            "[runtimes.deno]\ncommands = []\nany_version = true\n",
            "[runtimes.deno]\ncommands = [\"dvm use {version}\"]\n",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            assert!(runtime_table(file.runtimes).is_err(), "{bad}");
        }
        assert!(toml::from_str::<FileConfig>("[runtimes.deno]\ncommand = [\"x\"]\n").is_err());
    }
}

/// Every key `kiln.toml` takes is named in the README: the keys are read from the derived
/// `Deserialize` impls themselves, so a new key fails this test until it is documented.
#[cfg(test)]
mod documented_keys {
    use serde::de::{self, Deserialize, Deserializer, Visitor};

    use super::{
        ArtifactStoreConfig, CredentialConfig, DockerSection, FileConfig, RegistryCredentialConfig,
        SourceHostsConfig,
    };
    use kiln_runner::runtimes::RuntimeSelector;

    /// A deserializer that only records the field names a struct asks for.
    struct FieldNames(Vec<&'static str>);

    #[derive(Debug)]
    struct Recorded;

    impl std::fmt::Display for Recorded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("recorded")
        }
    }

    impl std::error::Error for Recorded {}

    impl de::Error for Recorded {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Recorded
        }
    }

    impl<'de> Deserializer<'de> for &mut FieldNames {
        type Error = Recorded;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Recorded> {
            Err(Recorded)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Recorded> {
            self.0.extend_from_slice(fields);
            Err(Recorded)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    fn fields_of<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
        let mut names = FieldNames(Vec::new());
        let _ = T::deserialize(&mut names);
        names.0
    }

    #[test]
    fn every_kiln_toml_key_is_in_the_readme() {
        let readme = include_str!("../../../README.md");
        let keys = [
            fields_of::<FileConfig>(),
            fields_of::<CredentialConfig>(),
            fields_of::<ArtifactStoreConfig>(),
            fields_of::<DockerSection>(),
            fields_of::<RegistryCredentialConfig>(),
            fields_of::<SourceHostsConfig>(),
            fields_of::<RuntimeSelector>(),
        ]
        .concat();
        assert!(keys.contains(&"secrets_key") && keys.contains(&"s3_endpoint"));
        let missing: Vec<&str> = keys
            .into_iter()
            .filter(|key| {
                !readme.contains(&format!("`{key}`")) && !readme.contains(&format!("[{key}"))
            })
            .collect();
        assert_eq!(
            missing,
            Vec::<&str>::new(),
            "kiln.toml keys the README does not name"
        );
    }
}
