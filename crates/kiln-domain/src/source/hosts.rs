//! Where an imported source credential may go: each forge's token is bound to its forge's host
//! (GITHUB to github.com, BITBUCKET to bitbucket.org, GITLAB to gitlab.com; GITHUB_ENTERPRISE
//! and GITLAB_SELF_MANAGED to the hosts the operator configures), over https only.
//!
//! A location is read strictly, so that what is compared here is what git and curl connect to:
//! `https://[user@]host[:port]/path`, the host made of letters, digits, `.` and `-` only. Anything
//! else (percent-encoding, a second `@`, `\`, a password, IPv6 literals, another scheme) gets no
//! credential.

use std::fmt;

/// The port of `https://host/…`.
const HTTPS_PORT: u16 = 443;
/// Longest host name (DNS limit).
const MAX_HOST_LEN: usize = 253;
/// Longest user name accepted in a location.
const MAX_USER_LEN: usize = 256;

/// A host and port a credential may be sent to, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialHost {
    host: String,
    port: u16,
}

impl CredentialHost {
    /// Reads `host` or `host:port` (as `kiln.toml` lists hosts).
    pub fn parse(text: &str) -> Result<CredentialHost, &'static str> {
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, parse_port(port)?),
            None => (text, HTTPS_PORT),
        };
        check_host(host)?;
        Ok(CredentialHost {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn fixed(host: &str) -> CredentialHost {
        CredentialHost {
            host: host.to_owned(),
            port: HTTPS_PORT,
        }
    }
}

impl fmt::Display for CredentialHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == HTTPS_PORT {
            write!(f, "{}", self.host)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port must be a number from 1 to 65535");
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or("the port must be a number from 1 to 65535")
}

fn check_host(host: &str) -> Result<(), &'static str> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || host.len() > MAX_HOST_LEN || !host.split('.').all(label_ok) {
        return Err("the host must be a DNS name or an IPv4 address (letters, digits, '.', '-')");
    }
    Ok(())
}

/// An `https://` location read strictly: what git prompts for and connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsLocation {
    /// The user name written in the location (`https://user@host/…`), if any.
    pub user: Option<String>,
    /// `host[:port]` exactly as written, as git names it in its credential prompts.
    pub authority: String,
    /// Where it connects to.
    pub host: CredentialHost,
}

/// Reads an `https://[user@]host[:port]/path` location; `Err` says why it is not one.
pub fn https_location(location: &str) -> Result<HttpsLocation, &'static str> {
    let Some(rest) = location.strip_prefix("https://") else {
        return Err("credentials are only sent over https://");
    };
    if location
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '#' | '?'))
    {
        return Err("the location contains a space, a control character, '\\', '#' or '?'");
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.len() == rest.len() {
        return Err("the location has no path after the host");
    }
    let (user, host_port) = match authority.split_once('@') {
        Some((user, host_port)) => (Some(user), host_port),
        None => (None, authority),
    };
    if let Some(user) = user {
        let user_ok = !user.is_empty()
            && user.len() <= MAX_USER_LEN
            && user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~'));
        if !user_ok {
            return Err("the user name in the location is not plain (letters, digits, . _ - ~)");
        }
    }
    let host = CredentialHost::parse(host_port)?;
    Ok(HttpsLocation {
        user: user.map(str::to_owned),
        authority: host_port.to_owned(),
        host,
    })
}

/// The hosts the operator allows for the forges whose host is not fixed (`kiln.toml`:
/// `[source_hosts] github_enterprise = […]`, `gitlab_self_managed = […]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceHosts {
    pub github_enterprise: Vec<CredentialHost>,
    pub gitlab_self_managed: Vec<CredentialHost>,
}

impl SourceHosts {
    /// The hosts a credential of `server_type` may be sent to.
    pub fn hosts_for(&self, server_type: &str) -> Vec<CredentialHost> {
        match server_type {
            "GITHUB" => vec![CredentialHost::fixed("github.com")],
            "BITBUCKET" => vec![CredentialHost::fixed("bitbucket.org")],
            "GITLAB" => vec![CredentialHost::fixed("gitlab.com")],
            "GITHUB_ENTERPRISE" => self.github_enterprise.clone(),
            "GITLAB_SELF_MANAGED" => self.gitlab_self_managed.clone(),
            _ => Vec::new(),
        }
    }
}

/// Why a credential is not sent to a location. Says nothing about the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld(String);

impl fmt::Display for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decides whether the credential of `server_type`, bound to `hosts`, may be sent to
/// `location`: only over https, to exactly one of `hosts`. Returns the location as read.
pub fn credential_destination(
    server_type: &str,
    hosts: &[CredentialHost],
    location: &str,
) -> Result<HttpsLocation, Withheld> {
    let allowed = || match hosts {
        [] => format!(
            "no host is configured for {server_type} credentials (kiln.toml [source_hosts])"
        ),
        _ => format!(
            "{server_type} credentials are only sent to https://{}",
            hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", https://")
        ),
    };
    let parsed =
        https_location(location).map_err(|why| Withheld(format!("{why}; {}", allowed())))?;
    if hosts.contains(&parsed.host) {
        Ok(parsed)
    } else {
        Err(Withheld(format!(
            "the location's host is {}; {}",
            parsed.host,
            allowed()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured() -> SourceHosts {
        SourceHosts {
            github_enterprise: vec![
                CredentialHost::parse("GHE.example.com").unwrap(),
                CredentialHost::parse("127.0.0.1:8443").unwrap(),
            ],
            gitlab_self_managed: Vec::new(),
        }
    }

    fn decide(server_type: &str, location: &str) -> Result<HttpsLocation, Withheld> {
        credential_destination(server_type, &configured().hosts_for(server_type), location)
    }

    #[test]
    fn each_forge_gets_its_own_host_over_https() {
        for (server_type, location) in [
            ("GITHUB", "https://github.com/o/r.git"),
            ("GITHUB", "https://GitHub.com/o/r.git"),
            ("GITHUB", "https://github.com:443/o/r.git"),
            ("GITHUB", "https://x-access-token@github.com/o/r.git"),
            ("BITBUCKET", "https://someone@bitbucket.org/team/r.git"),
            ("GITLAB", "https://gitlab.com/g/sub/r.git"),
            ("GITHUB_ENTERPRISE", "https://ghe.example.com/o/r.git"),
            ("GITHUB_ENTERPRISE", "https://127.0.0.1:8443/o/r.git"),
        ] {
            assert!(
                decide(server_type, location).is_ok(),
                "{server_type} {location}"
            );
        }
        let parsed = decide("BITBUCKET", "https://me@bitbucket.org/t/r.git").unwrap();
        assert_eq!(parsed.user.as_deref(), Some("me"));
        assert_eq!(parsed.authority, "bitbucket.org");
    }

    #[test]
    fn anything_else_gets_no_credential() {
        for (server_type, location) in [
            ("GITHUB", "http://github.com/o/r.git"),
            ("GITHUB", "http://127.0.0.1:4444/repo.git"),
            ("GITHUB", "https://127.0.0.1:4444/repo.git"),
            ("GITHUB", "https://github.com:8443/o/r.git"),
            ("GITHUB", "https://github.com.evil.example/o/r.git"),
            ("GITHUB", "https://evil.example/github.com/o/r.git"),
            ("GITHUB", "https://github.com@evil.example/o/r.git"),
            ("GITHUB", "https://github.com:443@evil.example/o/r.git"),
            ("GITHUB", "https://a@b@github.com/o/r.git"),
            ("GITHUB", "https://evil.example\\@github.com/o/r.git"),
            ("GITHUB", "https://evil.example#@github.com/o/r.git"),
            ("GITHUB", "https://evil.example?@github.com/o/r.git"),
            ("GITHUB", "https://%67ithub.com/o/r.git"),
            ("GITHUB", "https://github.com./o/r.git"),
            ("GITHUB", "https://github.com"),
            ("GITHUB", "HTTPS://github.com/o/r.git"),
            ("GITHUB", "ssh://git@github.com/o/r.git"),
            ("GITHUB", "git@github.com:o/r.git"),
            ("GITHUB", "/srv/git/r"),
            ("GITHUB", "https://[::1]/o/r.git"),
            ("GITHUB", "https://github.com/o/r.git\n"),
            ("GITLAB", "https://github.com/o/r.git"),
            ("BITBUCKET", "https://gitlab.com/o/r.git"),
            ("GITHUB_ENTERPRISE", "https://github.com/o/r.git"),
            ("GITHUB_ENTERPRISE", "https://127.0.0.1/o/r.git"),
            ("GITHUB_ENTERPRISE", "https://127.0.0.1:8444/o/r.git"),
            ("GITLAB_SELF_MANAGED", "https://gitlab.example.com/o/r.git"),
            (
                "CODECOMMIT",
                "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/r",
            ),
        ] {
            assert!(
                decide(server_type, location).is_err(),
                "{server_type} {location}"
            );
        }
    }

    #[test]
    fn refusals_say_where_the_credential_may_go() {
        let why = decide("GITHUB", "http://127.0.0.1:4444/repo.git").unwrap_err();
        assert_eq!(
            why.to_string(),
            "credentials are only sent over https://; GITHUB credentials are only sent to https://github.com"
        );
        let why = decide("GITHUB_ENTERPRISE", "https://evil.example/r.git").unwrap_err();
        assert_eq!(
            why.to_string(),
            "the location's host is evil.example; GITHUB_ENTERPRISE credentials are only sent to https://ghe.example.com, https://127.0.0.1:8443"
        );
        let why = decide("GITLAB_SELF_MANAGED", "https://gitlab.example.com/r.git").unwrap_err();
        assert!(why.to_string().contains("no host is configured"), "{why}");
    }

    #[test]
    fn configured_hosts_are_names_or_addresses_with_an_optional_port() {
        assert_eq!(
            CredentialHost::parse("Git.Example.com:8443")
                .unwrap()
                .to_string(),
            "git.example.com:8443"
        );
        assert_eq!(CredentialHost::parse("h:443").unwrap().to_string(), "h");
        for bad in [
            "", "a:", "a:0", "a:65536", "a:+1", "a b", "a/b", "user@a", "-a.com", "a..com",
            "[::1]", "a.com.", "a%2ecom",
        ] {
            assert!(CredentialHost::parse(bad).is_err(), "{bad:?}");
        }
    }
}
