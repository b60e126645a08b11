//! Test harness shared by the integration tests: runs the real `kiln` binary on a private data
//! dir and drives it the way users do, with the `aws` CLI, boto3 and plain HTTP.
//!
//! ```ignore
//! let server = KilnServer::start();
//! let out = aws(&server, &ACCOUNT_A, &["codebuild", "list-projects"]);
//! assert_eq!(out.ok()["projects"], serde_json::json!([]));
//! ```

// Each test binary uses its own part of the harness, and helpers may panic: they are test code.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

/// How long a server may take to print its `listening on` line.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// The region the CLI and boto3 sign for unless told otherwise.
pub const REGION: &str = "us-east-1";

/// An access key pair bound to an account, as configured in Kiln.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub account_id: &'a str,
}

pub const ACCOUNT_A: Account<'static> = Account {
    access_key_id: "AKIDKILNTESTAAAAAAA1",
    secret: "kilnTestSecretForAccountA0000000000000001",
    account_id: "111122223333",
};

pub const ACCOUNT_B: Account<'static> = Account {
    access_key_id: "AKIDKILNTESTBBBBBBB2",
    secret: "kilnTestSecretForAccountB0000000000000002",
    account_id: "444455556666",
};

/// The secrets key of the replicas tests start on one database (base64 of 32 bytes).
pub const SHARED_SECRETS_KEY: &str = "a2lsbi10ZXN0LXJlcGxpY2FzLXNoYXJlZC1rZXktMzI=";

/// Options for a [`KilnServer`]; [`KilnServer::builder`] makes one.
#[derive(Debug, Clone)]
pub struct KilnServerBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    config: String,
    configure_accounts: bool,
    /// Each configured account's `local_source_roots`; `None`: the server's temporary directory
    /// (see [`KilnServer::root`]), where the tests keep their repositories.
    local_source_roots: Option<BTreeMap<String, Vec<PathBuf>>>,
    trust_local_builds: bool,
    listen: String,
    data_dir: Option<PathBuf>,
}

impl KilnServerBuilder {
    /// Adds an argument after `kiln serve --listen … --data-dir …`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the server (all inherited `KILN_*` are removed).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Text for the server's `kiln.toml`, written before the harness's `[[credentials]]` tables,
    /// so top-level keys (`region = "…"`) belong here.
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config.push_str(&toml.into());
        self.config.push('\n');
        self
    }

    /// Leaves [`ACCOUNT_A`] and [`ACCOUNT_B`] out of `kiln.toml`, so the server uses only what the
    /// test configures (or generates a key pair on first start).
    pub fn without_accounts(mut self) -> Self {
        self.configure_accounts = false;
        self
    }

    /// Gives `account` these `local_source_roots` instead of the default (the server's
    /// temporary directory); accounts not named this way get none.
    pub fn local_source_roots(mut self, account: &Account<'_>, roots: &[&Path]) -> Self {
        self.local_source_roots.get_or_insert_default().insert(
            account.account_id.to_string(),
            roots.iter().map(|r| r.to_path_buf()).collect(),
        );
        self
    }

    /// Configures no `local_source_roots` for any account.
    pub fn without_local_source_roots(mut self) -> Self {
        self.local_source_roots = Some(BTreeMap::new());
        self
    }

    /// Leaves out `KILN_TRUST_LOCAL_BUILDS`, which the harness otherwise sets for its two
    /// accounts, so that most suites can build on the local executor.
    pub fn untrusted_local_builds(mut self) -> Self {
        self.trust_local_builds = false;
        self
    }

    /// The `--listen` address (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// Uses this data dir instead of a fresh one inside the server's temporary directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Starts the server and waits until it listens; panics with its stderr when it cannot.
    pub fn start(self) -> KilnServer {
        self.try_start()
            .unwrap_or_else(|failure| panic!("kiln did not start: {failure}"))
    }

    /// Starts the server, or reports how it failed: the exit status and its stderr.
    pub fn try_start(mut self) -> Result<KilnServer, String> {
        let root = tempfile::Builder::new()
            .prefix("kiln-test-")
            .tempdir()
            .expect("creating a temporary directory");
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| root.path().join("data"));
        // With KILN_TEST_STORE=postgres every suite runs on PostgreSQL: a database per data dir,
        // so servers sharing a data dir (restarts) share a database as they would share kiln.db;
        // each is the only replica, so its local artifact store is allowed.
        // Replicas that share a database share a secrets key, as their operator configures it.
        if self.args.iter().any(|a| a == "--database-url")
            && !self.env.iter().any(|(name, _)| name == "KILN_SECRETS_KEY")
        {
            self.env
                .push(("KILN_SECRETS_KEY".into(), SHARED_SECRETS_KEY.into()));
        }
        if postgres::suites_use_postgres() && !self.args.iter().any(|a| a == "--database-url") {
            self.args.extend([
                "--database-url".to_string(),
                postgres::database_of(&data_dir),
                "--allow-local-artifacts".to_string(),
            ]);
        }
        // The server runs in an empty directory, so no stray ./kiln.toml is picked up.
        let work_dir = root.path().join("cwd");
        std::fs::create_dir_all(&work_dir).unwrap();
        let mut config = self.config.clone();
        if self.configure_accounts {
            for account in [ACCOUNT_A, ACCOUNT_B] {
                let roots = match &self.local_source_roots {
                    None => vec![root.path().to_path_buf()],
                    Some(roots) => roots.get(account.account_id).cloned().unwrap_or_default(),
                };
                config.push_str(&format!(
                    "\n[[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\naccount_id = \"{}\"\nlocal_source_roots = {}\n",
                    account.access_key_id,
                    account.secret,
                    account.account_id,
                    toml_strings(&roots)
                ));
            }
        }
        let config_file = (!config.trim().is_empty()).then(|| {
            let path = root.path().join("kiln.toml");
            std::fs::write(&path, &config).unwrap();
            path
        });
        let mut server = KilnServer {
            stderr_path: root.path().join("kiln.stderr.log"),
            root: Some(root),
            data_dir,
            work_dir,
            config_file,
            options: self,
            child: None,
            url: String::new(),
            stdout: Arc::new(Mutex::new(Vec::new())),
        };
        server.spawn()?;
        Ok(server)
    }
}

/// `paths` as a TOML array of strings.
fn toml_strings(paths: &[PathBuf]) -> String {
    let quoted: Vec<String> = paths
        .iter()
        .map(|p| serde_json::to_string(&p.display().to_string()).unwrap())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// A running `kiln serve` on a private temporary directory; killed when dropped.
pub struct KilnServer {
    /// `None` only once kept for debugging in `drop`.
    root: Option<TempDir>,
    data_dir: PathBuf,
    work_dir: PathBuf,
    config_file: Option<PathBuf>,
    options: KilnServerBuilder,
    child: Option<Child>,
    url: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr_path: PathBuf,
}

impl KilnServer {
    /// A server with [`ACCOUNT_A`] and [`ACCOUNT_B`] configured, on a fresh data dir.
    pub fn start() -> KilnServer {
        Self::builder().start()
    }

    pub fn builder() -> KilnServerBuilder {
        KilnServerBuilder {
            args: Vec::new(),
            env: Vec::new(),
            config: String::new(),
            configure_accounts: true,
            local_source_roots: None,
            trust_local_builds: true,
            listen: "127.0.0.1:0".into(),
            data_dir: None,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A temporary directory that lives as long as the server, for the test's own files.
    pub fn root(&self) -> &Path {
        self.root.as_ref().expect("root is kept until drop").path()
    }

    /// Writes a file into [`Self::root`] and returns its path.
    pub fn write_file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The lines the current run printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything every run of this server wrote on stderr.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Kills the server with SIGKILL, as a crash or power loss would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `kiln <args>` on this server's store: its data dir, configuration and database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        // The store's flags after the command (`agent-token create … --data-dir …`).
        command.args(args).arg("--data-dir").arg(&self.data_dir);
        if let Some(config) = &self.config_file {
            command.arg("--config").arg(config);
        }
        if let Some(at) = self.options.args.iter().position(|a| a == "--database-url") {
            command.args(&self.options.args[at..at + 2]);
        }
        if self
            .options
            .args
            .iter()
            .any(|a| a == "--allow-local-artifacts")
        {
            command.arg("--allow-local-artifacts=true");
        }
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KILN_") {
                command.env_remove(name);
            }
        }
        command
            .current_dir(&self.work_dir)
            .stdin(Stdio::null())
            .output()
            .expect("running kiln")
    }

    /// Asks the server to stop with SIGTERM and waits for it to exit.
    pub fn sigterm(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kiln did not exit within {STOP_DEADLINE:?} of SIGTERM\n{}",
                    self.stderr_log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM) if it runs, then starts it again on the same data dir,
    /// configuration and address, so URLs stay valid.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.sigterm();
        }
        self.kill9();
        self.spawn()
            .unwrap_or_else(|failure| panic!("kiln did not restart: {failure}"));
    }

    fn spawn(&mut self) -> Result<(), String> {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(&self.options.listen)
            .arg("--data-dir")
            .arg(&self.data_dir);
        if let Some(config) = &self.config_file {
            command.arg("--config").arg(config);
        }
        command
            .args(&self.options.args)
            .current_dir(&self.work_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KILN_") {
                command.env_remove(name);
            }
        }
        command.env("NO_COLOR", "1");
        if self.options.configure_accounts && self.options.trust_local_builds {
            command.env("KILN_TRUST_LOCAL_BUILDS", "true");
        }
        for (name, value) in &self.options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawning kiln");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        self.stdout = Arc::clone(&lines);
        let (sender, receiver) = mpsc::channel();
        // Keeps reading after the ready line, so the server never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line.clone());
                let _ = sender.send(line);
            }
        });
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        self.url = url.trim().to_string();
                        // Restarts reuse the port, so the URL and badge links stay the same.
                        if let Some(addr) = self.url.strip_prefix("http://") {
                            self.options.listen = addr.to_string();
                        }
                        self.child = Some(child);
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    return Err(format!(
                        "kiln exited with {status} before listening\n--- stderr ---\n{}",
                        self.stderr_log()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "kiln did not print `listening on` within {START_DEADLINE:?}\n--- stderr ---\n{}",
                        self.stderr_log()
                    ));
                }
            }
        }
    }
}

impl Drop for KilnServer {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!(
                "--- kiln stdout ---\n{}\n--- kiln stderr ---\n{}",
                self.stdout_lines().join("\n"),
                self.stderr_log()
            );
            if let Some(root) = self.root.take() {
                eprintln!("kept the test directory {}", root.keep().display());
            }
        }
    }
}

/// Polls `condition` until it holds; panics naming `what` when `timeout` passes first.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// A command for the AWS tools, isolated from the machine's AWS configuration.
fn aws_tool_command(program: &str, root: &Path, account: &Account<'_>, region: &str) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    let absent = root.join("no-aws-config");
    command
        .env("AWS_CONFIG_FILE", absent.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", absent.join("credentials"))
        .env("AWS_ACCESS_KEY_ID", account.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", account.secret)
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .stdin(Stdio::null());
    command
}

/// What one run of the `aws` CLI did.
#[derive(Debug)]
pub struct AwsOutput {
    pub status: ExitStatus,
    pub stdout: String,
    /// stdout parsed as JSON; `Null` when empty or not JSON.
    pub json: Value,
    pub stderr: String,
}

/// The service error the CLI printed: `An error occurred (CODE) when calling the OP operation: MESSAGE`
/// (botocore puts ` (reached max retries: 0)` after `operation` when retries are off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: String,
    pub operation: String,
    pub message: String,
}

impl AwsOutput {
    fn new(status: ExitStatus, stdout: String, stderr: String) -> Self {
        AwsOutput {
            status,
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr,
        }
    }

    /// The JSON output of a successful command; panics with the CLI's stderr otherwise.
    pub fn ok(&self) -> &Value {
        assert!(
            self.status.success(),
            "aws failed with {}:\n{}",
            self.status,
            self.stderr
        );
        &self.json
    }

    /// The service error of a failed command; panics when the command succeeded or failed
    /// some other way.
    pub fn error(&self) -> AwsError {
        assert!(
            !self.status.success(),
            "aws succeeded but an error was expected:\n{}",
            self.stdout
        );
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("An error occurred ("))
            .unwrap_or_else(|| panic!("no service error in the CLI's stderr:\n{}", self.stderr));
        let (code, rest) = line["An error occurred (".len()..]
            .split_once(") when calling the ")
            .unwrap_or_else(|| panic!("unexpected error line: {line}"));
        let (operation, rest) = rest
            .split_once(" operation")
            .unwrap_or_else(|| panic!("unexpected error line: {line}"));
        // With retries off botocore notes it: `operation (reached max retries: 0): message`.
        let rest = match rest.strip_prefix(" (reached max retries: ") {
            Some(noted) => noted.split_once(')').map_or(rest, |(_, after)| after),
            None => rest,
        };
        let message = rest
            .strip_prefix(": ")
            .unwrap_or_else(|| panic!("unexpected error line: {line}"));
        AwsError {
            code: code.to_string(),
            operation: operation.to_string(),
            message: message.to_string(),
        }
    }
}

/// Runs the real `aws` CLI against `server` as `account`, in region us-east-1.
pub fn aws(server: &KilnServer, account: &Account<'_>, args: &[&str]) -> AwsOutput {
    AwsCli::new(server, account).run(args)
}

/// An `aws` CLI invocation with options beyond [`aws`]'s defaults.
pub struct AwsCli<'a> {
    endpoint: String,
    root: PathBuf,
    account: Account<'a>,
    region: String,
    python_patch: Option<String>,
}

impl<'a> AwsCli<'a> {
    pub fn new(server: &KilnServer, account: &Account<'a>) -> Self {
        AwsCli {
            endpoint: server.url().to_string(),
            root: server.root().to_path_buf(),
            account: *account,
            region: REGION.into(),
            python_patch: None,
        }
    }

    /// The region the CLI signs for and sends to.
    pub fn region(mut self, region: &str) -> Self {
        self.region = region.into();
        self
    }

    /// Runs the CLI in-process with python3 after executing `code`, to bend botocore (a
    /// skewed clock, another signing name) while keeping the CLI's own behaviour and messages.
    pub fn python_patch(mut self, code: &str) -> Self {
        self.python_patch = Some(code.into());
        self
    }

    /// The options every command gets: endpoint, region, JSON output, short timeouts.
    fn global_args(&self) -> Vec<String> {
        [
            "--endpoint-url",
            &self.endpoint,
            "--region",
            &self.region,
            "--output",
            "json",
            "--cli-connect-timeout",
            "10",
            "--cli-read-timeout",
            "30",
        ]
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    pub fn run(&self, args: &[&str]) -> AwsOutput {
        let mut command = match &self.python_patch {
            None => aws_tool_command("aws", &self.root, &self.account, &self.region),
            Some(patch) => {
                let mut c = aws_tool_command("python3", &self.root, &self.account, &self.region);
                c.arg("-c").arg(format!(
                    "{patch}\nimport sys\nfrom awscli.clidriver import main\nsys.exit(main())"
                ));
                c
            }
        };
        command.args(self.global_args()).args(args);
        let output = command.output().expect("running the aws CLI");
        AwsOutput::new(
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs several commands through the CLI's own driver in one python3 process
    /// (`tests/py/aws_batch.py`): the same code, output and messages as [`Self::run`], without
    /// paying the CLI's start-up for each. For tables of cases.
    pub fn run_batch(&self, commands: &[Vec<String>]) -> Vec<AwsOutput> {
        let mut command = aws_tool_command("python3", &self.root, &self.account, &self.region);
        if let Some(patch) = &self.python_patch {
            command.arg("-c").arg(format!(
                "{patch}\nimport runpy\nrunpy.run_path({:?}, run_name='__main__')",
                AWS_BATCH_SCRIPT
            ));
        } else {
            command.arg(AWS_BATCH_SCRIPT);
        }
        let full: Vec<Vec<String>> = commands
            .iter()
            .map(|args| {
                self.global_args()
                    .into_iter()
                    .chain(args.iter().cloned())
                    .collect()
            })
            .collect();
        let input = serde_json::to_vec(&full).unwrap();
        let output = run_with_stdin(command, &input);
        assert!(
            output.status.success(),
            "aws_batch.py failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        results
            .into_iter()
            .map(|r| {
                let rc = i32::try_from(r["rc"].as_i64().unwrap()).unwrap();
                AwsOutput::new(
                    ExitStatus::from_raw((rc & 0xff) << 8),
                    r["stdout"].as_str().unwrap().to_string(),
                    r["stderr"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

const AWS_BATCH_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/aws_batch.py");

/// A command line, from string slices.
pub fn command(args: &[&str]) -> Vec<String> {
    args.iter().map(ToString::to_string).collect()
}

/// Runs each command (arguments after `aws`) in turn as `account`; see [`AwsCli::run_batch`].
pub fn aws_batch(
    server: &KilnServer,
    account: &Account<'_>,
    commands: &[Vec<String>],
) -> Vec<AwsOutput> {
    AwsCli::new(server, account).run_batch(commands)
}

const BOTO3_PRELUDE: &str = include_str!("../py/boto3_prelude.py");

/// Runs a boto3 script against `server` as `account` (region us-east-1) and returns the JSON
/// of what it left in `result`. The script has `client`, `raw_client` (no client-side
/// validation) and `error_of(call, **params)`; see `tests/py/boto3_prelude.py`.
pub fn boto3(server: &KilnServer, account: &Account<'_>, script: &str) -> Value {
    boto3_in_region(server, account, REGION, script)
}

pub fn boto3_in_region(
    server: &KilnServer,
    account: &Account<'_>,
    region: &str,
    script: &str,
) -> Value {
    let program = format!(
        "{BOTO3_PRELUDE}\n# --- test script ---\n{script}\n# --- end ---\nprint()\nprint(json.dumps(result, default=str))\n"
    );
    let mut command = aws_tool_command("python3", server.root(), account, region);
    command
        .arg("-")
        .env("KILN_TEST_ENDPOINT", server.url())
        .env("KILN_TEST_REGION", region)
        .env("KILN_TEST_ACCESS_KEY_ID", account.access_key_id)
        .env("KILN_TEST_SECRET_ACCESS_KEY", account.secret);
    let output = run_with_stdin(command, program.as_bytes());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boto3 script failed with {}:\n{}\n{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("boto3 result is not JSON ({e}): {last}"))
}

fn run_with_stdin(mut command: Command, input: &[u8]) -> std::process::Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawning python3");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("waiting for python3");
    writer
        .join()
        .expect("stdin writer")
        .expect("writing the script to python3");
    output
}

/// A hand-made API request, signed with botocore's SigV4 signer; see [`signed_requests`].
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    /// `X-Amz-Target`; `None` leaves the header out.
    pub target: Option<String>,
    pub body: Vec<u8>,
    /// `None` sends the request unsigned.
    pub account: Option<Account<'a>>,
    pub service: String,
    pub region: String,
    /// How far the signer's clock is from the real one.
    pub clock_skew_secs: i64,
    pub headers: Vec<(String, String)>,
}

impl<'a> SignedRequest<'a> {
    /// `CodeBuild_20161006.<operation>` with a JSON body, signed as `account` for codebuild in
    /// us-east-1.
    pub fn operation(account: &Account<'a>, operation: &str, input: &Value) -> Self {
        SignedRequest {
            target: Some(format!("CodeBuild_20161006.{operation}")),
            body: input.to_string().into_bytes(),
            account: Some(*account),
            service: "codebuild".into(),
            region: REGION.into(),
            clock_skew_secs: 0,
            headers: Vec::new(),
        }
    }
}

/// An HTTP response, with lower-cased header names.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl HttpReply {
    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Sends the requests in order from one python3 process (`tests/py/signed_requests.py`).
pub fn signed_requests(server: &KilnServer, requests: &[SignedRequest<'_>]) -> Vec<HttpReply> {
    let specs: Vec<Value> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let body_file = server.write_file(&format!("request-body-{i}"), &r.body);
            json!({
                "target": r.target,
                "body_file": body_file,
                "access_key": r.account.map(|a| a.access_key_id),
                "secret": r.account.map(|a| a.secret),
                "service": r.service,
                "region": r.region,
                "skew_seconds": r.clock_skew_secs,
                "headers": r.headers.iter().cloned().collect::<BTreeMap<_, _>>(),
            })
        })
        .collect();
    let job = json!({"endpoint": server.url(), "requests": specs});
    let mut command = aws_tool_command("python3", server.root(), &ACCOUNT_A, REGION);
    command.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/signed_requests.py"
    ));
    let output = run_with_stdin(command, job.to_string().as_bytes());
    assert!(
        output.status.success(),
        "signed_requests.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replies: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    replies
        .into_iter()
        .map(|r| HttpReply {
            status: u16::try_from(r["status"].as_u64().unwrap()).unwrap(),
            headers: serde_json::from_value(r["headers"].clone()).unwrap(),
            body: r["body"].as_str().unwrap().to_string(),
        })
        .collect()
}

pub fn signed_request(server: &KilnServer, request: SignedRequest<'_>) -> HttpReply {
    signed_requests(server, &[request]).remove(0)
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn http_reply(mut response: ureq::http::Response<ureq::Body>) -> HttpReply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .expect("reading the response body");
    HttpReply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A plain `GET` of `url`, with `headers`.
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> HttpReply {
    let mut request = http_agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    http_reply(request.call().unwrap_or_else(|e| panic!("GET {url}: {e}")))
}

/// A plain `POST` of `body` to `url`, with `headers` (nothing signed).
pub fn http_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpReply {
    let mut request = http_agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    http_reply(
        request
            .send(body)
            .unwrap_or_else(|e| panic!("POST {url}: {e}")),
    )
}

/// File mode bits (permissions) of `path`.
pub fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    File::open(path)
        .and_then(|f| f.metadata())
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
pub mod agents;
pub mod axe;
pub mod browser;
pub mod builds;
pub mod console_http;
pub mod docker;
pub mod forges;
pub mod git;
pub mod moto;
pub mod postgres;
pub mod raw_http;
