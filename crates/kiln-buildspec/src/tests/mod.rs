//! Whole-document tests of [`parse`].

use std::time::{Duration, Instant};

use kiln_reports::ReportFileFormat;

use super::*;

mod properties;
mod warnings;

/// The "Buildspec syntax" of the CodeBuild user guide
/// (<https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html>), with the
/// placeholders filled in.
const FULL_SYNTAX: &str = r#"version: 0.2
run-as: builder
env:
  shell: bash
  variables:
    JAVA_HOME: "/usr/lib/jvm/java-8-openjdk-amd64"
    NODE_VERSION: 18.10
    DEBUG: true
  parameter-store:
    LOGIN_PASSWORD: /CodeBuild/dockerLoginPassword
  exported-variables:
    - IMAGE_TAG
  secrets-manager:
    TOKEN: prod/github:token:AWSCURRENT
  git-credential-helper: yes
proxy:
  upload-artifacts: yes
  logs: no
batch:
  fast-fail: false
  build-list:
    - identifier: linux
      env:
        variables:
          OS: linux
phases:
  install:
    run-as: root
    on-failure: ABORT
    runtime-versions:
      java: corretto11
      python: 3.10
    commands:
      - echo Entered the install phase...
      - apt-get update -y
    finally:
      - echo cleanup install
  pre_build:
    on-failure: CONTINUE
    commands:
      - echo Entered the pre_build phase...
      - docker login -u User -p $LOGIN_PASSWORD
  build:
    on-failure: RETRY-2-.*timeout.*
    commands:
      - echo Entered the build phase...
      - mvn install
      - |
        set -e
        make all
    finally:
      - echo This always runs even if the install command fails
  post_build:
    commands:
      - echo Entered the post_build phase...
      - 'echo "done: $(date)"'
reports:
  arn:aws:codebuild:your-region:your-aws-account-id:report-group/report-group-name-1:
    files:
      - "**/*"
    base-directory: 'target/tests/reports'
    discard-paths: no
  reportGroupCucumberJson:
    files:
      - 'cucumber/target/cucumber-tests.xml'
    discard-paths: yes
    file-format: CUCUMBERJSON
artifacts:
  files:
    - target/messageUtil-1.0.jar
  name: $(date +%Y-%m-%d)
  discard-paths: no
  base-directory: 'target'
  exclude-paths: "**/.*"
  enable-symlinks: no
  s3-prefix: builds
  secondary-artifacts:
    artifact1:
      files:
        - target/artifact-1.0.jar
      discard-paths: yes
    artifact2:
      files:
        - target/artifact-2.0.jar
      exclude-paths:
        - "*.tmp"
        - "**/.git/**"
      base-directory: out
cache:
  key: npm-key-$(codebuild-hash-files package-lock.json)
  fallback-keys:
    - npm-key-
  action: restore
  paths:
    - '/root/.m2/**/*'
"#;

fn err(yaml: &str) -> BuildspecError {
    match parse(yaml) {
        Ok(spec) => panic!("expected an error for {yaml:?}, got {spec:?}"),
        Err(e) => e,
    }
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn full_syntax_example_parses() {
    let spec = parse(FULL_SYNTAX).expect("full syntax example");
    assert_eq!(spec.version, Version::V02);
    assert_eq!(spec.run_as.as_deref(), Some("builder"));
    assert_eq!(spec.shell, Some(Shell::Bash));
    assert_eq!(
        spec.variables,
        pairs(&[
            ("JAVA_HOME", "/usr/lib/jvm/java-8-openjdk-amd64"),
            ("NODE_VERSION", "18.10"),
            ("DEBUG", "true"),
        ])
    );
    assert_eq!(
        spec.parameter_store,
        pairs(&[("LOGIN_PASSWORD", "/CodeBuild/dockerLoginPassword")])
    );
    assert_eq!(
        spec.secrets_manager,
        pairs(&[("TOKEN", "prod/github:token:AWSCURRENT")])
    );
    assert_eq!(spec.exported_variables, owned(&["IMAGE_TAG"]));
    assert!(spec.git_credential_helper);
    assert_eq!(
        spec.proxy,
        Some(ProxySpec {
            upload_artifacts: true,
            logs: false
        })
    );
    assert!(spec.has_batch);

    let install = spec.phases.install.as_ref().expect("install");
    assert_eq!(install.on_failure, Some(OnFailure::Abort));
    assert_eq!(install.run_as.as_deref(), Some("root"));
    // A phase's own `run-as` wins; the others take the top-level one.
    assert_eq!(spec.run_as_for(PhaseName::Install), Some("root"));
    assert_eq!(spec.run_as_for(PhaseName::Build), Some("builder"));
    assert_eq!(
        install.runtime_versions,
        pairs(&[("java", "corretto11"), ("python", "3.10")])
    );
    assert_eq!(install.finally, owned(&["echo cleanup install"]));
    let pre_build = spec.phases.pre_build.as_ref().expect("pre_build");
    assert_eq!(pre_build.on_failure, Some(OnFailure::Continue));
    let build = spec.phases.build.as_ref().expect("build");
    assert_eq!(
        build.on_failure,
        Some(OnFailure::Retry {
            count: Some(2),
            pattern: Some(".*timeout.*".to_owned())
        })
    );
    assert_eq!(
        build.commands,
        owned(&[
            "echo Entered the build phase...",
            "mvn install",
            "set -e\nmake all\n"
        ])
    );
    let post_build = spec.phases.post_build.as_ref().expect("post_build");
    assert_eq!(post_build.commands[1], "echo \"done: $(date)\"");
    assert_eq!(post_build.on_failure, None);

    assert_eq!(spec.reports.len(), 2);
    assert_eq!(
        spec.reports[0].0,
        "arn:aws:codebuild:your-region:your-aws-account-id:report-group/report-group-name-1"
    );
    assert_eq!(spec.reports[0].1.file_format, ReportFileFormat::JunitXml);
    assert_eq!(
        spec.reports[1].1,
        ReportSpec {
            files: owned(&["cucumber/target/cucumber-tests.xml"]),
            base_directory: None,
            discard_paths: true,
            file_format: ReportFileFormat::CucumberJson,
        }
    );

    let artifacts = spec.artifacts.as_ref().expect("artifacts");
    assert_eq!(artifacts.files, owned(&["target/messageUtil-1.0.jar"]));
    assert_eq!(artifacts.name.as_deref(), Some("$(date +%Y-%m-%d)"));
    assert!(!artifacts.discard_paths);
    assert_eq!(artifacts.base_directory.as_deref(), Some("target"));
    assert_eq!(artifacts.exclude_paths, owned(&["**/.*"]));
    assert!(!artifacts.enable_symlinks);
    assert_eq!(artifacts.s3_prefix.as_deref(), Some("builds"));
    let ids: Vec<&str> = artifacts
        .secondary
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(ids, ["artifact1", "artifact2"]);
    assert!(artifacts.secondary[0].1.discard_paths);
    assert_eq!(
        artifacts.secondary[1].1.exclude_paths,
        owned(&["*.tmp", "**/.git/**"])
    );

    assert_eq!(
        spec.cache,
        Some(CacheSpec {
            key: Some("npm-key-$(codebuild-hash-files package-lock.json)".to_owned()),
            fallback_keys: owned(&["npm-key-"]),
            action: Some(CacheAction::Restore),
            paths: owned(&["/root/.m2/**/*"]),
        })
    );
}

#[test]
fn every_report_file_format_is_accepted() {
    for format in ReportFileFormat::ALL {
        let yaml = format!(
            "version: 0.2\nphases: {{}}\nreports:\n  g:\n    files: [x]\n    file-format: {format}\n"
        );
        let spec = parse(&yaml).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(spec.reports[0].1.file_format, format);
    }
}

#[test]
fn phases_iterate_in_order_with_build_phase_types() {
    let spec = parse("version: 0.2\nphases:\n  post_build:\n    commands: [b]\n  install: {}\n")
        .expect("parses");
    let seen: Vec<(&str, bool)> = spec
        .phases
        .iter()
        .map(|(name, phase)| (name.build_phase_type(), phase.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            ("INSTALL", true),
            ("PRE_BUILD", false),
            ("BUILD", false),
            ("POST_BUILD", true)
        ]
    );
    assert_eq!(PhaseName::PreBuild.yaml_key(), "pre_build");
}

#[test]
fn version_0_1_with_legacy_environment_variables() {
    let spec = parse(
        "version: 0.1\nenvironment_variables:\n  plaintext:\n    A: one\n    B: 2\n\
         phases:\n  build:\n    commands:\n      - echo $A\n",
    )
    .expect("0.1 parses");
    assert_eq!(spec.version, Version::V01);
    assert_eq!(spec.variables, pairs(&[("A", "one"), ("B", "2")]));
}

#[test]
fn version_may_be_a_string() {
    let spec = parse("version: \"0.2\"\nphases: {}\n").expect("string version");
    assert_eq!(spec.version, Version::V02);
    let spec = parse("version: '0.1'\nphases: {}\n").expect("string version");
    assert_eq!(spec.version, Version::V01);
}

#[test]
fn yes_no_booleans_in_every_spelling() {
    for (text, expected) in [
        ("yes", true),
        ("YES", true),
        ("\"Yes\"", true),
        ("true", true),
        ("True", true),
        ("'TRUE'", true),
        ("no", false),
        ("No", false),
        ("false", false),
        ("\"FALSE\"", false),
    ] {
        let yaml = format!(
            "version: 0.2\nenv:\n  git-credential-helper: {text}\nphases: {{}}\n\
             artifacts:\n  files: [x]\n  discard-paths: {text}\n  enable-symlinks: {text}\n"
        );
        let spec = parse(&yaml).unwrap_or_else(|e| panic!("{text}: {e}"));
        let artifacts = spec.artifacts.expect("artifacts");
        assert_eq!(artifacts.discard_paths, expected, "{text}");
        assert_eq!(artifacts.enable_symlinks, expected, "{text}");
        assert_eq!(spec.git_credential_helper, expected, "{text}");
    }
}

#[test]
fn variable_values_become_text() {
    let spec = parse(
        "version: 0.2\nenv:\n  variables:\n    INT: 42\n    FLOAT: 1.50\n    HEX: 0x1F\n    \
         BOOL: yes\n    EMPTY:\n    LITERAL: $PATH:/x\nphases: {}\n",
    )
    .expect("parses");
    assert_eq!(
        spec.variables,
        pairs(&[
            ("INT", "42"),
            ("FLOAT", "1.50"),
            ("HEX", "0x1F"),
            ("BOOL", "yes"),
            ("EMPTY", ""),
            ("LITERAL", "$PATH:/x"),
        ])
    );
}

#[test]
fn numbers_in_command_lists_become_text() {
    let spec = parse("version: 0.2\nphases:\n  build:\n    commands:\n      - 42\n      - true\n")
        .expect("parses");
    let build = spec.phases.build.expect("build");
    assert_eq!(build.commands, owned(&["42", "true"]));
}

#[test]
fn install_may_omit_commands() {
    let spec =
        parse("version: 0.2\nphases:\n  install:\n    runtime-versions:\n      nodejs: 18\n")
            .expect("parses");
    let install = spec.phases.install.expect("install");
    assert!(install.commands.is_empty());
}

#[test]
fn on_failure_variants_in_phases() {
    let spec = parse(
        "version: 0.2\nphases:\n  install:\n    on-failure: RETRY\n  pre_build:\n    \
         on-failure: RETRY-5\n    commands: [a]\n  build:\n    on-failure: RETRY-.*err.*\n    \
         commands: [b]\n",
    )
    .expect("parses");
    let retry = |count, pattern: Option<&str>| {
        Some(OnFailure::Retry {
            count,
            pattern: pattern.map(str::to_owned),
        })
    };
    assert_eq!(
        spec.phases.install.expect("i").on_failure,
        retry(None, None)
    );
    assert_eq!(
        spec.phases.pre_build.expect("p").on_failure,
        retry(Some(5), None)
    );
    assert_eq!(
        spec.phases.build.expect("b").on_failure,
        retry(None, Some(".*err.*"))
    );
}

#[test]
fn shells() {
    let spec = parse("version: 0.2\nenv:\n  shell: /bin/sh\nphases: {}\n").expect("parses");
    assert_eq!(spec.shell, Some(Shell::Sh));
    let e = err("version: 0.2\nenv:\n  shell: powershell.exe\nphases: {}\n");
    assert!(e.message().contains("`env.shell`"), "{e}");
}

#[test]
fn batch_accepts_any_structure() {
    let spec = parse(
        "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n      depend-on: [b]\n      \
         buildspec: x.yml\n  anything: [1, {x: y}]\nphases: {}\n",
    )
    .expect("parses");
    assert!(spec.has_batch);
}

/// Each case: input, text the message must contain, expected line and column.
#[test]
fn errors_carry_message_line_and_column() {
    let cases: &[(&str, &str, u64, u64)] = &[
        ("version: 0.3\nphases: {}\n", "`version` 0.1 or 0.2", 1, 10),
        ("version: [1]\nphases: {}\n", "`version`", 1, 1),
        ("phases: {}\n", "missing field `version`", 1, 1),
        ("version: 0.2\n", "missing field `phases`", 1, 1),
        ("version:\nphases: {}\n", "`version` has no value", 1, 1),
        (
            "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n",
            "batch builds are not supported by Kiln yet",
            2,
            1,
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [a]\n    Commands: [b]\n",
            "duplicate key `commands`",
            5,
            5,
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n",
            "quote text that contains",
            5,
            9,
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [x]\n  post_build: {}\n",
            "`phases.post_build.commands` is required",
            5,
            15,
        ),
        (
            "version: 0.2\nphases:\n  build:\n    on-failure: STOP\n    commands: [x]\n",
            "`on-failure`",
            4,
            17,
        ),
        (
            "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-500\n    commands: [x]\n",
            "retry count must be 0 to 100",
            4,
            17,
        ),
        (
            "version: 0.2\nenv:\n  exported-variables: [A, AWS_X]\nphases: {}\n",
            "AWS_",
            3,
            27,
        ),
        (
            "version: 0.2\nphases: {}\nartifacts:\n  name: x\n",
            "`artifacts.files` is required",
            4,
            3,
        ),
        (
            "version: 0.2\nphases: {}\nartifacts:\n  files: [a]\n  secondary-artifacts:\n    \
             two:\n      name: x\n",
            "`artifacts.secondary-artifacts.two.files` is required",
            7,
            7,
        ),
        (
            "version: 0.2\nphases: {}\nartifacts:\n  files: [x]\n  discard-paths: maybe\n",
            "yes or no",
            5,
            3,
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [\n",
            "unclosed bracket",
            4,
            15,
        ),
        (
            "version: 0.2\nphases: {}\ncache:\n  action: both\n  paths: [x]\n",
            "`cache.action`",
            4,
            11,
        ),
        (
            "version: 0.2\nphases: {}\nreports:\n  g:\n    files: [x]\n    file-format: JUNIT\n",
            "`file-format` CUCUMBERJSON, JUNITXML",
            6,
            18,
        ),
        (
            "version: 0.2\nphases: {}\nreports:\n  g:\n    file-format: junitxml\n    files: [x]\n",
            "invalid value \"junitxml\"",
            5,
            18,
        ),
        (
            "version: 0.2\nphases: {}\nreports:\n  g:\n    base-directory: x\n",
            "missing field `files`",
            5,
            5,
        ),
    ];
    for (yaml, needle, line, column) in cases {
        let e = err(yaml);
        assert!(e.message().contains(needle), "{yaml:?}: {e}");
        assert_eq!(
            (e.line(), e.column()),
            (Some(*line), Some(*column)),
            "{yaml:?}: {e}"
        );
        assert!(e.to_string().starts_with("YAML_FILE_ERROR: "), "{e}");
        assert!(
            e.to_string()
                .ends_with(&format!(" at line {line}, column {column}")),
            "{e}"
        );
    }
}

#[test]
fn tabs_are_an_error() {
    let e = err("version: 0.2\nphases:\n  build:\n    commands:\n\t- make\n");
    assert!(e.message().contains("tab"), "{e}");
    assert_eq!(e.line(), Some(5));
}

#[test]
fn duplicate_keys_are_an_error() {
    let e =
        err("version: 0.2\nphases:\n  build:\n    commands: [a]\n  build:\n    commands: [b]\n");
    assert!(e.message().contains("duplicate"), "{e}");
    assert_eq!((e.line(), e.column()), (Some(5), Some(3)));
    let e = err("version: 0.2\nenv:\n  variables:\n    A: 1\n    A: 2\nphases: {}\n");
    assert!(e.message().contains("duplicate"), "{e}");
    assert_eq!(e.line(), Some(5));
}

#[test]
fn several_documents_are_an_error() {
    let e = err("version: 0.2\nphases: {}\n---\nversion: 0.2\nphases: {}\n");
    assert_eq!(e.line(), Some(3));
}

#[test]
fn billion_laughs_is_rejected_quickly() {
    let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = i - 1;
        let refs = vec![format!("*a{prev}"); 10].join(", ");
        yaml.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    // Put the bomb where the parser has to read it: inside `batch`, which accepts anything.
    let yaml = format!(
        "version: 0.2\nphases: {{}}\nbatch:\n{}",
        yaml.lines().map(|l| format!("  {l}\n")).collect::<String>()
    );
    let started = Instant::now();
    let e = err(&yaml);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(e.message().contains("too large or too complex"), "{e}");
}

#[test]
fn deep_nesting_is_rejected() {
    let depth = 500;
    let yaml = format!(
        "version: 0.2\nphases: {{}}\nbatch: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let e = err(&yaml);
    assert_eq!(e.line(), Some(3), "{e}");
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let yaml = format!(
        "version: 0.2\nphases: {{}}\n#{}\n",
        "x".repeat(MAX_BUILDSPEC_BYTES)
    );
    let e = err(&yaml);
    assert!(e.message().contains("limit"), "{e}");
    assert_eq!(e.position(), None);
}

#[test]
fn nested_secondary_artifacts_are_an_error() {
    let e = err(
        "version: 0.2\nphases: {}\nartifacts:\n  files: [a]\n  secondary-artifacts:\n    one:\n      \
         files: [b]\n      secondary-artifacts: {}\n",
    );
    assert!(
        e.message().contains("cannot have `secondary-artifacts`"),
        "{e}"
    );
}

#[test]
fn aliases_within_limits_work() {
    let spec = parse(
        "version: 0.2\nphases:\n  build:\n    commands: &cmds\n      - make\n  post_build:\n    \
         commands: *cmds\n",
    )
    .expect("parses");
    assert_eq!(
        spec.phases.post_build.expect("post").commands,
        owned(&["make"])
    );
}
