//! Which host paths may be a build's source. git reads a local path (or a `file://` URL) with
//! Kiln's own rights, so a local source is a convenience for one person: with one account any
//! path outside Kiln's data dir; with several, only paths under the roots configured for the
//! account. The data dir (its database, credentials, logs and other builds' checkouts) is never
//! a source. The API checks every location it is given, and the runner checks again just
//! before the checkout, against the real path it then hands to git.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// The local-source rule of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSourcePolicy {
    /// Kiln's data dir, as a real path.
    data_dir: PathBuf,
    allowed: Allowed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    /// One account: any path outside the data dir.
    Anywhere,
    /// Several accounts: only beneath these real paths (none at all when empty).
    Under(Vec<PathBuf>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocalSourceError {
    #[error("the local path {0} is not absolute; a local source must be an absolute path")]
    NotAbsolute(String),
    #[error("the local path {0} must not contain '..'")]
    ParentComponent(String),
    #[error("the local path {0} is inside Kiln's data directory, which is never a source")]
    InsideDataDir(String),
    #[error(
        "the local path {0} is not allowed: with several accounts a local source must be under \
         the account's local_source_roots (kiln.toml), and this account has none"
    )]
    NoRoots(String),
    #[error(
        "the local path {path} is not under this account's local_source_roots ({roots}) in kiln.toml"
    )]
    OutsideRoots { path: String, roots: String },
    #[error("the local path {path} cannot be resolved on this host: {reason}")]
    Unresolvable { path: String, reason: String },
}

impl LocalSourcePolicy {
    /// One account: any local path outside `data_dir` (a real path).
    pub fn anywhere_outside(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            allowed: Allowed::Anywhere,
        }
    }

    /// Several accounts: local paths only beneath `roots` (real paths), never in `data_dir`.
    pub fn under_roots(data_dir: PathBuf, roots: Vec<PathBuf>) -> Self {
        Self {
            data_dir,
            allowed: Allowed::Under(roots),
        }
    }

    /// Checks a location given to the API. A local path that does not exist yet is judged by
    /// its nearest existing ancestor (the runner checks the full path again at checkout).
    pub fn check(&self, location: &str) -> Result<(), LocalSourceError> {
        match local_path(location) {
            None => Ok(()),
            Some(path) => self.judge(&path, resolve_existing_prefix(&path)?),
        }
    }

    /// The location git is given for `location`: unchanged when it is not a local path; else its
    /// real path (which must exist and be allowed), so what was checked is what git reads.
    pub fn resolve_for_checkout(&self, location: &str) -> Result<String, LocalSourceError> {
        let Some(path) = local_path(location) else {
            return Ok(location.to_owned());
        };
        require_plain_absolute(&path)?;
        let real = std::fs::canonicalize(&path).map_err(|err| LocalSourceError::Unresolvable {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        self.judge(&path, real.clone())?;
        real.into_os_string()
            .into_string()
            .map_err(|_| LocalSourceError::Unresolvable {
                path,
                reason: "its real path is not UTF-8".to_owned(),
            })
    }

    fn judge(&self, given: &str, real: PathBuf) -> Result<(), LocalSourceError> {
        if real.starts_with(&self.data_dir) {
            return Err(LocalSourceError::InsideDataDir(given.to_owned()));
        }
        match &self.allowed {
            Allowed::Anywhere => Ok(()),
            Allowed::Under(roots) if roots.is_empty() => {
                Err(LocalSourceError::NoRoots(given.to_owned()))
            }
            Allowed::Under(roots) if roots.iter().any(|root| real.starts_with(root)) => Ok(()),
            Allowed::Under(roots) => Err(LocalSourceError::OutsideRoots {
                path: given.to_owned(),
                roots: roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Every account's local-source rule.
#[derive(Debug, Clone)]
pub struct LocalSourcePolicies {
    data_dir: PathBuf,
    several_accounts: bool,
    roots: HashMap<String, Vec<PathBuf>>,
}

impl LocalSourcePolicies {
    /// `data_dir` and the roots must be real paths (see [`std::fs::canonicalize`]); `roots`
    /// names each account's roots, and `accounts` is how many accounts there are.
    pub fn new(data_dir: PathBuf, accounts: usize, roots: HashMap<String, Vec<PathBuf>>) -> Self {
        Self {
            data_dir,
            several_accounts: accounts > 1,
            roots,
        }
    }

    pub fn for_account(&self, account_id: &str) -> LocalSourcePolicy {
        if self.several_accounts {
            LocalSourcePolicy::under_roots(
                self.data_dir.clone(),
                self.roots.get(account_id).cloned().unwrap_or_default(),
            )
        } else {
            LocalSourcePolicy::anywhere_outside(self.data_dir.clone())
        }
    }
}

/// Whether a source of this type is checked out with git from its location (S3 and CodePipeline
/// sources are not supported, and NO_SOURCE has nothing to check out).
pub fn is_checked_out(source_type: Option<&str>) -> bool {
    !matches!(source_type, Some("S3" | "CODEPIPELINE" | "NO_SOURCE"))
}

/// The host path git would read for `location`, or `None` when git would reach it over the
/// network (`https://…`, `ssh://…`, `host:path`). Like git: a `file://` URL (any host part is
/// ignored, `%XX` is decoded) or anything without `://` whose first `:` (if any) comes after a
/// `/`.
pub fn local_path(location: &str) -> Option<String> {
    let location = location.trim();
    if let Some((scheme, rest)) = location.split_once("://")
        && !scheme.contains('/')
    {
        if !scheme.eq_ignore_ascii_case("file") {
            return None;
        }
        let path = rest.find('/').map_or("", |start| &rest[start..]);
        return Some(percent_decode(path));
    }
    match (location.find(':'), location.find('/')) {
        (Some(colon), Some(slash)) if slash < colon => Some(location.to_owned()),
        (Some(_), _) => None,
        (None, _) => Some(location.to_owned()),
    }
}

/// `%XX` decoded; an invalid escape is kept as written (git does the same).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            // Both digits are below 16.
            out.push(u8::try_from(hi * 16 + lo).unwrap_or_default());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Refuses a relative path (git would read it relative to the checkout) and `..`, which
/// would make the judged path differ from the written one.
fn require_plain_absolute(path: &str) -> Result<(), LocalSourceError> {
    let given = Path::new(path);
    if !given.is_absolute() {
        return Err(LocalSourceError::NotAbsolute(path.to_owned()));
    }
    if given.components().any(|c| c == Component::ParentDir) {
        return Err(LocalSourceError::ParentComponent(path.to_owned()));
    }
    Ok(())
}

/// The real path of `path`'s longest existing ancestor, with the rest appended: where `path`
/// would be once created.
fn resolve_existing_prefix(path: &str) -> Result<PathBuf, LocalSourceError> {
    require_plain_absolute(path)?;
    let mut existing = Path::new(path);
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(real) => return Ok(missing.iter().rev().fold(real, |acc, part| acc.join(part))),
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    missing.push(name.to_owned());
                    existing = parent;
                }
                _ => {
                    return Err(LocalSourceError::Unresolvable {
                        path: path.to_owned(),
                        reason: "no part of it exists".to_owned(),
                    });
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_found_as_git_finds_them() {
        for (location, path) in [
            ("/srv/git/repo", Some("/srv/git/repo")),
            ("relative/repo", Some("relative/repo")),
            ("./a:b", Some("./a:b")),
            ("file:///srv/a%20b", Some("/srv/a b")),
            ("file://anyhost/srv/x", Some("/srv/x")),
            ("FILE:///srv/x", Some("/srv/x")),
            ("file://", Some("")),
            ("https://example.com/r.git", None),
            ("ssh://git@example.com/r.git", None),
            ("git@example.com:r.git", None),
            ("host:/abs/path", None),
        ] {
            assert_eq!(local_path(location).as_deref(), path, "{location}");
        }
    }

    #[test]
    fn one_account_allows_anything_but_the_data_dir() {
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().canonicalize().unwrap();
        let policy = LocalSourcePolicy::anywhere_outside(data_dir.clone());
        assert_eq!(policy.check("https://example.com/r.git"), Ok(()));
        assert_eq!(policy.check("/usr/share/not-yet-there/repo"), Ok(()));
        let inside = data_dir.join("work/x/src");
        for location in [
            data_dir.display().to_string(),
            inside.display().to_string(),
            format!("file://{}", inside.display()),
        ] {
            assert!(
                matches!(
                    policy.check(&location),
                    Err(LocalSourceError::InsideDataDir(_))
                ),
                "{location}"
            );
        }
        assert!(matches!(
            policy.check("repo"),
            Err(LocalSourceError::NotAbsolute(_))
        ));
        assert!(matches!(
            policy.check("/usr/../etc"),
            Err(LocalSourceError::ParentComponent(_))
        ));
    }

    #[test]
    fn a_symlink_into_the_data_dir_is_refused_by_its_real_path() {
        let outside = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().canonicalize().unwrap();
        let link = outside.path().join("link");
        std::os::unix::fs::symlink(&data_dir, &link).unwrap();
        let policy = LocalSourcePolicy::anywhere_outside(data_dir);
        let location = link.join("work").display().to_string();
        assert!(matches!(
            policy.check(&location),
            Err(LocalSourceError::InsideDataDir(_))
        ));
        assert!(matches!(
            policy.resolve_for_checkout(&link.display().to_string()),
            Err(LocalSourceError::InsideDataDir(_))
        ));
    }

    #[test]
    fn several_accounts_allow_only_their_roots() {
        let data = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let real_root = root.path().canonicalize().unwrap();
        let repo = real_root.join("repo");
        std::fs::create_dir(&repo).unwrap();
        let policies = LocalSourcePolicies::new(
            data.path().canonicalize().unwrap(),
            2,
            HashMap::from([("111122223333".to_owned(), vec![real_root.clone()])]),
        );
        let a = policies.for_account("111122223333");
        let b = policies.for_account("444455556666");
        let location = repo.display().to_string();
        assert_eq!(a.check(&location), Ok(()));
        assert_eq!(a.resolve_for_checkout(&location), Ok(location.clone()));
        assert!(matches!(
            a.check("/usr"),
            Err(LocalSourceError::OutsideRoots { .. })
        ));
        assert!(matches!(
            b.check(&location),
            Err(LocalSourceError::NoRoots(_))
        ));
        assert_eq!(b.check("https://example.com/r.git"), Ok(()));
    }

    #[test]
    fn checkout_needs_the_path_to_exist() {
        let data = tempfile::tempdir().unwrap();
        let policy = LocalSourcePolicy::anywhere_outside(data.path().canonicalize().unwrap());
        assert!(matches!(
            policy.resolve_for_checkout("/no/such/kiln/repo"),
            Err(LocalSourceError::Unresolvable { .. })
        ));
        assert_eq!(
            policy.resolve_for_checkout("https://example.com/r.git"),
            Ok("https://example.com/r.git".to_owned())
        );
    }
}
