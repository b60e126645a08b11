//! Git repositories made by the tests, and a private HTTP git server (basic auth) for them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A work tree with its own history, usable as a source location (a local path).
pub struct GitRepo {
    dir: PathBuf,
}

impl GitRepo {
    /// `git init` in `dir` (created), on branch `main`, with a fixed author.
    pub fn init(dir: impl Into<PathBuf>) -> GitRepo {
        let repo = GitRepo { dir: dir.into() };
        std::fs::create_dir_all(&repo.dir).unwrap();
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// The repository's directory: a source location git can fetch from.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn location(&self) -> String {
        self.dir.display().to_string()
    }

    /// Runs git in the repository and returns its trimmed stdout; panics when git fails.
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.dir)
            .env("GIT_AUTHOR_NAME", "Kiln Test")
            .env("GIT_AUTHOR_EMAIL", "test@kiln.invalid")
            .env("GIT_COMMITTER_NAME", "Kiln Test")
            .env("GIT_COMMITTER_EMAIL", "test@kiln.invalid")
            .stdin(Stdio::null())
            .output()
            .expect("running git");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Writes `files` (path, contents), commits them all and returns the new commit's SHA.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (name, contents) in files {
            let path = self.dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(path, contents).unwrap();
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Makes the bare copy a git HTTP server serves (`<parent>/<name>.git`).
    pub fn bare_clone(&self, parent: &Path, name: &str) -> PathBuf {
        let bare = parent.join(format!("{name}.git"));
        let output = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&self.dir)
            .arg(&bare)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("running git clone");
        assert!(
            output.status.success(),
            "git clone --bare failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        bare
    }
}

/// A self-signed certificate for `127.0.0.1` (made with the `openssl` CLI), which is its own
/// CA: git trusts it through `GIT_SSL_CAINFO`.
pub struct SelfSignedCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl SelfSignedCert {
    pub fn create(dir: &Path) -> SelfSignedCert {
        std::fs::create_dir_all(dir).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let output = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("running openssl");
        assert!(
            output.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        SelfSignedCert { cert, key }
    }
}

/// How a [`GitHttpServer`] serves.
#[derive(Default)]
pub struct GitHttpOptions<'a> {
    /// Serve https with this certificate.
    pub tls: Option<&'a SelfSignedCert>,
    /// Answer every authorized request with a redirect to this base URL.
    pub redirect_to: Option<String>,
}

/// `git http-backend` behind HTTP basic auth (`tests/py/git_http_server.py`), serving the bare
/// repositories of one directory; any user name with the right password is let in. Every
/// request line is kept in `<root>/requests.log`.
pub struct GitHttpServer {
    child: Child,
    port: u16,
    scheme: &'static str,
    request_log: PathBuf,
}

impl GitHttpServer {
    pub fn start(repos_root: &Path, password: &str) -> GitHttpServer {
        Self::start_with(repos_root, password, &GitHttpOptions::default())
    }

    pub fn start_with(
        repos_root: &Path,
        password: &str,
        options: &GitHttpOptions<'_>,
    ) -> GitHttpServer {
        let mut command = Command::new("python3");
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/py/git_http_server.py"
            ))
            .arg(repos_root)
            .env("KILN_TEST_GIT_PASSWORD", password);
        if let Some(tls) = options.tls {
            command
                .env("KILN_TEST_TLS_CERT", &tls.cert)
                .env("KILN_TEST_TLS_KEY", &tls.key);
        }
        if let Some(target) = &options.redirect_to {
            command.env("KILN_TEST_REDIRECT_TO", target);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the git HTTP server");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("git HTTP server did not say its port: {line:?}"));
        GitHttpServer {
            child,
            port,
            scheme: if options.tls.is_some() {
                "https"
            } else {
                "http"
            },
            request_log: repos_root.join("requests.log"),
        }
    }

    /// `http(s)://127.0.0.1:PORT/<name>.git`
    pub fn url(&self, name: &str) -> String {
        format!("{}://127.0.0.1:{}/{name}.git", self.scheme, self.port)
    }

    /// `http(s)://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request received so far: `METHOD PATH AUTHORIZATION` (`-` without one).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.request_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
