//! The commit a build checked out (its subject and author, as the runner read them) and where a
//! forge shows it: the web pages of a repository, a commit and a pull request, derived from a
//! source location or taken from a webhook's payload. None of it is in CodeBuild's `Build`
//! shape; the console shows it.

use serde::{Deserialize, Serialize};

use crate::webhook::Forge;

/// Longest commit subject kept (characters).
pub const MAX_SUBJECT_CHARS: usize = 300;
/// Longest author name kept (characters).
pub const MAX_AUTHOR_CHARS: usize = 120;
/// Longest repository page address kept.
const MAX_PAGE_LEN: usize = 512;

/// The first line of a commit's message and its author's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitSummary {
    pub subject: String,
    pub author: String,
}

/// The `git log` format [`CommitSummary::parse`] reads: author name, NUL, subject, each cut by
/// git itself to its bound (`..` marks a cut; shorter ones are padded with spaces).
pub const GIT_LOG_FORMAT: &str = "--format=%<(120,trunc)%an%x00%<(300,trunc)%s";

impl CommitSummary {
    /// Reads `git log -1` output in [`GIT_LOG_FORMAT`]. The output comes from the repository
    /// (hostile): invalid UTF-8 is replaced, control characters dropped, both parts cut to their
    /// bounds. `None` when it names no author and no subject.
    pub fn parse(output: &[u8]) -> Option<CommitSummary> {
        let text = String::from_utf8_lossy(output);
        let (author, subject) = text.split_once('\0').unwrap_or(("", &text));
        let subject = subject.lines().next().unwrap_or_default();
        let summary = CommitSummary {
            subject: clean(subject, MAX_SUBJECT_CHARS),
            author: clean(author, MAX_AUTHOR_CHARS),
        };
        (!summary.subject.is_empty() || !summary.author.is_empty()).then_some(summary)
    }

    /// Whether it is within the bounds [`CommitSummary::parse`] keeps (an agent's report is
    /// checked with this).
    pub fn is_within_bounds(&self) -> bool {
        let ok = |text: &str, max: usize| {
            text.chars().count() <= max && !text.chars().any(char::is_control)
        };
        ok(&self.subject, MAX_SUBJECT_CHARS) && ok(&self.author, MAX_AUTHOR_CHARS)
    }
}

fn clean(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A repository's web page on a forge that Kiln knows how to link into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryPage {
    pub forge: Forge,
    /// `https://host/owner/repo`, without a trailing `/` or `.git`.
    pub url: String,
}

impl RepositoryPage {
    /// The page a webhook payload gives for its repository, if it is a plain http(s) address.
    pub fn from_payload(forge: Forge, url: &str) -> Option<RepositoryPage> {
        let url = url.trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))?;
        let (host, path) = rest.split_once('/')?;
        (url.len() <= MAX_PAGE_LEN && is_host(host) && is_repository_path(path)).then(|| {
            RepositoryPage {
                forge,
                url: url.to_string(),
            }
        })
    }

    /// The page of the repository at `location` (an `https://`, `ssh://` or `user@host:path`
    /// git address) when its source type or host names a forge Kiln can link into.
    pub fn from_source(source_type: Option<&str>, location: &str) -> Option<RepositoryPage> {
        let (host, path) = host_and_path(location.trim())?;
        let host_name = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let forge = match (source_type.unwrap_or_default(), host_name.as_str()) {
            (_, "github.com") | ("GITHUB_ENTERPRISE", _) => Forge::GitHub,
            (_, "gitlab.com") | ("GITLAB" | "GITLAB_SELF_MANAGED", _) => Forge::GitLab,
            (_, "bitbucket.org") | ("BITBUCKET", _) => Forge::Bitbucket,
            (_, "codeberg.org") => Forge::Forgejo,
            _ => return None,
        };
        let path = path.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let url = format!("https://{host}/{path}");
        (url.len() <= MAX_PAGE_LEN && is_host(host) && is_repository_path(path))
            .then_some(RepositoryPage { forge, url })
    }

    /// The page of commit `sha`.
    pub fn commit_url(&self, sha: &str) -> String {
        let url = &self.url;
        match self.forge {
            Forge::GitHub | Forge::GitHubEnterprise | Forge::Gitea | Forge::Forgejo => {
                format!("{url}/commit/{sha}")
            }
            Forge::GitLab => format!("{url}/-/commit/{sha}"),
            Forge::Bitbucket => format!("{url}/commits/{sha}"),
        }
    }

    /// The page of pull request (merge request) `number`.
    pub fn pull_request_url(&self, number: u64) -> String {
        let url = &self.url;
        match self.forge {
            Forge::GitHub | Forge::GitHubEnterprise => format!("{url}/pull/{number}"),
            Forge::Gitea | Forge::Forgejo => format!("{url}/pulls/{number}"),
            Forge::GitLab => format!("{url}/-/merge_requests/{number}"),
            Forge::Bitbucket => format!("{url}/pull-requests/{number}"),
        }
    }
}

/// `host[:port]` and path of a git address; an ssh address's port is not the web server's.
fn host_and_path(location: &str) -> Option<(&str, &str)> {
    if let Some(rest) = location.strip_prefix("https://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return Some((host, path));
    }
    if let Some(rest) = location.strip_prefix("ssh://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return Some((host.split(':').next()?, path));
    }
    // scp-like `git@host:owner/repo.git`.
    let (user_host, path) = location.split_once(':')?;
    let (_, host) = user_host.split_once('@')?;
    (!path.starts_with('/')).then_some((host, path))
}

fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
}

/// `owner/repo` or deeper (GitLab groups), each segment a plain name.
fn is_repository_path(path: &str) -> bool {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    path.split('/').count() >= 2 && path.split('/').all(segment_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_log_output_is_read_within_bounds() {
        let summary = CommitSummary::parse(b"Ada Lovelace\0Add the engine\n").unwrap();
        assert_eq!(summary.author, "Ada Lovelace");
        assert_eq!(summary.subject, "Add the engine");
        assert!(summary.is_within_bounds());

        let long = format!("{}\0{}\x1b[31m\nsecond", "a".repeat(1000), "s".repeat(5000));
        let summary = CommitSummary::parse(long.as_bytes()).unwrap();
        assert_eq!(summary.author.len(), MAX_AUTHOR_CHARS);
        assert_eq!(summary.subject.len(), MAX_SUBJECT_CHARS);
        assert!(summary.is_within_bounds());

        let odd = CommitSummary::parse(b"\xff\xfe\0\x07bell").unwrap();
        assert_eq!(odd.author, "\u{fffd}\u{fffd}");
        assert_eq!(odd.subject, "bell");
        assert_eq!(CommitSummary::parse(b""), None);
        assert_eq!(CommitSummary::parse(b" \0 \n"), None);
        let bad = CommitSummary {
            subject: "x\ny".into(),
            author: String::new(),
        };
        assert!(!bad.is_within_bounds());
    }

    #[test]
    fn forge_pages_come_from_source_locations() {
        let page = |t: &str, l: &str| RepositoryPage::from_source(Some(t), l);
        let github = page("GITHUB", "https://github.com/acme/app.git").unwrap();
        assert_eq!(github.url, "https://github.com/acme/app");
        assert_eq!(
            github.commit_url("abc"),
            "https://github.com/acme/app/commit/abc"
        );
        assert_eq!(
            github.pull_request_url(7),
            "https://github.com/acme/app/pull/7"
        );
        assert_eq!(
            page("GITHUB", "git@github.com:acme/app.git").unwrap().url,
            "https://github.com/acme/app"
        );
        let gitlab = page("GITLAB", "https://oauth2@gitlab.com/group/sub/app").unwrap();
        assert_eq!(gitlab.url, "https://gitlab.com/group/sub/app");
        assert_eq!(
            gitlab.commit_url("abc"),
            "https://gitlab.com/group/sub/app/-/commit/abc"
        );
        assert_eq!(
            gitlab.pull_request_url(3),
            "https://gitlab.com/group/sub/app/-/merge_requests/3"
        );
        let self_managed = page(
            "GITLAB_SELF_MANAGED",
            "ssh://git@git.example.com:2222/team/app.git",
        )
        .unwrap();
        assert_eq!(self_managed.url, "https://git.example.com/team/app");
        let bitbucket = page("BITBUCKET", "https://bitbucket.org/ws/app.git/").unwrap();
        assert_eq!(
            bitbucket.commit_url("abc"),
            "https://bitbucket.org/ws/app/commits/abc"
        );
        assert_eq!(
            bitbucket.pull_request_url(2),
            "https://bitbucket.org/ws/app/pull-requests/2"
        );
        let codeberg = page("GITHUB", "https://codeberg.org/o/r.git").unwrap();
        assert_eq!(
            codeberg.commit_url("abc"),
            "https://codeberg.org/o/r/commit/abc"
        );
        assert_eq!(
            codeberg.pull_request_url(4),
            "https://codeberg.org/o/r/pulls/4"
        );
        let enterprise = page("GITHUB_ENTERPRISE", "https://ghe.example.com:8443/o/r").unwrap();
        assert_eq!(enterprise.url, "https://ghe.example.com:8443/o/r");

        // Unknown forges, local paths and odd addresses get no page.
        for (t, l) in [
            ("GITHUB", "https://git.example.com/o/r.git"),
            ("NO_SOURCE", ""),
            ("GITHUB", "/srv/repos/app"),
            ("GITHUB", "file:///srv/repos/app"),
            ("GITHUB", "https://github.com/acme"),
            ("GITHUB", "https://github.com/acme/app?x=1"),
            ("GITHUB", "https://github.com/acme/../app"),
            ("GITHUB", "https://github.com/acme/a\"pp"),
            ("GITHUB", "javascript:alert(1)//github.com/a/b"),
        ] {
            assert_eq!(page(t, l), None, "{l}");
        }
    }

    #[test]
    fn payload_pages_are_plain_http_addresses() {
        let page =
            RepositoryPage::from_payload(Forge::Gitea, "http://gitea.local:3000/o/r/").unwrap();
        assert_eq!(page.url, "http://gitea.local:3000/o/r");
        assert_eq!(
            page.pull_request_url(1),
            "http://gitea.local:3000/o/r/pulls/1"
        );
        for url in [
            "javascript:alert(1)",
            "https://github.com/o",
            "https://github.com/o/r#x",
            "https://git hub.com/o/r",
            "ftp://github.com/o/r",
        ] {
            assert_eq!(
                RepositoryPage::from_payload(Forge::GitHub, url),
                None,
                "{url}"
            );
        }
    }

    #[test]
    fn pages_keep_their_forge_through_serde() {
        let page = RepositoryPage {
            forge: Forge::GitLab,
            url: "https://gitlab.com/o/r".into(),
        };
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["forge"], "GITLAB");
        assert_eq!(
            serde_json::from_value::<RepositoryPage>(json).unwrap(),
            page
        );
    }
}
