use std::io::{Read, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use super::*;

/// Runs git for fixtures, isolated from the host configuration like the code under test.
fn git(cwd: &Path, args: &[&str]) -> String {
    let home = std::env::temp_dir();
    let out = StdCommand::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn commit(repo: &Path, file: &str, content: &str) -> String {
    std::fs::write(repo.join(file), content).unwrap();
    git(repo, &["add", "--", file]);
    git(repo, &["commit", "-q", "-m", content]);
    git(repo, &["rev-parse", "HEAD"])
}

/// An origin repository with the shapes CodeBuild versions can name.
struct Fixture {
    _dir: tempfile::TempDir,
    origin: PathBuf,
    first: String,
    main: String,
    feature: String,
    tagged: String,
    annotated: String,
    pull: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "-q"]);
    let first = commit(&origin, "a.txt", "first");
    git(&origin, &["tag", "v1"]);
    let tagged = first.clone();
    let annotated = commit(&origin, "a.txt", "second");
    git(&origin, &["tag", "-a", "-m", "release two", "v2"]);
    let main = commit(&origin, "a.txt", "third");
    git(&origin, &["checkout", "-q", "-b", "feature/x"]);
    let feature = commit(&origin, "b.txt", "feature");
    git(&origin, &["checkout", "-q", "--detach", &main]);
    let pull = commit(&origin, "c.txt", "pull request");
    git(&origin, &["update-ref", "refs/pull/7/head", &pull]);
    git(&origin, &["checkout", "-q", "main"]);
    Fixture {
        _dir: dir,
        origin,
        first,
        main,
        feature,
        tagged,
        annotated,
        pull,
    }
}

fn request(location: &Path, version: Option<&str>, dest: &Path) -> CheckoutRequest {
    CheckoutRequest {
        source_cache: None,
        location: location.to_str().unwrap().to_owned(),
        version: version.map(str::to_owned),
        dest: dest.to_owned(),
        clone_depth: None,
        fetch_submodules: false,
        credential: None,
    }
}

fn log_file(dir: &Path) -> File {
    File::create(dir.join("log")).unwrap()
}

async fn run(req: &CheckoutRequest, log: &File) -> Result<CheckedOut, SourceError> {
    checkout(req, log, &CancellationToken::new()).await
}

#[test]
fn classifies_version_forms() {
    let sha = "0123456789abcdef0123456789ABCDEF01234567";
    let cases = [
        ("main", VersionKind::Name("main".into())),
        ("feature/x", VersionKind::Name("feature/x".into())),
        (
            "refs/heads/feature/x",
            VersionKind::Branch("feature/x".into()),
        ),
        ("refs/tags/v1.0", VersionKind::Tag("v1.0".into())),
        ("v1.0", VersionKind::Name("v1.0".into())),
        ("pr/42", VersionKind::PullRequest(42)),
        ("refs/pull/42/head", VersionKind::PullRequest(42)),
        ("pr/x", VersionKind::Name("pr/x".into())),
        ("pr/0", VersionKind::Name("pr/0".into())),
        (sha, VersionKind::Commit(sha.to_ascii_lowercase())),
        ("abc1234", VersionKind::Name("abc1234".into())),
    ];
    for (version, expected) in cases {
        assert_eq!(classify_version(version).unwrap(), expected, "{version}");
    }
}

#[test]
fn rejects_hostile_versions() {
    let long = "a".repeat(MAX_VERSION_LEN + 1);
    let hostile = [
        "-uhack",
        "--upload-pack=touch /tmp/x",
        "a..b",
        "main\n",
        "with space",
        "back\\slash",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a@{1}",
        "@",
        "branch.lock",
        "branch/",
        "branch.",
        "/abs",
        "a//b",
        "a/.hidden",
        "refs/heads/",
        "refs/remotes/origin/main",
        "pr/",
        "refs/pull/1/merge",
        &long,
    ];
    for version in hostile {
        let err = classify_version(version).unwrap_err();
        assert!(
            matches!(err, SourceError::InvalidVersion { .. }),
            "{version:?}: {err}"
        );
    }
}

#[test]
fn validates_locations() {
    for good in [
        "https://example.com/org/repo.git",
        "https://user@example.com/org/repo.git",
        "file:///srv/repo",
        "/srv/repo",
        "git@example.com:org/repo.git",
        "ssh://git@example.com/org/repo.git",
    ] {
        validate_location(good).unwrap();
    }
    for bad in [
        "",
        "-oProxyCommand=x",
        "ext::sh -c touch% /tmp/pwned",
        "fd::3",
        "https://user:secret@example.com/repo",
        "https://example.com/\nrepo",
    ] {
        assert!(
            matches!(validate_location(bad), Err(SourceError::InvalidLocation(_))),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn resolves_every_version_form() {
    let fx = fixture();
    let short = &fx.first[..7];
    let cases: Vec<(Option<&str>, &str, Option<GitRef>)> = vec![
        (None, &fx.main, Some(GitRef::Branch("main".into()))),
        (Some("main"), &fx.main, Some(GitRef::Branch("main".into()))),
        (
            Some("feature/x"),
            &fx.feature,
            Some(GitRef::Branch("feature/x".into())),
        ),
        (
            Some("refs/heads/feature/x"),
            &fx.feature,
            Some(GitRef::Branch("feature/x".into())),
        ),
        (Some("v1"), &fx.tagged, Some(GitRef::Tag("v1".into()))),
        (
            Some("refs/tags/v2"),
            &fx.annotated,
            Some(GitRef::Tag("v2".into())),
        ),
        (Some(&fx.first), &fx.first, None),
        (Some(short), &fx.first, None),
        (Some("pr/7"), &fx.pull, None),
    ];
    for (i, (version, commit, git_ref)) in cases.into_iter().enumerate() {
        let work = tempfile::tempdir().unwrap();
        let dest = work.path().join(format!("src{i}"));
        let log = log_file(work.path());
        let out = run(&request(&fx.origin, version, &dest), &log)
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(out.resolved_commit, commit, "{version:?}");
        assert_eq!(out.git_ref, git_ref, "{version:?}");
        assert_eq!(git(&dest, &["rev-parse", "HEAD"]), commit, "{version:?}");
    }
}

#[tokio::test]
async fn origin_is_configured_even_for_an_odd_location() {
    let fx = fixture();
    let odd = fx.origin.with_file_name("or\\ig \"in\" #;x");
    std::fs::rename(&fx.origin, &odd).unwrap();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("src");
    let log = log_file(work.path());
    let out = run(&request(&odd, Some("main"), &dest), &log)
        .await
        .unwrap();
    assert_eq!(out.resolved_commit, fx.main);
    assert_eq!(
        git(&dest, &["remote", "get-url", "origin"]),
        odd.to_str().unwrap()
    );
    // A later `git fetch` in the build finds the branches where a clone would put them.
    git(&dest, &["fetch", "-q", "origin"]);
    assert_eq!(git(&dest, &["rev-parse", "origin/feature/x"]), fx.feature);
}

#[tokio::test]
async fn a_tag_named_bare_is_found_without_noise_in_the_log() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let log = log_file(work.path());
    let out = run(
        &request(&fx.origin, Some("v2"), &work.path().join("src")),
        &log,
    )
    .await
    .unwrap();
    assert_eq!(out.resolved_commit, fx.annotated);
    let logged = std::fs::read_to_string(work.path().join("log")).unwrap();
    assert!(!logged.contains("couldn't find remote ref"), "{logged}");
}

#[tokio::test]
async fn default_branch_follows_remote_head() {
    let fx = fixture();
    git(
        &fx.origin,
        &["symbolic-ref", "HEAD", "refs/heads/feature/x"],
    );
    let work = tempfile::tempdir().unwrap();
    let log = log_file(work.path());
    let out = run(&request(&fx.origin, None, &work.path().join("src")), &log)
        .await
        .unwrap();
    assert_eq!(out.resolved_commit, fx.feature);
    assert_eq!(out.git_ref, Some(GitRef::Branch("feature/x".into())));
}

#[tokio::test]
async fn shallow_checkout_has_depth_one() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("src");
    let log = log_file(work.path());
    let mut req = request(&fx.origin, Some("main"), &dest);
    // file:// so git transfers objects instead of copying the repository.
    req.location = format!("file://{}", fx.origin.display());
    req.clone_depth = Some(1);
    let out = run(&req, &log).await.unwrap();
    assert_eq!(out.resolved_commit, fx.main);
    assert_eq!(git(&dest, &["rev-list", "--count", "HEAD"]), "1");
    assert!(dest.join(".git/shallow").exists());

    let full = work.path().join("full");
    let mut req = request(&fx.origin, Some("main"), &full);
    req.clone_depth = Some(0);
    run(&req, &log).await.unwrap();
    assert_eq!(git(&full, &["rev-list", "--count", "HEAD"]), "3");
}

#[tokio::test]
async fn shallow_checkout_of_an_old_commit() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("src");
    let log = log_file(work.path());
    let mut req = request(&fx.origin, Some(&fx.first), &dest);
    req.location = format!("file://{}", fx.origin.display());
    req.clone_depth = Some(1);
    let out = run(&req, &log).await.unwrap();
    assert_eq!(out.resolved_commit, fx.first);
    assert_eq!(
        std::fs::read_to_string(dest.join("a.txt")).unwrap(),
        "first"
    );
}

#[tokio::test]
async fn unknown_versions_fail_clearly() {
    let fx = fixture();
    for version in [
        "no-such-branch",
        "refs/heads/nope",
        "refs/tags/nope",
        "pr/99",
        "deadbeef",
        "0000000000000000000000000000000000000000",
    ] {
        let work = tempfile::tempdir().unwrap();
        let log = log_file(work.path());
        let err = run(
            &request(&fx.origin, Some(version), &work.path().join("src")),
            &log,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::VersionNotFound(v) if v == version),
            "{version}: {err}"
        );
        assert!(err.to_string().contains("not found"), "{err}");
    }
}

#[tokio::test]
async fn invalid_version_is_rejected_before_running_git() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("src");
    let log = log_file(work.path());
    let err = run(&request(&fx.origin, Some("--upload-pack=x"), &dest), &log)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::InvalidVersion { .. }), "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn bad_location_reports_git_error() {
    let work = tempfile::tempdir().unwrap();
    let log = log_file(work.path());
    let missing = work.path().join("missing-repo");
    let err = run(&request(&missing, None, &work.path().join("src")), &log)
        .await
        .unwrap_err();
    let SourceError::Git { detail, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert!(
        detail.contains("does not appear to be a git repository"),
        "{detail}"
    );
    let logged = std::fs::read_to_string(work.path().join("log")).unwrap();
    assert!(
        logged.contains("does not appear to be a git repository"),
        "{logged}"
    );
}

#[tokio::test]
async fn refuses_non_empty_destination() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("src");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep"), "x").unwrap();
    let log = log_file(work.path());
    let err = run(&request(&fx.origin, None, &dest), &log)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::DestinationNotEmpty(_)), "{err}");
    assert!(dest.join("keep").exists());

    // An empty existing directory is fine.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    run(&request(&fx.origin, None, &empty), &log).await.unwrap();
}

#[tokio::test]
async fn cancelled_checkout_stops() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let log = log_file(work.path());
    let cancel = CancellationToken::new();
    cancel.cancel();
    let req = request(&fx.origin, None, &work.path().join("src"));
    let err = checkout(&req, &log, &cancel).await.unwrap_err();
    assert!(matches!(err, SourceError::Cancelled), "{err}");
}

/// Serves `dir` read-only over the git protocol on a loopback port.
struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl GitDaemon {
    fn start(dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The daemon program itself, not the `git` wrapper, so that killing it stops the server.
        let exec_path = git(dir, &["--exec-path"]);
        let child = StdCommand::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg("--export-all")
            .arg(format!("--base-path={}", dir.display()))
            .arg(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Self { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("git daemon did not start");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn fetches_submodules_when_asked() {
    let root = tempfile::tempdir().unwrap();
    let sub = root.path().join("sub");
    let sup = root.path().join("super");
    for repo in [&sub, &sup] {
        std::fs::create_dir(repo).unwrap();
        git(repo, &["init", "-q"]);
    }
    commit(&sub, "lib.txt", "library");
    commit(&sup, "app.txt", "app");
    let daemon = GitDaemon::start(root.path());
    let sub_url = format!("git://127.0.0.1:{}/sub", daemon.port);
    git(&sup, &["submodule", "add", "-q", &sub_url, "vendor/sub"]);
    git(&sup, &["commit", "-q", "-m", "add submodule"]);
    let location = format!("git://127.0.0.1:{}/super", daemon.port);

    let work = tempfile::tempdir().unwrap();
    let log = log_file(work.path());
    let mut req = request(Path::new(&location), None, &work.path().join("with"));
    req.fetch_submodules = true;
    run(&req, &log).await.unwrap();
    let vendored = work.path().join("with/vendor/sub/lib.txt");
    assert_eq!(std::fs::read_to_string(vendored).unwrap(), "library");

    let req = request(Path::new(&location), None, &work.path().join("without"));
    run(&req, &log).await.unwrap();
    assert!(!work.path().join("without/vendor/sub/lib.txt").exists());
}

const TOKEN: &str = "tok3n-Zq9-secret";

/// A credential bound to `hosts` (`host[:port]`).
fn credential_for(hosts: &[&str]) -> GitCredential {
    GitCredential {
        server_type: "GITHUB_ENTERPRISE".into(),
        username: "builder".into(),
        token: SecretString::from(TOKEN),
        hosts: hosts
            .iter()
            .map(|h| CredentialHost::parse(h).unwrap())
            .collect(),
    }
}

fn credential() -> GitCredential {
    credential_for(&["git.example.com"])
}

fn run_askpass(env: &[(OsString, OsString)], prompt: &str) -> Option<String> {
    let out = StdCommand::new(
        env.iter()
            .find(|(k, _)| k == "GIT_ASKPASS")
            .unwrap()
            .1
            .clone(),
    )
    .arg(prompt)
    .env_clear()
    .envs(env.iter().map(|(k, v)| (k, v)))
    .output()
    .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

#[test]
fn askpass_answers_only_its_own_origin() {
    let scratch = tempfile::tempdir().unwrap();
    let script = write_askpass_script(scratch.path()).unwrap();
    let mode = std::fs::metadata(&script).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
    let origin = credential()
        .destination("https://git.example.com/org/repo.git")
        .unwrap();
    let env = askpass_env(&origin, &credential(), &script);

    let user = run_askpass(&env, "Username for 'https://git.example.com': ");
    assert_eq!(user.as_deref(), Some("builder\n"));
    let pass = run_askpass(&env, "Password for 'https://builder@git.example.com': ");
    assert_eq!(pass, Some(format!("{TOKEN}\n")));
    for foreign in [
        "Password for 'https://builder@evil.example.com': ",
        "Password for 'https://git.example.com@evil.example.com': ",
        "Username for 'https://evil.example.com': ",
        "Password for 'http://builder@git.example.com': ",
        "Enter passphrase for key '/root/.ssh/id_rsa': ",
    ] {
        assert_eq!(run_askpass(&env, foreign), None, "{foreign}");
    }
}

#[test]
fn token_is_never_a_process_argument() {
    let scratch = tempfile::tempdir().unwrap();
    let log = log_file(scratch.path());
    let cancel = CancellationToken::new();
    let location = "https://git.example.com/org/repo.git";
    let credential = credential();
    let git = Git::new(scratch.path(), location, Some(&credential), &log, &cancel).unwrap();
    let cmd = git.command(scratch.path(), &["fetch", "--", "origin", "main"]);
    let cmd = cmd.as_std();
    assert!(
        cmd.get_args()
            .all(|arg| !arg.to_string_lossy().contains(TOKEN))
    );
    assert!(!cmd.get_program().to_string_lossy().contains(TOKEN));
    let holders: Vec<_> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_some_and(|v| v.to_string_lossy().contains(TOKEN)))
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(holders, [OsString::from(ASKPASS_TOKEN)]);
    // No redirect is followed while git holds the credential; set through the environment.
    let env: Vec<(String, String)> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .collect();
    for pair in [
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "http.followRedirects"),
        ("GIT_CONFIG_VALUE_0", "false"),
    ] {
        assert!(
            env.contains(&(pair.0.to_owned(), pair.1.to_owned())),
            "{pair:?}"
        );
    }
    // The script on disk holds no secret.
    let script = std::fs::read_to_string(scratch.path().join("askpass.sh")).unwrap();
    assert!(!script.contains(TOKEN));
}

#[test]
fn credential_needs_an_https_location_on_its_hosts() {
    let scratch = tempfile::tempdir().unwrap();
    let log = log_file(scratch.path());
    let cancel = CancellationToken::new();
    for location in [
        "/srv/repo",
        "http://git.example.com/org/repo.git",
        "https://git.example.com:8443/org/repo.git",
        "https://git.example.com@evil.example/org/repo.git",
        "https://evil.example/org/repo.git",
    ] {
        let err = Git::new(scratch.path(), location, Some(&credential()), &log, &cancel)
            .err()
            .unwrap();
        assert!(
            matches!(err, SourceError::CredentialWithheld(_)),
            "{location}: {err}"
        );
    }
}

/// A server that demands Basic auth and records every Authorization header it is sent, over
/// `connections` connections.
fn serve_unauthorized(
    listener: TcpListener,
    connections: usize,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        listener.set_nonblocking(false).unwrap();
        for _ in 0..connections {
            let Ok((mut conn, _)) = listener.accept() else {
                break;
            };
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            seen.extend(
                request
                    .lines()
                    .filter(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .map(str::to_owned),
            );
            let _ = conn.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"kiln\"\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
        seen
    })
}

#[tokio::test]
async fn credential_is_never_sent_in_clear_text() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_unauthorized(listener, 1);
    let work = tempfile::tempdir().unwrap();
    let log = log_file(work.path());
    let mut req = request(Path::new("unused"), Some("main"), &work.path().join("src"));
    req.location = format!("http://127.0.0.1:{port}/org/repo.git");
    // Even bound to this very host, a credential does not travel over http://.
    req.credential = Some(credential_for(&[&format!("127.0.0.1:{port}")]));
    let err = run(&req, &log).await.unwrap_err();
    assert!(matches!(err, SourceError::CredentialWithheld(_)), "{err}");
    assert!(err.to_string().contains("only sent over https://"), "{err}");
    assert!(!err.to_string().contains(TOKEN));

    // Without the credential git reaches the server, which sees no Authorization header.
    req.credential = None;
    let err = run(&req, &log).await.unwrap_err();
    assert!(matches!(err, SourceError::Git { .. }), "{err}");
    let headers = server.join().unwrap();
    assert_eq!(headers, Vec::<String>::new());
    let logged = std::fs::read_to_string(work.path().join("log")).unwrap();
    assert!(!logged.contains(TOKEN));
}

#[tokio::test]
async fn checkout_reads_the_commits_subject_and_author_within_bounds() {
    let fx = fixture();
    let work = tempfile::tempdir().unwrap();
    let log = log_file(work.path());
    let out = run(
        &request(&fx.origin, Some("main"), &work.path().join("a")),
        &log,
    )
    .await
    .unwrap();
    let summary = out.commit.unwrap();
    assert_eq!(
        (summary.subject.as_str(), summary.author.as_str()),
        ("third", "Test")
    );

    // A subject with escape codes is cleaned; a huge one is cut.
    let message = work.path().join("message");
    std::fs::write(&message, "\x1b[31mred\x1b[0m subject\n\nbody").unwrap();
    std::fs::write(fx.origin.join("d.txt"), "d").unwrap();
    git(&fx.origin, &["add", "d.txt"]);
    git(
        &fx.origin,
        &["commit", "-q", "-F", message.to_str().unwrap()],
    );
    let out = run(
        &request(&fx.origin, Some("main"), &work.path().join("b")),
        &log,
    )
    .await
    .unwrap();
    assert_eq!(out.commit.unwrap().subject, "[31mred[0m subject");

    std::fs::write(&message, "x".repeat(2 * MAX_GIT_STDOUT)).unwrap();
    std::fs::write(fx.origin.join("d.txt"), "e").unwrap();
    git(&fx.origin, &["add", "d.txt"]);
    git(
        &fx.origin,
        &["commit", "-q", "-F", message.to_str().unwrap()],
    );
    let head = git(&fx.origin, &["rev-parse", "HEAD"]);
    let out = run(
        &request(&fx.origin, Some("main"), &work.path().join("c")),
        &log,
    )
    .await
    .unwrap();
    assert_eq!(out.resolved_commit, head);
    let subject = out.commit.unwrap().subject;
    assert!(subject.starts_with("xxxx"), "{subject}");
    assert!(subject.chars().count() <= kiln_domain::commit::MAX_SUBJECT_CHARS);
}
