//! Source checkout: fetches a git repository at a CodeBuild-style source version by running the
//! `git` CLI (as Buildkite, GitLab Runner and Woodpecker do) in a scrubbed environment.
//!
//! Credentials reach git only through `GIT_ASKPASS`: a tiny script that echoes a token taken from
//! the environment of the git child process, and only for the source's own origin. A credential
//! is bound to its forge's hosts ([`kiln_domain::source::hosts`]): it is used only for an
//! `https://` location on one of them, and git follows no redirect while it holds one. The
//! token is never part of a URL, a process argument or anything written to the build log.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use kiln_domain::commit::{CommitSummary, GIT_LOG_FORMAT};
use kiln_domain::source::hosts::{CredentialHost, HttpsLocation, Withheld, credential_destination};
use kiln_domain::source::{MAX_VERSION_LEN, check_git_location};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Cap on what we read from git's stdout (`ls-remote` for a handful of refs, `rev-parse`).
const MAX_GIT_STDOUT: usize = 1 << 20;
/// How much of git's stderr is kept for the error message (all of it goes to the log).
const ERROR_TAIL_BYTES: usize = 2048;
/// Shortest hex string we try as an abbreviated commit id.
const MIN_ABBREVIATED_SHA: usize = 4;

/// Variables passed through from the runner's environment to git: the search path and the
/// settings needed to reach a server through a proxy or with a private CA.
const PASSED_THROUGH_ENV: &[&str] = &[
    "PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
];

const ASKPASS_USERNAME_PROMPT: &str = "KILN_ASKPASS_USERNAME_PROMPT";
const ASKPASS_PASSWORD_PROMPT: &str = "KILN_ASKPASS_PASSWORD_PROMPT";
const ASKPASS_USERNAME: &str = "KILN_ASKPASS_USERNAME";
const ASKPASS_TOKEN: &str = "KILN_ASKPASS_TOKEN";

/// Answers git's credential prompts for the source's own origin only, so that a submodule hosted
/// elsewhere never receives the token. Everything it prints comes from the environment.
const ASKPASS_SCRIPT: &str = r#"#!/bin/sh
if [ "$1" = "$KILN_ASKPASS_USERNAME_PROMPT" ]; then
  printf '%s\n' "$KILN_ASKPASS_USERNAME"
elif [ "$1" = "$KILN_ASKPASS_PASSWORD_PROMPT" ]; then
  printf '%s\n' "$KILN_ASKPASS_TOKEN"
else
  exit 1
fi
"#;

/// What to check out and where.
#[derive(Debug)]
pub struct CheckoutRequest {
    /// Any git URL: `https://…`, `ssh://…`, `file://…` or a local path.
    pub location: String,
    /// CodeBuild source version; `None` (or blank) means the remote's default branch.
    pub version: Option<String>,
    /// Checkout directory; must not exist or be empty.
    pub dest: PathBuf,
    /// `Some(n)` with `n > 0` makes a shallow fetch of depth `n`; `None` or `Some(0)` is full.
    pub clone_depth: Option<u32>,
    pub fetch_submodules: bool,
    /// Credential for an `https://` location on one of its hosts.
    pub credential: Option<GitCredential>,
    /// The project's source cache directory (LOCAL_SOURCE_CACHE; docs/cache.md), where the
    /// mirror of the location is kept.
    pub source_cache: Option<PathBuf>,
}

/// An imported source credential and where it may be sent.
#[derive(Debug, Clone)]
pub struct GitCredential {
    /// The forge it belongs to (`GITHUB`, …), for messages.
    pub server_type: String,
    pub username: String,
    pub token: SecretString,
    /// The only hosts it may be sent to, over https.
    pub hosts: Vec<CredentialHost>,
}

impl GitCredential {
    /// Where the credential goes for `location`, or why it may not go there.
    pub fn destination(&self, location: &str) -> Result<HttpsLocation, Withheld> {
        credential_destination(&self.server_type, &self.hosts, location)
    }
}

/// The result of a checkout: HEAD is detached at `resolved_commit`, as in CodeBuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOut {
    /// Full commit id (`CODEBUILD_RESOLVED_SOURCE_VERSION`).
    pub resolved_commit: String,
    /// The branch or tag the version named or resolved to; `None` for a commit id or a PR.
    pub git_ref: Option<GitRef>,
    /// What became of the source cache, for the log.
    pub source_cache_note: Option<String>,
    /// The subject and author of the commit, when git could tell them.
    pub commit: Option<CommitSummary>,
}

pub use kiln_domain::refs::GitRef;

/// What a source version string denotes, decided without looking at the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionKind {
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`.
    Tag(String),
    /// `pr/<n>`, fetched as `refs/pull/<n>/head`.
    PullRequest(u64),
    /// A full commit id (40 or 64 hex digits), lower-cased.
    Commit(String),
    /// A bare name: a branch, else a tag, else (if hex) an abbreviated commit id.
    Name(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid source version {version:?}: {reason}")]
    InvalidVersion {
        version: String,
        reason: &'static str,
    },
    #[error("invalid source location: {0}")]
    InvalidLocation(&'static str),
    #[error("the source credential cannot be used: {0}")]
    CredentialWithheld(Withheld),
    #[error("checkout directory {} must be absent or an empty directory", .0.display())]
    DestinationNotEmpty(PathBuf),
    #[error("source version {0:?} not found: the repository has no such branch, tag or commit")]
    VersionNotFound(String),
    #[error("the repository has no default branch (is it empty?)")]
    NoDefaultBranch,
    #[error("git {operation} failed ({status}): {detail}")]
    Git {
        operation: &'static str,
        status: String,
        detail: String,
    },
    #[error("git {operation} printed more than {MAX_GIT_STDOUT} bytes")]
    OutputTooLarge { operation: &'static str },
    #[error("could not run git: {0}")]
    Spawn(std::io::Error),
    #[error("I/O error during checkout: {0}")]
    Io(#[from] std::io::Error),
    #[error("checkout cancelled")]
    Cancelled,
}

/// Classifies a source version as CodeBuild reads it, rejecting anything git would not accept
/// as a ref name (and so anything that could be taken for an option).
pub fn classify_version(version: &str) -> Result<VersionKind, SourceError> {
    let invalid = |reason| SourceError::InvalidVersion {
        version: version.chars().take(100).collect(),
        reason,
    };
    if version.len() > MAX_VERSION_LEN {
        return Err(invalid("is too long"));
    }
    // A `pr/` version that is not a number is an ordinary name (a branch may be called `pr/x`).
    if let Some(number) = version
        .strip_prefix("pr/")
        .and_then(parse_pull_request_number)
    {
        return Ok(VersionKind::PullRequest(number));
    }
    if is_full_commit_id(version) {
        return Ok(VersionKind::Commit(version.to_ascii_lowercase()));
    }
    validate_ref_name(version).map_err(invalid)?;
    if let Some(branch) = version.strip_prefix("refs/heads/") {
        Ok(VersionKind::Branch(branch.to_owned()))
    } else if let Some(tag) = version.strip_prefix("refs/tags/") {
        Ok(VersionKind::Tag(tag.to_owned()))
    } else if let Some(number) = version
        .strip_prefix("refs/pull/")
        .and_then(|rest| rest.strip_suffix("/head"))
        .and_then(parse_pull_request_number)
    {
        Ok(VersionKind::PullRequest(number))
    } else if version.starts_with("refs/") {
        Err(invalid(
            "only refs/heads/<branch>, refs/tags/<tag> and refs/pull/<n>/head are supported",
        ))
    } else {
        Ok(VersionKind::Name(version.to_owned()))
    }
}

fn parse_pull_request_number(number: &str) -> Option<u64> {
    if number.is_empty() || number.len() > 12 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok().filter(|n| *n > 0)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_full_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && is_hex(s)
}

/// The rules of `git check-ref-format`, applied to a full or short ref name.
fn validate_ref_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.starts_with('-') {
        return Err("must not start with '-'");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    if name
        .chars()
        .any(|c| matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err("must not contain spaces or any of ~ ^ : ? * [ \\");
    }
    if name.contains("..") {
        return Err("must not contain '..'");
    }
    if name.contains("@{") || name == "@" {
        return Err("must not contain '@{' or be '@'");
    }
    if name.ends_with('/') || name.ends_with('.') {
        return Err("must not end with '/' or '.'");
    }
    for component in name.split('/') {
        if component.is_empty() {
            return Err("must not contain empty path components");
        }
        if component.starts_with('.') {
            return Err("path components must not start with '.'");
        }
        if component.ends_with(".lock") {
            return Err("path components must not end with '.lock'");
        }
    }
    Ok(())
}

/// The API's check of a location, made again before git runs (the project may predate it).
fn validate_location(location: &str) -> Result<(), SourceError> {
    check_git_location(location).map_err(SourceError::InvalidLocation)
}

/// Where the fetched version ends up, and what ref it is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FetchTarget {
    Branch(String),
    Tag(String),
    PullRequest(u64),
    Commit(String),
    /// A hex prefix: needs the full history to be resolved.
    AbbreviatedCommit(String),
    /// The remote's HEAD when it is not a branch (a detached HEAD).
    RemoteHead,
}

impl FetchTarget {
    /// Refspecs to fetch and the local rev that names the fetched commit.
    fn refspecs(&self) -> (Vec<String>, String) {
        match self {
            Self::Branch(branch) => (
                vec![format!("+refs/heads/{branch}:refs/remotes/origin/{branch}")],
                format!("refs/remotes/origin/{branch}"),
            ),
            Self::Tag(tag) => (
                vec![format!("+refs/tags/{tag}:refs/tags/{tag}")],
                format!("refs/tags/{tag}"),
            ),
            Self::PullRequest(number) => (
                vec![format!(
                    "+refs/pull/{number}/head:refs/remotes/origin/pr/{number}"
                )],
                format!("refs/remotes/origin/pr/{number}"),
            ),
            Self::Commit(sha) => (vec![sha.clone()], sha.clone()),
            Self::AbbreviatedCommit(prefix) => (all_refs_refspecs(), prefix.clone()),
            Self::RemoteHead => (vec!["HEAD".to_owned()], "FETCH_HEAD".to_owned()),
        }
    }

    fn git_ref(&self) -> Option<GitRef> {
        match self {
            Self::Branch(branch) => Some(GitRef::Branch(branch.clone())),
            Self::Tag(tag) => Some(GitRef::Tag(tag.clone())),
            _ => None,
        }
    }
}

fn all_refs_refspecs() -> Vec<String> {
    vec![
        "+refs/heads/*:refs/remotes/origin/*".to_owned(),
        "+refs/tags/*:refs/tags/*".to_owned(),
    ]
}

/// Checks out `req.location` at `req.version` into `req.dest`.
///
/// git's progress and error output is appended to `log`; on failure `dest` may hold a partial
/// repository and is left for the caller to clean up.
pub async fn checkout(
    req: &CheckoutRequest,
    log: &File,
    cancel: &CancellationToken,
) -> Result<CheckedOut, SourceError> {
    validate_location(&req.location)?;
    let version = req
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let kind = version.map(classify_version).transpose()?;
    let scratch = tempfile::Builder::new().prefix("kiln-git-").tempdir()?;
    let git = Git::new(
        scratch.path(),
        &req.location,
        req.credential.as_ref(),
        log,
        cancel,
    )?;
    prepare_destination(&req.dest)?;
    let dest = req.dest.as_path();

    // No template: no hooks to copy or run. The remote is written straight into the config
    // rather than with `git remote add`, one git process less on every build.
    git.run("init", dest, &["init", "-q", "--template="])
        .await?;
    add_origin(dest, &req.location)?;

    let mut source_cache_note = None;
    let mut borrowing = false;
    if let Some(dir) = &req.source_cache {
        let mirror = mirror::mirror_dir(dir, &req.location);
        match mirror::update(&git, &mirror, &req.location).await {
            Ok(()) => {
                mirror::borrow(dest, &mirror)?;
                borrowing = true;
            }
            Err(SourceError::Cancelled) => return Err(SourceError::Cancelled),
            Err(err) => {
                source_cache_note = Some(format!(
                    "Warning: the source cache was not used: cannot update the mirror: {err}"
                ));
            }
        }
    }

    let depth = req.clone_depth.filter(|d| *d > 0);
    let target = match kind {
        None => {
            let target = default_branch(&git, dest).await?;
            fetch(&git, dest, &target.refspecs().0, depth, Logged::Yes).await?;
            target
        }
        Some(kind) => fetch_version(&git, dest, kind, version.unwrap_or_default(), depth).await?,
    };

    let (_, rev) = target.refspecs();
    let detach_at = format!("{rev}^{{commit}}");
    git.run(
        "checkout",
        dest,
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "-q",
            "--detach",
            "--end-of-options",
            &detach_at,
        ],
    )
    .await
    .map_err(|err| match (&target, err) {
        (FetchTarget::AbbreviatedCommit(_) | FetchTarget::Commit(_), SourceError::Git { .. }) => {
            SourceError::VersionNotFound(version.unwrap_or_default().to_owned())
        }
        (_, err) => err,
    })?;
    let resolved_commit = match detached_head(dest) {
        Some(sha) => sha,
        None => rev_parse_commit(&git, dest, "HEAD").await?,
    };
    let commit = commit_summary(&git, dest).await?;
    if req.fetch_submodules {
        git.run(
            "submodule update",
            dest,
            &["submodule", "update", "--init", "--recursive"],
        )
        .await?;
    }
    if borrowing {
        mirror::dissociate(&git, dest).await?;
        source_cache_note = Some(
            "Source cache: the project's mirror of the source was updated and the checkout fetched from it".to_owned(),
        );
    }
    Ok(CheckedOut {
        resolved_commit,
        git_ref: target.git_ref(),
        source_cache_note,
        commit,
    })
}

/// The subject and author of HEAD. The repository writes them (hostile): git cuts them to
/// their bounds, its output is read within [`MAX_GIT_STDOUT`] and cleaned; a commit git cannot
/// describe has none, and the build goes on.
async fn commit_summary(git: &Git<'_>, dest: &Path) -> Result<Option<CommitSummary>, SourceError> {
    let args = [
        "-c",
        "log.showSignature=false",
        "log",
        "-1",
        "--no-color",
        GIT_LOG_FORMAT,
        "HEAD",
        "--",
    ];
    match git.run_probe("log", dest, &args).await {
        Ok(out) => Ok(CommitSummary::parse(&out)),
        Err(SourceError::Cancelled) => Err(SourceError::Cancelled),
        Err(_) => Ok(None),
    }
}

fn prepare_destination(dest: &Path) -> Result<(), SourceError> {
    match std::fs::symlink_metadata(dest) {
        Ok(meta) => {
            if !meta.is_dir() || std::fs::read_dir(dest)?.next().is_some() {
                return Err(SourceError::DestinationNotEmpty(dest.to_owned()));
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dest)?;
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

async fn default_branch(git: &Git<'_>, dest: &Path) -> Result<FetchTarget, SourceError> {
    let out = git
        .run(
            "ls-remote",
            dest,
            &["ls-remote", "--symref", "--", "origin", "HEAD"],
        )
        .await?;
    let out = String::from_utf8_lossy(&out);
    let mut has_head = false;
    for line in out.lines() {
        if let Some(target) = line
            .strip_prefix("ref: refs/heads/")
            .and_then(|rest| rest.strip_suffix("\tHEAD"))
            && validate_ref_name(target).is_ok()
        {
            return Ok(FetchTarget::Branch(target.to_owned()));
        }
        has_head |= line.ends_with("\tHEAD");
    }
    if has_head {
        Ok(FetchTarget::RemoteHead)
    } else {
        Err(SourceError::NoDefaultBranch)
    }
}

/// Fetches what a version names. A branch, tag or pull request named in full is fetched
/// straight away; a bare name is tried as a branch first (the usual case), and only then looked
/// up among the remote's tags.
async fn fetch_version(
    git: &Git<'_>,
    dest: &Path,
    kind: VersionKind,
    version: &str,
    depth: Option<u32>,
) -> Result<FetchTarget, SourceError> {
    let not_found = || SourceError::VersionNotFound(version.to_owned());
    let target = match kind {
        VersionKind::Commit(sha) => FetchTarget::Commit(sha),
        VersionKind::Branch(branch) => FetchTarget::Branch(branch),
        VersionKind::Tag(tag) => FetchTarget::Tag(tag),
        VersionKind::PullRequest(number) => FetchTarget::PullRequest(number),
        VersionKind::Name(name) => {
            let branch = FetchTarget::Branch(name.clone());
            match fetch(
                git,
                dest,
                &branch.refspecs().0,
                depth,
                Logged::UnlessMissingRef,
            )
            .await
            {
                Ok(()) => return Ok(branch),
                Err(err) if !is_missing_ref(&err) => return Err(err),
                Err(_) => {}
            }
            let tag = format!("refs/tags/{name}");
            if remote_refs(git, dest, std::slice::from_ref(&tag))
                .await?
                .contains(&tag)
            {
                FetchTarget::Tag(name)
            } else if name.len() >= MIN_ABBREVIATED_SHA && is_hex(&name) {
                FetchTarget::AbbreviatedCommit(name.to_ascii_lowercase())
            } else {
                return Err(not_found());
            }
        }
    };
    let (refspecs, _) = target.refspecs();
    let fetched = match &target {
        // A hex prefix needs the full history to be resolved.
        FetchTarget::AbbreviatedCommit(_) => fetch(git, dest, &refspecs, None, Logged::Yes).await,
        _ => fetch(git, dest, &refspecs, depth, Logged::Yes).await,
    };
    match (fetched, &target) {
        (Ok(()), _) => Ok(target),
        (Err(err), _) if is_missing_ref(&err) => Err(not_found()),
        (Err(SourceError::Cancelled), _) => Err(SourceError::Cancelled),
        // Some servers refuse a commit id that is not a ref tip; the full history has it.
        (Err(_), FetchTarget::Commit(_)) => {
            fetch(git, dest, &all_refs_refspecs(), None, Logged::Yes).await?;
            Ok(target)
        }
        (Err(err), _) => Err(err),
    }
}

/// Whether git failed because the remote has no such ref.
fn is_missing_ref(err: &SourceError) -> bool {
    matches!(err, SourceError::Git { detail, .. } if detail.contains("couldn't find remote ref"))
}

/// Adds the `origin` remote to the new repository's config, as `git remote add` would.
fn add_origin(dest: &Path, location: &str) -> Result<(), SourceError> {
    // Inside double quotes only `\` and `"` need escaping; control characters were refused
    // with the location.
    let quoted = location.replace('\\', "\\\\").replace('"', "\\\"");
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(dest.join(".git").join("config"))?;
    write!(
        config,
        "[remote \"origin\"]\n\turl = \"{quoted}\"\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
    )?;
    Ok(())
}

/// The commit a detached HEAD points at, read from `.git/HEAD` (with the default `files` ref
/// storage); `None` when it cannot be read that way.
fn detached_head(dest: &Path) -> Option<String> {
    let head = std::fs::read_to_string(dest.join(".git").join("HEAD")).ok()?;
    let sha = head.trim();
    is_full_commit_id(sha).then(|| sha.to_ascii_lowercase())
}

/// The subset of `wanted` full ref names that exist on the remote.
async fn remote_refs(
    git: &Git<'_>,
    dest: &Path,
    wanted: &[String],
) -> Result<Vec<String>, SourceError> {
    let mut args = vec!["ls-remote", "--", "origin"];
    args.extend(wanted.iter().map(String::as_str));
    let out = git.run("ls-remote", dest, &args).await?;
    let out = String::from_utf8_lossy(&out);
    Ok(out
        .lines()
        .filter_map(|line| line.split_once('\t').map(|(_, name)| name))
        .filter(|name| wanted.iter().any(|w| w == name))
        .map(str::to_owned)
        .collect())
}

/// Whether git's complaints go to the build log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logged {
    Yes,
    /// A probe that may fail because the ref is missing, which the caller handles (a bare
    /// name that is not a branch): only other failures are logged.
    UnlessMissingRef,
}

async fn fetch(
    git: &Git<'_>,
    dest: &Path,
    refspecs: &[String],
    depth: Option<u32>,
    logged: Logged,
) -> Result<(), SourceError> {
    let depth_arg = depth.map(|d| format!("--depth={d}"));
    // No automatic maintenance afterwards: the repository lives as long as the build.
    let mut args = vec![
        "-c",
        "gc.auto=0",
        "-c",
        "maintenance.auto=false",
        "fetch",
        "--no-recurse-submodules",
    ];
    args.extend(depth_arg.as_deref());
    args.extend(["--", "origin"]);
    args.extend(refspecs.iter().map(String::as_str));
    match logged {
        Logged::Yes => git.run("fetch", dest, &args).await.map(drop),
        Logged::UnlessMissingRef => git.run_probe("fetch", dest, &args).await.map(drop),
    }
}

async fn rev_parse_commit(git: &Git<'_>, dest: &Path, rev: &str) -> Result<String, SourceError> {
    let spec = format!("{rev}^{{commit}}");
    let out = git
        .run(
            "rev-parse",
            dest,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        )
        .await?;
    let sha = String::from_utf8_lossy(&out).trim().to_owned();
    if is_full_commit_id(&sha) {
        Ok(sha)
    } else {
        Err(SourceError::Git {
            operation: "rev-parse",
            status: "unexpected output".to_owned(),
            detail: sha.chars().take(100).collect(),
        })
    }
}

/// Runs git with a fixed, scrubbed environment.
struct Git<'a> {
    env: Vec<(OsString, OsString)>,
    log: &'a File,
    cancel: &'a CancellationToken,
}

impl<'a> Git<'a> {
    /// Prepares the environment in `scratch` (a private directory that outlives every git run).
    fn new(
        scratch: &Path,
        location: &str,
        credential: Option<&GitCredential>,
        log: &'a File,
        cancel: &'a CancellationToken,
    ) -> Result<Self, SourceError> {
        let origin = credential
            .map(|credential| credential.destination(location))
            .transpose()
            .map_err(SourceError::CredentialWithheld)?;
        let home = scratch.join("home");
        std::fs::create_dir(&home)?;
        let mut env: Vec<(OsString, OsString)> = PASSED_THROUGH_ENV
            .iter()
            .filter_map(|name| std::env::var_os(name).map(|value| ((*name).into(), value)))
            .collect();
        // Host and user git configuration must not change what is fetched or how.
        env.extend(
            [
                ("HOME", home.as_os_str()),
                ("XDG_CONFIG_HOME", home.as_os_str()),
                ("GIT_CONFIG_NOSYSTEM", "1".as_ref()),
                ("GIT_TERMINAL_PROMPT", "0".as_ref()),
                ("GIT_SSH_COMMAND", "ssh -o BatchMode=yes".as_ref()),
                ("LC_ALL", "C".as_ref()),
            ]
            .map(|(k, v)| (k.into(), v.to_owned())),
        );
        if let (Some(credential), Some(origin)) = (credential, origin) {
            let askpass = write_askpass_script(scratch)?;
            env.extend(askpass_env(&origin, credential, &askpass));
            // A redirect could move the fetch (and the credential git holds) to another host:
            // none is followed while a credential is in play.
            env.extend(
                [
                    ("GIT_CONFIG_COUNT", "1"),
                    ("GIT_CONFIG_KEY_0", "http.followRedirects"),
                    ("GIT_CONFIG_VALUE_0", "false"),
                ]
                .map(|(k, v)| (k.into(), v.into())),
            );
        }
        Ok(Self { env, log, cancel })
    }

    fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs one git command; stderr goes to the log, stdout is returned.
    async fn run(
        &self,
        operation: &'static str,
        cwd: &Path,
        args: &[&str],
    ) -> Result<Vec<u8>, SourceError> {
        self.run_with_log(operation, cwd, args, Some(self.log))
            .await
    }

    /// Runs a git command that may fail because the remote lacks a ref: its stderr reaches the
    /// log only when it fails for another reason (the last [`ERROR_TAIL_BYTES`] of it).
    async fn run_probe(
        &self,
        operation: &'static str,
        cwd: &Path,
        args: &[&str],
    ) -> Result<Vec<u8>, SourceError> {
        self.run_with_log(operation, cwd, args, None).await
    }

    async fn run_with_log(
        &self,
        operation: &'static str,
        cwd: &Path,
        args: &[&str],
        log: Option<&File>,
    ) -> Result<Vec<u8>, SourceError> {
        let mut child = self
            .command(cwd, args)
            .spawn()
            .map_err(SourceError::Spawn)?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let finished = async {
            let (out, tail) = tokio::join!(read_capped(stdout), copy_to_log(stderr, log));
            (out, tail, child.wait().await)
        };
        // Dropping the child on cancellation kills it (`kill_on_drop`).
        let (out, tail, status) = tokio::select! {
            finished = finished => finished,
            () = self.cancel.cancelled() => return Err(SourceError::Cancelled),
        };
        let status = status?;
        let tail = tail?;
        if !status.success() {
            let err = SourceError::Git {
                operation,
                status: status.to_string(),
                detail: error_detail(&tail),
            };
            if log.is_none() && !is_missing_ref(&err) {
                let mut log = self.log;
                log.write_all(&tail)?;
            }
            return Err(err);
        }
        out?.ok_or(SourceError::OutputTooLarge { operation })
    }
}

fn write_askpass_script(dir: &Path) -> Result<PathBuf, SourceError> {
    let path = dir.join("askpass.sh");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(&path)?;
    file.write_all(ASKPASS_SCRIPT.as_bytes())?;
    Ok(path)
}

/// Environment for the git child: the askpass program and the only answers it may give.
fn askpass_env(
    origin: &HttpsLocation,
    credential: &GitCredential,
    askpass: &Path,
) -> Vec<(OsString, OsString)> {
    let authority = &origin.authority;
    // git asks for a username only when the URL has none, then for the password of that user.
    let username = origin.user.as_deref().unwrap_or(&credential.username);
    vec![
        ("GIT_ASKPASS".into(), askpass.into()),
        (
            ASKPASS_USERNAME_PROMPT.into(),
            format!("Username for 'https://{authority}': ").into(),
        ),
        (
            ASKPASS_PASSWORD_PROMPT.into(),
            format!("Password for 'https://{username}@{authority}': ").into(),
        ),
        (ASKPASS_USERNAME.into(), username.into()),
        (
            ASKPASS_TOKEN.into(),
            credential.token.expose_secret().into(),
        ),
    ]
}

/// Reads everything; `None` when it exceeded [`MAX_GIT_STDOUT`] (the rest is drained).
async fn read_capped(stream: Option<impl AsyncRead + Unpin>) -> std::io::Result<Option<Vec<u8>>> {
    let Some(mut stream) = stream else {
        return Ok(Some(Vec::new()));
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let mut overflow = false;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok((!overflow).then_some(out));
        }
        if out.len() + n > MAX_GIT_STDOUT {
            overflow = true;
        } else {
            out.extend_from_slice(&buf[..n]);
        }
    }
}

/// Appends git's stderr to the log (if any), returning its last [`ERROR_TAIL_BYTES`] bytes.
async fn copy_to_log(
    stream: Option<impl AsyncRead + Unpin>,
    mut log: Option<&File>,
) -> std::io::Result<Vec<u8>> {
    let mut tail = Vec::new();
    let Some(mut stream) = stream else {
        return Ok(tail);
    };
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(tail);
        }
        if let Some(log) = &mut log {
            log.write_all(&buf[..n])?;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > ERROR_TAIL_BYTES {
            tail.drain(..tail.len() - ERROR_TAIL_BYTES);
        }
    }
}

/// What git complained about, for the phase context message: its first `fatal:`/`error:`
/// lines, else the last lines it printed.
fn error_detail(stderr_tail: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr_tail);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("hint:"))
        .collect();
    let complaints: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("fatal:") || line.starts_with("error:"))
        .take(2)
        .collect();
    let detail = if complaints.is_empty() {
        lines[lines.len().saturating_sub(3)..].join(" / ")
    } else {
        complaints.join(" / ")
    };
    if detail.is_empty() {
        "git printed no error message".to_owned()
    } else {
        detail
    }
}

mod mirror;
#[cfg(test)]
mod tests;
