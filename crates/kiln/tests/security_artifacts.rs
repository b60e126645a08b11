//! Issue 11, critical: artifact packaging must never follow a link that a build swaps in after
//! the files were selected. The attack as it was found, run against the real `kiln` binary on
//! both executors: while Kiln zips a big file, a background process of the build keeps swapping
//! the directory holding the next artifact file for a link to somewhere only the host has (a
//! directory with a marker, Kiln's data dir with `kiln.db`, `/etc`). Fifty builds each; no byte
//! from outside may ever reach an artifact.

// The helpers below are test code too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::KilnServer;
use common::builds::{context, create_project, id_of, start_builds};
use common::docker::{BUILD_IMAGE, engine_available, ensure_image, server_config};
use common::git::GitRepo;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/kiln-build";
const RACES: usize = 50;
/// How long all the builds of one executor may take.
const DEADLINE: Duration = Duration::from_secs(150);
const MARKER: &[u8] = b"KILN-HOST-ONLY-MARKER-3f9a1c";
/// The build's own bytes in every small artifact file.
const FAKE: &[u8] = b"fake\n";
const BIG_BYTES: usize = 1024 * 1024;
/// What host files would show, beside the marker: `/etc/passwd`, SQLite's database and WAL.
const HOST_SIGNS: [&[u8]; 4] = [
    MARKER,
    b"root:x:0:0",
    b"SQLite format 3\0",
    &[0x37, 0x7f, 0x06, 0x82],
];

/// The issue's buildspec, with the swap looping for as long as the build runs, so that it lands
/// at every moment of packaging across the fifty builds. `TARGET` comes with each build.
const BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - dd if=/dev/urandom of=aaa_big bs=1048576 count=1 2>/dev/null
      - mkdir d && for f in kiln.db-wal kiln.db passwd marker; do echo fake > d/$f; done
      - (while :; do mv d d_real; ln -s "$TARGET" d; sleep 0.01; rm d; mv d_real d; sleep 0.01; done) >/dev/null 2>&1 &
artifacts:
  files:
    - aaa_big
    - d/kiln.db-wal
    - d/kiln.db
    - d/passwd
    - d/marker
"#;

#[derive(Debug, Clone, Copy)]
enum Executor {
    Local,
    Docker,
}

fn server(executor: Executor) -> KilnServer {
    let builder = KilnServer::builder().args(["--max-concurrent-builds", "6"]);
    match executor {
        Executor::Local => builder.args(["--executor", "local"]).start(),
        Executor::Docker => {
            ensure_image(&BUILD_IMAGE);
            builder
                .args(["--executor", "docker"])
                .config(server_config(&BUILD_IMAGE))
                .start()
        }
    }
}

/// Where the swapped-in links point: a host-only directory holding the marker (under Docker,
/// the container cannot even see it), Kiln's data dir, and `/etc`.
fn targets(server: &KilnServer) -> Vec<PathBuf> {
    let outside = server.root().join("host-only");
    std::fs::create_dir_all(&outside).unwrap();
    for name in ["kiln.db-wal", "kiln.db", "passwd", "marker"] {
        std::fs::write(outside.join(name), MARKER.repeat(16)).unwrap();
    }
    let data_dir = std::path::absolute(server.data_dir()).unwrap();
    // Under PostgreSQL the data dir holds no database file.
    assert!(
        data_dir.join("kiln.db").is_file() || common::postgres::suites_use_postgres(),
        "the data dir holds kiln.db"
    );
    vec![outside, data_dir, PathBuf::from("/etc")]
}

fn start_races(server: &KilnServer, targets: &[PathBuf]) -> Vec<String> {
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("buildspec.yml", BUILDSPEC)], "the race");
    create_project(
        server,
        &json!({
            "name": "race",
            "source": {"type": "GITHUB", "location": repo.location()},
            "artifacts": {
                "type": "S3",
                "location": "race-artifacts",
                "namespaceType": "BUILD_ID",
                "name": "out.zip",
                "packaging": "ZIP"
            },
            "environment": {
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL"
            },
            "serviceRole": ROLE
        }),
    );
    let inputs: Vec<Value> = (0..RACES)
        .map(|i| {
            let target = targets[i % targets.len()].display().to_string();
            json!({
                "projectName": "race",
                "environmentVariablesOverride": [
                    {"name": "TARGET", "value": target, "type": "PLAINTEXT"}
                ]
            })
        })
        .collect();
    start_builds(server, &inputs)
        .iter()
        .map(|build| id_of(build).to_owned())
        .collect()
}

/// Every entry of a ZIP, decompressed.
fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().unwrap().into_owned(), content)
        })
        .collect()
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What one build's artifact shows of the race.
#[derive(Debug, Default)]
struct Seen {
    /// The ZIP holds the `d/…` files: `d` was a directory when Kiln read them.
    zipped_d: usize,
    /// `d` was a link when Kiln selected the files: they were left out.
    left_out_d: usize,
    /// `d` changed between selection and reading: Kiln refused to read through the link (or
    /// found the file missing mid-swap).
    refused: usize,
    /// Artifact entries holding anything but the build's own bytes: the defect.
    leaks: Vec<String>,
    /// Builds that ended otherwise than by one of the above.
    unexpected: Vec<String>,
}

fn check_build(server: &KilnServer, build: &Value, seen: &mut Seen) {
    let id = id_of(build);
    match build["buildStatus"].as_str().unwrap() {
        "SUCCEEDED" => {
            let location = build["artifacts"]["location"].as_str().unwrap();
            let key = location.strip_prefix("arn:aws:s3:::").unwrap();
            let entries = zip_entries(&server.data_dir().join("artifacts").join(key));
            for (name, content) in &entries {
                let own = match name.as_str() {
                    "aaa_big" => content.len() == BIG_BYTES,
                    "d/kiln.db-wal" | "d/kiln.db" | "d/passwd" | "d/marker" => content == FAKE,
                    _ => false,
                };
                if !own || HOST_SIGNS.iter().any(|sign| holds(content, sign)) {
                    let start = String::from_utf8_lossy(&content[..content.len().min(40)]);
                    seen.leaks.push(format!("{id}: {name} holds {start:?}…"));
                }
            }
            if entries.len() > 1 {
                seen.zipped_d += 1;
            } else {
                seen.left_out_d += 1;
            }
        }
        "FAILED" => {
            let (code, message) = context(build, "UPLOAD_ARTIFACTS");
            if code == "CLIENT_ERROR"
                && message.contains("was not read: ")
                && build["artifacts"]["location"].is_null()
            {
                seen.refused += 1;
            } else {
                seen.unexpected.push(format!("{id}: {code} {message}"));
            }
        }
        other => seen.unexpected.push(format!("{id} ended {other}")),
    }
}

fn artifacts_never_hold_host_bytes(executor: Executor) {
    let server = server(executor);
    let targets = targets(&server);
    let ids = start_races(&server, &targets);
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let builds =
        common::builds::wait_builds_where(&server, &id_refs, r#"b["buildComplete"]"#, DEADLINE);
    let mut seen = Seen::default();
    for build in &builds {
        assert!(
            phase_reached_upload(build),
            "the build ended before uploading: {build:#}"
        );
        check_build(&server, build, &mut seen);
    }
    eprintln!("{executor:?}: {seen:#?}");
    assert!(
        seen.leaks.is_empty(),
        "host bytes in artifacts: {:#?}",
        seen.leaks
    );
    assert!(seen.unexpected.is_empty(), "{:#?}", seen.unexpected);
    // The attack really ran: some builds met `d` as a link.
    assert!(
        seen.left_out_d + seen.refused > 0,
        "the swaps never landed: {seen:?}"
    );
}

fn phase_reached_upload(build: &Value) -> bool {
    build["phases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["phaseType"] == "UPLOAD_ARTIFACTS" && p["phaseStatus"].is_string())
}

#[test]
fn local_artifacts_never_hold_host_bytes() {
    artifacts_never_hold_host_bytes(Executor::Local);
}

#[test]
fn docker_artifacts_never_hold_host_bytes() {
    if engine_available("docker_artifacts_never_hold_host_bytes") {
        artifacts_never_hold_host_bytes(Executor::Docker);
    }
}
