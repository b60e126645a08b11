//! `kiln agent` processes for the tests, each with a work dir of its own, optionally in a
//! network namespace of its own (reaching the server over a veth pair, which a test can cut).
#![allow(dead_code)] // Each test binary uses a part.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::{ACCOUNT_A, KilnServer, aws};

/// A network namespace with a veth pair to the host: the agent inside reaches the server at
/// `host_ip`, as another machine on the network would.
pub struct Netns {
    pub name: String,
    pub host_ip: String,
    host_link: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("running ip");
    assert!(status.success(), "ip {args:?} failed");
}

impl Netns {
    /// A fresh namespace; `None` when this machine cannot make one (not root), and the agents
    /// then use 127.0.0.1.
    pub fn create() -> Option<Netns> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let probe = Command::new("ip").args(["netns", "list"]).output().ok()?;
        if !probe.status.success() {
            return None;
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let name = format!("kiln-{pid}-{n}");
        let host_link = format!("kh{}x{n}", pid % 100_000);
        let ns_link = format!("kn{}x{n}", pid % 100_000);
        // A /30 per namespace: 10.<pid-derived>.<n>.0
        let second = 100 + pid % 100;
        let host_ip = format!("10.{second}.{n}.1");
        let ns_ip = format!("10.{second}.{n}.2");
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &ns_link,
        ]);
        ip(&["link", "set", &ns_link, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        ip(&[
            "netns",
            "exec",
            &name,
            "ip",
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &ns_link,
        ]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &ns_link, "up"]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        Some(Netns {
            name,
            host_ip,
            host_link,
        })
    }

    /// Cuts the namespace off the network (its end of the cable is pulled).
    pub fn cut(&self) {
        ip(&["link", "set", &self.host_link, "down"]);
    }

    pub fn mend(&self) {
        ip(&["link", "set", &self.host_link, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The server URL an agent in `netns` (or on the host) uses.
pub fn server_url_for(server: &KilnServer, netns: Option<&Netns>) -> String {
    let port = server
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    match netns {
        Some(ns) => format!("http://{}:{port}", ns.host_ip),
        None => format!("http://127.0.0.1:{port}"),
    }
}

/// Creates a fleet of [`ACCOUNT_A`] with the `aws` CLI; returns its ARN.
pub fn create_fleet(server: &KilnServer, name: &str, base_capacity: u32, overflow: &str) -> String {
    let created = aws(
        server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-fleet",
            "--name",
            name,
            "--base-capacity",
            &base_capacity.to_string(),
            "--environment-type",
            "LINUX_CONTAINER",
            "--compute-type",
            "BUILD_GENERAL1_SMALL",
            "--overflow-behavior",
            overflow,
        ],
    );
    created.ok()["fleet"]["arn"].as_str().unwrap().to_owned()
}

/// `kiln agent-token create --fleet NAME` on the server's store; returns the token.
pub fn agent_token(server: &KilnServer, fleet: &str) -> String {
    let output = server.cli(&[
        "agent-token",
        "create",
        "--fleet",
        fleet,
        "--account",
        ACCOUNT_A.account_id,
    ]);
    assert!(
        output.status.success(),
        "agent-token create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A running `kiln agent`; killed when dropped.
pub struct KilnAgent {
    pub name: String,
    dir: TempDir,
    args: Vec<String>,
    netns: Option<String>,
    child: Option<Child>,
}

impl KilnAgent {
    /// Starts `kiln agent` named `name` for `server_url` with `token`, running `max_builds` at
    /// once on the local executor, inside `netns` when given.
    pub fn start(
        server_url: &str,
        token: &str,
        name: &str,
        max_builds: u32,
        netns: Option<&Netns>,
    ) -> KilnAgent {
        Self::start_with_config(server_url, token, name, max_builds, netns, "")
    }

    /// As [`KilnAgent::start`], with `config` as the agent's `kiln.toml` (`[artifacts]`, say).
    pub fn start_with_config(
        server_url: &str,
        token: &str,
        name: &str,
        max_builds: u32,
        netns: Option<&Netns>,
        config: &str,
    ) -> KilnAgent {
        let dir = tempfile::Builder::new()
            .prefix("kiln-agent-")
            .tempdir()
            .unwrap();
        let args = vec![
            "agent".to_owned(),
            "--server".to_owned(),
            server_url.to_owned(),
            "--name".to_owned(),
            name.to_owned(),
            "--max-builds".to_owned(),
            max_builds.to_string(),
            "--executor".to_owned(),
            "local".to_owned(),
            "--work-dir".to_owned(),
            dir.path().join("work").display().to_string(),
            "--shutdown-grace-seconds".to_owned(),
            "5".to_owned(),
        ];
        std::fs::write(dir.path().join("token"), token).unwrap();
        let mut args = args;
        if !config.is_empty() {
            let path = dir.path().join("kiln.toml");
            std::fs::write(&path, config).unwrap();
            args.extend(["--config".to_owned(), path.display().to_string()]);
        }
        let mut agent = KilnAgent {
            name: name.to_owned(),
            dir,
            args,
            netns: netns.map(|ns| ns.name.clone()),
            child: None,
        };
        agent.spawn();
        agent
    }

    fn spawn(&mut self) {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .unwrap();
        let token = std::fs::read_to_string(self.dir.path().join("token")).unwrap();
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_kiln")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_kiln")),
        };
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KILN_") {
                command.env_remove(name);
            }
        }
        // The token travels in the environment, never in an argument.
        command
            .args(&self.args)
            .env("KILN_AGENT_TOKEN", token)
            .env("KILN_LOG", "info,kiln_agent=debug")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        self.child = Some(command.spawn().expect("spawning kiln agent"));
    }

    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("agent.stderr.log")
    }

    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9`: the process dies at once, with whatever it ran.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the agent to exit.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the agent is running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the agent ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running (false once it exited on its own).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// Starts the agent again with the same name and work dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for KilnAgent {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- agent {} stderr ---\n{}", self.name, self.stderr_log());
        }
    }
}

/// The work dirs of builds the agent has on disk.
pub fn build_dirs(work_dir: &Path) -> Vec<String> {
    std::fs::read_dir(work_dir.join("work"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The fleet as BatchGetFleets shows it.
pub fn fleet(server: &KilnServer, name: &str) -> Value {
    let got = aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "batch-get-fleets", "--names", name],
    );
    got.ok()["fleets"][0].clone()
}
