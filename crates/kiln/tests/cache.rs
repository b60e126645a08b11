//! Project caches as a CodeBuild user meets them (docs/cache.md): the real `kiln` binary, real
//! git repositories and the real `aws` CLI. The buildspec's `cache.paths` are saved at the end
//! of a build and restored at the start of the next (key, fallback keys, action), in a LOCAL
//! cache on the server's disk or an S3 cache (moto), never across projects or accounts, until
//! InvalidateProjectCache; `cacheOverride` changes one build only.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::agents::{KilnAgent, agent_token, create_fleet, fleet, server_url_for};
use common::builds::{build_log, create_git_project, id_of, wait_build_complete};
use common::docker::{BUSYBOX_IMAGE, docker, docker_server_builder, engine_available};
use common::git::GitRepo;
use common::moto::Moto;
use common::{ACCOUNT_A, ACCOUNT_B, Account, KilnServer, aws, boto3, wait_until};

const BUILD_DEADLINE: Duration = Duration::from_secs(90);

/// Prints what the cache held, then puts `$MARK` there. `lock.txt` names the key.
const KEYED_BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - if [ -f deps/marker ]; then echo "marker was $(cat deps/marker)"; else echo "no marker"; fi
      - mkdir -p deps/sub && echo "$MARK" > deps/marker && echo nested > deps/sub/file
cache:
  key: deps-$(cat lock.txt)-$(codebuild-hash-files lock.txt | cut -c1-8)
  fallback-keys:
    - deps-
  paths:
    - deps/**/*
    - /root/.m2/**/*
"#;

/// No key: one cache per project. Fails when anything was restored.
const UNKEYED_BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - if [ -f deps/marker ]; then echo "marker was $(cat deps/marker)"; else echo "no marker"; fi
      - mkdir -p deps && echo "$MARK" > deps/marker
cache:
  paths:
    - deps/**/*
"#;

fn start(server: &KilnServer, account: &Account<'_>, project: &str, extra: &[&str]) -> Value {
    let mut args = vec!["codebuild", "start-build", "--project-name", project];
    args.extend_from_slice(extra);
    let started = aws(server, account, &args).ok()["build"].clone();
    wait_build_complete_as(server, account, id_of(&started))
}

/// Waits for the build as `account` (the shared helper reads as account A).
fn wait_build_complete_as(server: &KilnServer, account: &Account<'_>, id: &str) -> Value {
    if account.account_id == ACCOUNT_A.account_id {
        return wait_build_complete(server, id, BUILD_DEADLINE);
    }
    let mut build = Value::Null;
    wait_until(BUILD_DEADLINE, "the build to complete", || {
        build = aws(
            server,
            account,
            &["codebuild", "batch-get-builds", "--ids", id],
        )
        .ok()["builds"][0]
            .clone();
        build["buildComplete"] == true
    });
    build
}

/// A build with `MARK` set to `mark`; returns the build and its log.
fn build_marked(server: &KilnServer, project: &str, mark: &str, extra: &[&str]) -> (Value, String) {
    let variable = format!("name=MARK,value={mark},type=PLAINTEXT");
    let mut args = vec!["--environment-variables-override", variable.as_str()];
    args.extend_from_slice(extra);
    let build = start(server, &ACCOUNT_A, project, &args);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let log = build_log(&build);
    (build, log)
}

fn local_cache() -> Value {
    json!({"type": "LOCAL", "modes": ["LOCAL_CUSTOM_CACHE"]})
}

fn invalidate(server: &KilnServer, project: &str) {
    // The answer is `{}`, which the CLI prints as nothing.
    aws(
        server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "invalidate-project-cache",
            "--project-name",
            project,
        ],
    )
    .ok();
}

#[test]
fn a_local_custom_cache_follows_keys_fallbacks_actions_and_invalidation() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("app"));
    repo.commit(
        &[("buildspec.yml", KEYED_BUILDSPEC), ("lock.txt", "v1")],
        "v1",
    );
    let project = create_git_project(
        &server,
        "cached",
        &repo.location(),
        json!({"sourceVersion": "main", "cache": local_cache()}),
    );
    assert_eq!(project["cache"], local_cache());

    let (first, log) = build_marked(&server, "cached", "one", &[]);
    assert_eq!(first["cache"], local_cache());
    let v1 = format!("deps-v1-{}", &sha256_hex("v1")[..8]);
    let v2 = format!("deps-v2-{}", &sha256_hex("v2")[..8]);
    assert!(
        log.contains(&format!("Cache miss: nothing cached for key {v1}")),
        "{log}"
    );
    assert!(log.contains("no marker\n"), "{log}");
    // The local executor never reads or writes the host's own directories.
    assert!(
        log.contains(
            "Skipping cache path /root/.m2/**/*: absolute paths are cached only in a container"
        ),
        "{log}"
    );
    assert!(
        log.contains(&format!("Cache saved: key {v1} to local cache (")),
        "{log}"
    );
    // Restored at the end of DOWNLOAD_SOURCE, before INSTALL; saved in UPLOAD_ARTIFACTS.
    let restore_at = log.find("Restoring cache from local cache").unwrap();
    let saved_at = log.find("Cache saved:").unwrap();
    let upload_at = log.find("Entering phase UPLOAD_ARTIFACTS").unwrap();
    assert!(
        restore_at < log.find("Entering phase INSTALL").unwrap(),
        "{log}"
    );
    assert!(upload_at < saved_at, "{log}");
    assert!(!log.contains("`cache` is not supported"), "{log}");

    let (_, log) = build_marked(&server, "cached", "two", &[]);
    assert!(
        log.contains(&format!("Cache restored (key {v1}): local cache (")),
        "{log}"
    );
    assert!(log.contains("marker was one\n"), "{log}");

    // A new key misses, and the fallback key finds the latest cache it prefixes.
    repo.commit(&[("lock.txt", "v2")], "v2");
    let (_, log) = build_marked(&server, "cached", "three", &[]);
    assert!(
        log.contains(&format!(
            "Cache restored (fallback key deps- matched key {v1})"
        )),
        "{log}"
    );
    assert!(log.contains("marker was two\n"), "{log}");
    let (_, log) = build_marked(&server, "cached", "four", &[]);
    assert!(log.contains(&format!("Cache restored (key {v2})")), "{log}");
    assert!(log.contains("marker was three\n"), "{log}");

    // `action: restore` restores but keeps the cache as it was.
    let restore_only =
        KEYED_BUILDSPEC.replace("  fallback-keys:", "  action: restore\n  fallback-keys:");
    let (_, log) = build_marked(
        &server,
        "cached",
        "five",
        &["--buildspec-override", &restore_only],
    );
    assert!(log.contains("marker was four\n"), "{log}");
    assert!(
        log.contains("Not saving the cache: the buildspec's cache action is restore"),
        "{log}"
    );
    let save_only = KEYED_BUILDSPEC.replace("  fallback-keys:", "  action: save\n  fallback-keys:");
    let (_, log) = build_marked(
        &server,
        "cached",
        "six",
        &["--buildspec-override", &save_only],
    );
    assert!(
        log.contains("Not restoring the cache: the buildspec's cache action is save"),
        "{log}"
    );
    assert!(log.contains("no marker\n"), "{log}");
    let (_, log) = build_marked(&server, "cached", "seven", &[]);
    assert!(log.contains("marker was six\n"), "{log}");

    // cacheOverride applies to one build only.
    let (overridden, log) = build_marked(
        &server,
        "cached",
        "eight",
        &["--cache-override", "type=NO_CACHE"],
    );
    assert_eq!(overridden["cache"], json!({"type": "NO_CACHE"}));
    assert!(
        log.contains("The buildspec's cache is not used: the project's cache type is NO_CACHE"),
        "{log}"
    );
    assert!(log.contains("no marker\n"), "{log}");
    let (_, log) = build_marked(&server, "cached", "nine", &[]);
    assert!(log.contains("marker was seven\n"), "{log}");

    // After InvalidateProjectCache every earlier cache is missed, fallbacks included.
    invalidate(&server, "cached");
    let (_, log) = build_marked(&server, "cached", "ten", &[]);
    assert!(
        log.contains(&format!("Cache miss: nothing cached for key {v2}")),
        "{log}"
    );
    assert!(log.contains("no marker\n"), "{log}");
    let (_, log) = build_marked(&server, "cached", "eleven", &[]);
    assert!(log.contains("marker was ten\n"), "{log}");
    // The older generation's files are gone from the server's disk.
    let project_dir = server
        .data_dir()
        .join("cache/custom")
        .join(ACCOUNT_A.account_id)
        .join("cached");
    let generations: Vec<String> = std::fs::read_dir(&project_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(generations, ["g1"]);

    // InvalidateProjectCache's errors, in AWS's words.
    let missing = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "invalidate-project-cache",
            "--project-name",
            "no-such-project",
        ],
    )
    .error();
    assert_eq!(missing.code, "ResourceNotFoundException", "{missing:?}");
}

#[test]
fn caches_never_cross_projects_or_accounts() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("app"));
    repo.commit(&[("buildspec.yml", UNKEYED_BUILDSPEC)], "init");
    create_git_project(
        &server,
        "shared-name",
        &repo.location(),
        json!({"sourceVersion": "main", "cache": local_cache()}),
    );
    let (_, log) = build_marked(&server, "shared-name", "from-a", &[]);
    assert!(
        log.contains("Cache saved: the project's cache (no key) to local cache"),
        "{log}"
    );
    let (_, log) = build_marked(&server, "shared-name", "again", &[]);
    assert!(log.contains("marker was from-a\n"), "{log}");

    // Another project of the account, same repository, same (absent) key: a miss.
    create_git_project(
        &server,
        "sibling",
        &repo.location(),
        json!({"sourceVersion": "main", "cache": local_cache()}),
    );
    let (_, log) = build_marked(&server, "sibling", "sibling", &[]);
    assert!(log.contains("no marker\n"), "{log}");

    // Account B's project of the same name misses too: its build fails if anything came back.
    let strict = UNKEYED_BUILDSPEC.replace(
        "      - if [ -f deps/marker ]",
        "      - test ! -e deps/marker\n      - if [ -f deps/marker ]",
    );
    let input = json!({
        "name": "shared-name",
        "source": {"type": "GITHUB", "location": repo.location(), "buildspec": strict},
        "sourceVersion": "main",
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL"},
        "serviceRole": "arn:aws:iam::444455556666:role/r",
        "cache": local_cache(),
    });
    aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "create-project",
            "--cli-input-json",
            &input.to_string(),
        ],
    )
    .ok();
    let b = start(&server, &ACCOUNT_B, "shared-name", &[]);
    assert_eq!(b["buildStatus"], "SUCCEEDED", "{b:#}");
    // Account A cannot invalidate B's project, and B's invalidation leaves A's cache alone.
    aws(
        &server,
        &ACCOUNT_B,
        &[
            "codebuild",
            "invalidate-project-cache",
            "--project-name",
            "shared-name",
        ],
    )
    .ok();
    let (_, log) = build_marked(&server, "shared-name", "third", &[]);
    assert!(log.contains("marker was again\n"), "{log}");
}

#[test]
fn an_archive_entry_never_lands_outside_the_build() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("app"));
    repo.commit(&[("buildspec.yml", UNKEYED_BUILDSPEC)], "init");
    create_git_project(
        &server,
        "hostile",
        &repo.location(),
        json!({"sourceVersion": "main", "cache": local_cache()}),
    );
    // Someone with access to the cache's storage plants an archive that climbs out with `..`,
    // names absolute paths and writes through a link to the outside.
    let outside = server.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let entry = server
        .data_dir()
        .join("cache/custom")
        .join(ACCOUNT_A.account_id)
        .join("hostile/g0/default");
    std::fs::create_dir_all(&entry).unwrap();
    let script = format!(
        r#"
import io, tarfile
outside = {outside:?}
with tarfile.open({archive:?}, "w") as tar:
    def add(name, data=b"planted"):
        info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
    add("deps/marker", b"planted")
    add("../../../../../../.." + outside + "/dotdot")
    add(outside + "/absolute")
    link = tarfile.TarInfo("escape"); link.type = tarfile.SYMTYPE; link.linkname = outside
    tar.addfile(link)
    add("escape/through-link")
"#,
        outside = outside.to_str().unwrap(),
        archive = entry.join("src.tar").to_str().unwrap(),
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(status.success());

    let build = start(
        &server,
        &ACCOUNT_A,
        "hostile",
        &[
            "--environment-variables-override",
            "name=MARK,value=x,type=PLAINTEXT",
        ],
    );
    // A cache that cannot be restored is a warning, never a failed build.
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{build:#}");
    let planted: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
    assert!(planted.is_empty(), "written outside the build: {planted:?}");
}

#[test]
fn an_s3_cache_lives_in_the_artifact_store_until_invalidated() {
    let moto = Moto::start();
    let server = KilnServer::builder()
        .config(moto.artifacts_config())
        .start();
    let s3 = |code: &str| {
        boto3(
            &server,
            &ACCOUNT_A,
            &format!(
                r#"
s3 = boto3.client("s3", endpoint_url={endpoint:?}, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing-secret-key")
{code}
"#,
                endpoint = moto.endpoint()
            ),
        )
    };
    s3(r#"s3.create_bucket(Bucket="build-cache"); result = True"#);
    let keys = || {
        s3(
            r#"result = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="build-cache").get("Contents", []))"#,
        )
    };
    let repo = GitRepo::init(server.root().join("app"));
    repo.commit(&[("buildspec.yml", UNKEYED_BUILDSPEC)], "init");
    let cache = json!({"type": "S3", "location": "build-cache/team"});
    create_git_project(
        &server,
        "in-s3",
        &repo.location(),
        json!({"sourceVersion": "main", "cache": cache}),
    );
    let (_, log) = build_marked(&server, "in-s3", "one", &[]);
    let prefix = format!("team/kiln-cache/{}/in-s3", ACCOUNT_A.account_id);
    assert!(
        log.contains(&format!(
            "Cache saved: the project's cache (no key) to s3://build-cache/{prefix}/g0 ("
        )),
        "{log}"
    );
    assert_eq!(keys(), json!([format!("{prefix}/g0/default/src.tar.gz")]));
    let (_, log) = build_marked(&server, "in-s3", "two", &[]);
    assert!(log.contains("marker was one\n"), "{log}");

    // An S3 location without a bucket is refused, as CodeBuild does.
    let bad = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "start-build",
            "--project-name",
            "in-s3",
            "--cache-override",
            "type=S3",
        ],
    )
    .error();
    assert_eq!(bad.code, "InvalidInputException", "{bad:?}");

    invalidate(&server, "in-s3");
    wait_until(
        Duration::from_secs(30),
        "the old generation's objects to go",
        || keys() == json!([]),
    );
    let (_, log) = build_marked(&server, "in-s3", "three", &[]);
    assert!(log.contains("no marker\n"), "{log}");
    assert_eq!(keys(), json!([format!("{prefix}/g1/default/src.tar.gz")]));
}

/// A `CreateProject` input of a Docker build in the busybox test image.
fn docker_project(
    server: &KilnServer,
    name: &str,
    buildspec: &str,
    cache: Value,
    privileged: bool,
) -> String {
    let repo = GitRepo::init(server.root().join(format!("repo-{name}")));
    repo.commit(&[("readme.txt", "hello\n")], "init");
    json!({
        "name": name,
        "source": {"type": "GITHUB", "location": repo.location(), "buildspec": buildspec},
        "sourceVersion": "main",
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": privileged},
        "serviceRole": "arn:aws:iam::111122223333:role/r",
        "cache": cache,
    })
    .to_string()
}

#[test]
fn docker_builds_cache_their_own_absolute_paths_and_docker_layers_per_project() {
    if !engine_available(
        "docker_builds_cache_their_own_absolute_paths_and_docker_layers_per_project",
    ) {
        return;
    }
    let server = docker_server_builder(&BUSYBOX_IMAGE).start();
    // An absolute path of the container (a Maven-style home cache) and a relative one.
    let paths_spec = r#"version: 0.2
env:
  shell: sh
phases:
  build:
    commands:
      - if [ -f /root/.m2/repo/jar ]; then echo "m2 was $(cat /root/.m2/repo/jar)"; else echo "m2 empty"; fi
      - mkdir -p /root/.m2/repo && echo "$MARK" > /root/.m2/repo/jar
      - if [ -f out/obj ]; then echo "obj was $(cat out/obj)"; else echo "obj empty"; fi
      - mkdir -p out && echo "$MARK" > out/obj
cache:
  paths:
    - /root/.m2/**/*
    - out/**/*
"#;
    let input = docker_project(
        &server,
        "maven",
        paths_spec,
        json!({"type": "LOCAL", "modes": ["LOCAL_CUSTOM_CACHE"]}),
        false,
    );
    aws(
        &server,
        &ACCOUNT_A,
        &["codebuild", "create-project", "--cli-input-json", &input],
    )
    .ok();
    let (_, log) = build_marked(&server, "maven", "first", &[]);
    assert!(
        log.contains("m2 empty\n") && log.contains("obj empty\n"),
        "{log}"
    );
    let (_, log) = build_marked(&server, "maven", "second", &[]);
    assert!(log.contains("m2 was first\n"), "{log}");
    assert!(log.contains("obj was first\n"), "{log}");

    // LOCAL_DOCKER_LAYER_CACHE: /var/lib/docker outlives the build, for its project only.
    let layers_spec = r#"version: 0.2
env:
  shell: sh
phases:
  build:
    commands:
      - if [ -f /var/lib/docker/layer ]; then echo "layer was $(cat /var/lib/docker/layer)"; else echo "no layer"; fi
      - mkdir -p /var/lib/docker && echo "$MARK" > /var/lib/docker/layer
"#;
    let layers = json!({"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]});
    for name in ["layers", "other-layers"] {
        let input = docker_project(&server, name, layers_spec, layers.clone(), true);
        aws(
            &server,
            &ACCOUNT_A,
            &["codebuild", "create-project", "--cli-input-json", &input],
        )
        .ok();
    }
    // Without privilegedMode there is no Docker daemon to keep layers for: the log says so.
    let (_, log) = build_marked(
        &server,
        "layers",
        "zero",
        &["--no-privileged-mode-override"],
    );
    assert!(
        log.contains("Warning: cache mode LOCAL_DOCKER_LAYER_CACHE has no effect: the build is not privileged"),
        "{log}"
    );
    assert!(log.contains("no layer\n"), "{log}");
    assert_eq!(layer_volumes(), Vec::<String>::new());

    if !privileged_containers_run() {
        // Some hosts (a container without every capability) cannot start privileged
        // containers at all: what can be seen is the project's volume, made and named.
        let build = start(&server, &ACCOUNT_A, "layers", &[]);
        assert_eq!(build["buildStatus"], "FAULT", "{build:#}");
        let log = build_log(&build);
        assert!(
            log.contains(
                "LOCAL_DOCKER_LAYER_CACHE: /var/lib/docker is the project's volume kiln-layers-"
            ),
            "{log}"
        );
        assert_eq!(layer_volumes().len(), 1);
        eprintln!(
            "NOTE: this Docker Engine refuses privileged containers; the layer cache's builds were not run"
        );
        remove_layer_volumes();
        return;
    }
    let (_, log) = build_marked(&server, "layers", "one", &[]);
    assert!(log.contains("no layer\n"), "{log}");
    assert!(
        log.contains(
            "LOCAL_DOCKER_LAYER_CACHE: /var/lib/docker is the project's volume kiln-layers-"
        ),
        "{log}"
    );
    let (_, log) = build_marked(&server, "layers", "two", &[]);
    assert!(log.contains("layer was one\n"), "{log}");
    let (_, log) = build_marked(&server, "other-layers", "three", &[]);
    assert!(log.contains("no layer\n"), "{log}");
    assert_eq!(layer_volumes().len(), 2);
    // Invalidation starts a new volume and removes the old one.
    invalidate(&server, "layers");
    let (_, log) = build_marked(&server, "layers", "four", &[]);
    assert!(log.contains("no layer\n"), "{log}");
    let volumes = layer_volumes();
    assert_eq!(volumes.len(), 2, "{volumes:?}");
    assert_eq!(
        volumes.iter().filter(|v| v.ends_with("-g1")).count(),
        1,
        "{volumes:?}"
    );
    remove_layer_volumes();
}

/// Whether this Docker Engine can start a privileged container.
fn privileged_containers_run() -> bool {
    std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--privileged",
            "--entrypoint",
            "/bin/busybox",
            BUSYBOX_IMAGE.name,
            "true",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The Docker layer cache volumes (of this test: it runs alone against its own projects).
fn layer_volumes() -> Vec<String> {
    docker(&["volume", "ls", "-q", "--filter", "label=kiln.layer-cache"])
        .lines()
        .map(ToString::to_string)
        .collect()
}

fn remove_layer_volumes() {
    for volume in layer_volumes() {
        docker(&["volume", "rm", &volume]);
    }
}

#[test]
fn a_docker_layer_cache_on_the_local_executor_says_it_has_no_effect() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("app"));
    repo.commit(&[("buildspec.yml", UNKEYED_BUILDSPEC)], "init");
    create_git_project(
        &server,
        "local-layers",
        &repo.location(),
        json!({"sourceVersion": "main",
               "cache": {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]}}),
    );
    let (_, log) = build_marked(&server, "local-layers", "x", &[]);
    assert!(
        log.contains("Warning: cache mode LOCAL_DOCKER_LAYER_CACHE has no effect: the build runs on the local executor"),
        "{log}"
    );
    assert!(
        log.contains("The buildspec's cache paths are not cached: the project's LOCAL cache does not have the mode LOCAL_CUSTOM_CACHE"),
        "{log}"
    );
}

#[test]
fn a_source_cache_mirrors_the_repository_and_follows_the_remote() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("app"));
    let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"version $(cat version.txt)\"\n      - git log --oneline | wc -l\n";
    repo.commit(&[("buildspec.yml", spec), ("version.txt", "one")], "one");
    create_git_project(
        &server,
        "mirrored",
        &repo.location(),
        json!({"sourceVersion": "main",
               "cache": {"type": "LOCAL", "modes": ["LOCAL_SOURCE_CACHE"]}}),
    );
    let note = "Source cache: the project's mirror of the source was updated and the checkout fetched from it";
    let (first, log) = build_marked(&server, "mirrored", "-", &[]);
    assert!(log.contains(note), "{log}");
    assert!(log.contains("version one\n"), "{log}");
    assert_eq!(first["resolvedSourceVersion"], repo.head());
    let mirrors = server
        .data_dir()
        .join("cache/source")
        .join(ACCOUNT_A.account_id)
        .join("mirrored/g0");
    let mirror = std::fs::read_dir(&mirrors)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mirrored = |rev: &str| {
        std::process::Command::new("git")
            .args(["--git-dir", mirror.to_str().unwrap(), "rev-parse", rev])
            .output()
            .unwrap()
    };
    assert_eq!(
        String::from_utf8_lossy(&mirrored("refs/heads/main").stdout).trim(),
        repo.head()
    );

    // The remote moves on: the next build checks out the new commit, and the mirror follows.
    repo.commit(&[("version.txt", "two")], "two");
    let (second, log) = build_marked(&server, "mirrored", "-", &[]);
    assert!(log.contains(note), "{log}");
    assert!(log.contains("version two\n"), "{log}");
    assert_eq!(second["resolvedSourceVersion"], repo.head());
    assert_eq!(
        String::from_utf8_lossy(&mirrored("refs/heads/main").stdout).trim(),
        repo.head()
    );
    // The build's checkout is its own: it does not borrow from the mirror.
    assert!(!log.contains("alternates"), "{log}");

    // Invalidation starts a fresh mirror, and the old one goes.
    invalidate(&server, "mirrored");
    let (_, log) = build_marked(&server, "mirrored", "-", &[]);
    assert!(log.contains("version two\n"), "{log}");
    assert!(!mirrors.exists());
}

#[test]
fn an_agent_keeps_a_local_cache_in_its_work_dir_and_hears_of_invalidation() {
    let server = KilnServer::start();
    let fleet_arn = create_fleet(&server, "cached-fleet", 1, "QUEUE");
    let token = agent_token(&server, "cached-fleet");
    let agent = KilnAgent::start(
        &server_url_for(&server, None),
        &token,
        "cache-agent",
        1,
        None,
    );
    wait_until(Duration::from_secs(30), "the agent to connect", || {
        fleet(&server, "cached-fleet")["status"]["message"]
            == "1 of 1 build slots connected (1 agent)"
    });
    let repo = GitRepo::init(server.root().join("app"));
    repo.commit(&[("buildspec.yml", UNKEYED_BUILDSPEC)], "init");
    create_git_project(
        &server,
        "on-agent",
        &repo.location(),
        json!({"sourceVersion": "main", "cache": local_cache(),
               "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                               "computeType": "BUILD_GENERAL1_SMALL",
                               "fleet": {"fleetArn": fleet_arn}}}),
    );
    let (first, log) = build_marked(&server, "on-agent", "one", &[]);
    assert!(log.contains("Running on agent cache-agent"), "{log}");
    assert_eq!(first["environment"]["fleet"]["fleetArn"], fleet_arn);
    assert!(log.contains("no marker\n"), "{log}");
    let (_, log) = build_marked(&server, "on-agent", "two", &[]);
    assert!(log.contains("marker was one\n"), "{log}");
    // The cache is the agent's own, in its work dir.
    assert!(
        agent
            .work_dir()
            .join("cache/custom")
            .join(ACCOUNT_A.account_id)
            .join("on-agent/g0/default/src.tar")
            .is_file()
    );
    // The server's invalidation reaches the agent through the generation of its claim.
    invalidate(&server, "on-agent");
    let (_, log) = build_marked(&server, "on-agent", "three", &[]);
    assert!(log.contains("no marker\n"), "{log}");
}

/// What `sha256sum` prints for `text` (what `codebuild-hash-files` hashes), in hex.
fn sha256_hex(text: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}
