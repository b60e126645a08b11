//! Real buildspecs CodeBuild runs that break the documented syntax: accepted with the meaning
//! CodeBuild gives them, each with a warning at its line and column (docs/buildspec.md).

use super::*;

/// The one warning of `yaml`, as `(line, column, message)`.
fn only_warning(yaml: &str) -> (u64, u64, String) {
    let spec = parse(yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"));
    let [warning] = spec.warnings() else {
        panic!("{yaml:?}: expected one warning, got {:?}", spec.warnings());
    };
    let at = warning.position().expect("position");
    (at.line, at.column, warning.message().to_owned())
}

#[test]
fn null_commands_is_a_phase_without_commands() {
    let yaml = "version: 0.2\nphases:\n  build:\n    commands:\n  post_build:\n    commands: [b]\n";
    let (line, column, message) = only_warning(yaml);
    assert_eq!((line, column), (4, 5));
    assert!(
        message.contains("`phases.build.commands` has no value"),
        "{message}"
    );
    let spec = parse(yaml).expect("parses");
    assert!(spec.phases.build.expect("build").commands.is_empty());
}

#[test]
fn a_phase_with_only_finally_runs_its_finally() {
    let yaml = "version: 0.2\nphases:\n  pre_build:\n    finally: [x]\n";
    let (line, column, message) = only_warning(yaml);
    assert_eq!((line, column), (4, 5));
    assert!(message.contains("has only `finally`"), "{message}");
    let pre_build = parse(yaml)
        .expect("parses")
        .phases
        .pre_build
        .expect("pre_build");
    assert!(pre_build.commands.is_empty());
    assert_eq!(pre_build.finally, ["x"]);
}

#[test]
fn cache_paths_with_every_item_commented_out() {
    let yaml = "version: 0.2\nphases: {}\ncache:\n  paths:\n    # - node_modules/**/*\n";
    let spec = parse(yaml).expect("parses");
    assert_eq!(
        spec.cache.as_ref().expect("cache").paths,
        Vec::<String>::new()
    );
    let texts: Vec<_> = spec
        .warnings()
        .iter()
        .map(|w| (w.line(), w.message().to_owned()))
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].0, Some(4));
    assert!(
        texts[0].1.contains("`cache.paths` has no items"),
        "{texts:?}"
    );
}

#[test]
fn a_block_string_of_commands_is_one_command() {
    let yaml = "version: 0.2\nphases:\n  build:\n    commands: |\n      make\n      make test\n";
    let (line, column, message) = only_warning(yaml);
    assert_eq!((line, column), (4, 5));
    assert!(message.contains("runs as one command"), "{message}");
    let build = parse(yaml).expect("parses").phases.build.expect("build");
    assert_eq!(build.commands, ["make\nmake test\n"]);
}

#[test]
fn a_known_key_in_another_case_is_applied() {
    let yaml = "version: 0.2\nPhases:\n  Build:\n    Commands:\n      - make\n";
    let spec = parse(yaml).expect("parses");
    assert_eq!(
        spec.phases.build.as_ref().expect("build").commands,
        ["make"]
    );
    let found: Vec<_> = spec
        .warnings()
        .iter()
        .map(|w| (w.line(), w.message().to_owned()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(2), "key `Phases` is read as `phases`".to_owned()),
            (Some(3), "key `Build` is read as `build`".to_owned()),
            (Some(4), "key `Commands` is read as `commands`".to_owned()),
        ]
    );
}

#[test]
fn unknown_keys_anywhere_are_ignored() {
    let yaml = "version: 0.2\nfoo: 1\nenv:\n  colour: red\nphases:\n  bild:\n    commands: [x]\n  \
                build:\n    commands: [make]\n    timeout: 5\nartifacts:\n  files: [a]\n  \
                compress: yes\nreports:\n  g:\n    files: [x]\n    owner: me\n";
    let spec = parse(yaml).expect("parses");
    let build = spec.phases.build.as_ref().expect("build");
    assert_eq!(build.commands, ["make"]);
    let found: Vec<_> = spec
        .warnings()
        .iter()
        .map(|w| (w.line(), w.position().map(|p| p.column)))
        .collect();
    assert_eq!(
        found,
        [
            (Some(2), Some(1)),
            (Some(4), Some(3)),
            (Some(6), Some(3)),
            (Some(10), Some(5)),
            (Some(13), Some(3)),
            (Some(17), Some(5)),
        ]
    );
    let bild = &spec.warnings()[2];
    assert_eq!(
        bild.to_string(),
        "buildspec line 6, column 3: unknown key `bild` is ignored \
         (known here: install, pre_build, build, post_build)"
    );
}

#[test]
fn duplicate_keys_inside_batch_are_accepted() {
    let yaml = "version: 0.2\nbatch:\n  fast-fail: false\n  fast-fail: true\n  build-list:\n    \
                - identifier: a\n      identifier: b\nphases:\n  build:\n    commands: [make]\n";
    let spec = parse(yaml).expect("parses");
    assert!(spec.has_batch);
}

#[test]
fn reserved_variable_names_are_a_warning() {
    let yaml = "version: 0.2\nenv:\n  variables:\n    OK: 1\n    CODEBUILD_X: y\nphases: {}\n";
    let (line, column, message) = only_warning(yaml);
    assert_eq!((line, column), (5, 5));
    assert!(message.contains("CODEBUILD_"), "{message}");
    let spec = parse(yaml).expect("parses");
    assert_eq!(
        spec.variables[1],
        ("CODEBUILD_X".to_owned(), "y".to_owned())
    );
}

#[test]
fn a_batch_only_buildspec_is_refused_with_the_batch_message() {
    let e = err("version: 0.2\n\nbatch:\n  fast-fail: false\n  build-list:\n    - identifier: a\n");
    assert_eq!(
        e.to_string(),
        "YAML_FILE_ERROR: batch builds are not supported by Kiln yet: this buildspec has `batch` \
         and no `phases` at line 3, column 1"
    );
}

#[test]
fn a_phase_with_neither_commands_nor_finally_is_still_an_error() {
    let e = err("version: 0.2\nphases:\n  build:\n    on-failure: ABORT\n");
    assert!(
        e.message().contains("`phases.build.commands` is required"),
        "{e}"
    );
    assert_eq!((e.line(), e.column()), (Some(4), Some(5)));
}

#[test]
fn warnings_are_capped_and_keys_shortened() {
    let mut yaml = String::from("version: 0.2\nphases: {}\n");
    for i in 0..150 {
        yaml.push_str(&format!("unknown{i}{}: x\n", "k".repeat(200)));
    }
    let spec = parse(&yaml).expect("parses");
    let warnings = spec.warnings();
    assert_eq!(warnings.len(), 101);
    assert!(warnings[0].message().len() < 300, "{}", warnings[0]);
    assert_eq!(warnings[100].message(), "50 more warnings not shown");
}

/// Each warning as `line: message`.
fn warnings(spec: &Buildspec) -> Vec<String> {
    spec.warnings()
        .iter()
        .map(|w| format!("{}: {}", w.line().unwrap_or(0), w.message()))
        .collect()
}

fn unsupported(line: u64, key: &str) -> String {
    format!("{line}: key `{key}` is not supported by Kiln and is ignored")
}

#[test]
fn unsupported_keys_of_full_example_are_warnings_in_document_order() {
    let spec = parse(FULL_SYNTAX).expect("full syntax example");
    assert_eq!(
        warnings(&spec),
        [
            unsupported(15, "env.git-credential-helper"),
            unsupported(16, "proxy"),
            unsupported(19, "batch"),
            unsupported(44, "phases.build.on-failure: RETRY"),
        ]
    );
    let first = &spec.warnings()[0];
    assert_eq!(
        first.to_string(),
        "buildspec line 15, column 3: key `env.git-credential-helper` is not supported by Kiln and is ignored"
    );
}

#[test]
fn minimal_buildspec_has_no_warnings() {
    let spec = parse("version: 0.2\nphases:\n  build:\n    commands: [make]\n").expect("minimal");
    assert!(spec.warnings().is_empty());
    assert_eq!(spec.artifacts, None);
    assert!(spec.variables.is_empty());
}

#[test]
fn git_helper_warns_only_when_yes_and_enable_symlinks_never() {
    let spec = parse(
        "version: 0.2\nenv:\n  git-credential-helper: no\nphases: {}\n\
         artifacts:\n  files: ['**/*']\n  enable-symlinks: yes\n",
    )
    .expect("parses");
    assert!(spec.warnings().is_empty());
    assert!(spec.artifacts.is_some_and(|a| a.enable_symlinks));
    let helper =
        parse("version: 0.2\nenv:\n  git-credential-helper: yes\nphases: {}\n").expect("parses");
    assert_eq!(
        warnings(&helper),
        [unsupported(3, "env.git-credential-helper")]
    );
}
