//! Secondary sources as a CodeBuild user migrating a project meets them: the real `kiln`
//! binary, real git repositories and the real `aws` CLI. Each secondary source is checked out
//! beside the primary at its own version, `CODEBUILD_SRC_DIR_<sourceIdentifier>` points at it,
//! StartBuild's overrides change which version, and the buildspec's `secondary-artifacts` are
//! uploaded per `artifactIdentifier`.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::json;

use common::builds::{build_log, create_git_project, id_of, wait_build_complete};
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, aws};

const BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - echo "lib says $(cat "$CODEBUILD_SRC_DIR_lib/version.txt")"
      - test "$(pwd)" = "$CODEBUILD_SRC_DIR"
      - echo "lib version $CODEBUILD_SOURCE_VERSION_lib from $CODEBUILD_SOURCE_REPO_URL_lib"
      - mkdir -p out && cp "$CODEBUILD_SRC_DIR_lib/version.txt" out/lib-version.txt
artifacts:
  files:
    - buildspec.yml
  secondary-artifacts:
    libcopy:
      files:
        - out/lib-version.txt
      discard-paths: yes
"#;

#[test]
fn secondary_sources_are_checked_out_beside_the_primary_at_their_versions() {
    let server = KilnServer::start();
    let app = GitRepo::init(server.root().join("app"));
    app.commit(&[("buildspec.yml", BUILDSPEC)], "app");
    let lib = GitRepo::init(server.root().join("lib"));
    lib.commit(&[("version.txt", "one")], "lib one");
    lib.git(&["tag", "v1"]);
    lib.commit(&[("version.txt", "two")], "lib two");

    create_git_project(
        &server,
        "with-lib",
        &app.location(),
        json!({
            "sourceVersion": "main",
            "secondarySources": [{"type": "GITHUB", "location": lib.location(), "sourceIdentifier": "lib"}],
            "secondarySourceVersions": [{"sourceIdentifier": "lib", "sourceVersion": "main"}],
            "secondaryArtifacts": [{"type": "S3", "location": "kiln-artifacts", "artifactIdentifier": "libcopy",
                                     "packaging": "NONE", "name": "libcopy", "namespaceType": "BUILD_ID"}],
        }),
    );

    let build = |extra: &[&str]| {
        let mut args = vec!["codebuild", "start-build", "--project-name", "with-lib"];
        args.extend_from_slice(extra);
        let started = aws(&server, &ACCOUNT_A, &args).ok()["build"].clone();
        wait_build_complete(&server, id_of(&started), Duration::from_secs(60))
    };

    let latest = build(&[]);
    assert_eq!(latest["buildStatus"], "SUCCEEDED", "{latest:#}");
    let log = build_log(&latest);
    assert!(log.contains("lib says two\n"), "{log}");
    assert!(
        log.contains(&format!("lib version main from {}\n", lib.location())),
        "{log}"
    );
    assert!(
        log.contains("Secondary source lib checked out at commit"),
        "{log}"
    );
    assert_eq!(
        latest["secondarySourceVersions"],
        json!([{"sourceIdentifier": "lib", "sourceVersion": "main"}])
    );
    assert_eq!(latest["secondarySources"][0]["sourceIdentifier"], "lib");
    // The secondary artifact, uploaded under its own identifier.
    let uuid = id_of(&latest).split_once(':').unwrap().1;
    let secondary = latest["secondaryArtifacts"].as_array().unwrap();
    assert_eq!(secondary.len(), 1, "{latest:#}");
    assert_eq!(secondary[0]["artifactIdentifier"], "libcopy");
    let copied = server
        .data_dir()
        .join("artifacts/kiln-artifacts")
        .join(uuid)
        .join("libcopy/lib-version.txt");
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "two");

    // StartBuild's version override picks the tag.
    let pinned = build(&[
        "--secondary-sources-version-override",
        "sourceIdentifier=lib,sourceVersion=v1",
    ]);
    assert_eq!(pinned["buildStatus"], "SUCCEEDED", "{pinned:#}");
    assert!(build_log(&pinned).contains("lib says one\n"));
    assert_eq!(
        pinned["secondarySourceVersions"],
        json!([{"sourceIdentifier": "lib", "sourceVersion": "v1"}])
    );

    // A secondary source that cannot be checked out fails DOWNLOAD_SOURCE with CLIENT_ERROR.
    let missing = build(&[
        "--secondary-sources-version-override",
        "sourceIdentifier=lib,sourceVersion=no-such-branch",
    ]);
    assert_eq!(missing["buildStatus"], "FAILED", "{missing:#}");
    let download = missing["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phaseType"] == "DOWNLOAD_SOURCE")
        .unwrap();
    assert_eq!(download["phaseStatus"], "FAILED", "{missing:#}");
    assert_eq!(download["contexts"][0]["statusCode"], "CLIENT_ERROR");
    assert!(
        download["contexts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot download the secondary source lib"),
        "{download:#}"
    );
}

#[test]
fn secondary_sources_need_a_unique_identifier() {
    let server = KilnServer::start();
    let out = aws(
        &server,
        &ACCOUNT_A,
        &[
            "codebuild",
            "create-project",
            "--name",
            "bad",
            "--source",
            "type=NO_SOURCE,buildspec=version: 0.2",
            "--secondary-sources",
            "type=GITHUB,location=https://github.com/a/b.git,sourceIdentifier=x-y",
            "type=GITHUB,location=https://github.com/a/c.git",
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "kiln",
        ],
    );
    let err = out.error();
    assert_eq!(err.code, "InvalidInputException");
    assert!(
        err.message
            .contains("secondarySources.1.member.sourceIdentifier"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("secondarySources.2.member.sourceIdentifier"),
        "{}",
        err.message
    );
}
