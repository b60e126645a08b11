//! INSTALL's `runtime-versions`: selector commands run first, in the build's shell.

use std::collections::BTreeMap;

use super::*;
use crate::runtimes::RuntimeSelector;

/// A table whose `tool` runtime "selects" a version by exporting it.
fn exporting_table() -> RuntimeTable {
    RuntimeTable::with(BTreeMap::from([(
        "tool".to_owned(),
        RuntimeSelector {
            commands: vec!["export TOOL_VERSION={version}".to_owned()],
            versions: BTreeMap::from([("2".to_owned(), "2.5".to_owned())]),
            any_version: false,
        },
    )]))
}

#[tokio::test]
async fn selectors_run_first_in_install_and_their_changes_persist() {
    let mut harness = Harness::new(Some(&spec(
        "  install:\n    runtime-versions:\n      tool: 2\n    commands:\n      - echo install\n  \
         build:\n    commands:\n      - echo \"tool=$TOOL_VERSION\"\n",
    )));
    harness.runtimes = exporting_table();
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    let selector = done
        .log
        .find("Running command export TOOL_VERSION=2.5")
        .expect("selector logged");
    let install = done
        .log
        .find("Running command echo install")
        .expect("install");
    assert!(selector < install, "{}", done.log);
    assert!(done.log.contains("\ntool=2.5\n"), "{}", done.log);
}

#[tokio::test]
async fn an_unknown_runtime_or_version_fails_install() {
    for (runtime, message) in [
        ("cobol: 85", "Unknown runtime name: cobol"),
        (
            "tool: 3",
            "Unknown runtime version named '3' of tool. This build image has the following versions: 2",
        ),
    ] {
        let mut harness = Harness::new(Some(&spec(&format!(
            "  install:\n    runtime-versions:\n      {runtime}\n  build:\n    commands:\n      - echo built\n"
        ))));
        harness.runtimes = exporting_table();
        let done = harness.run().await;
        assert_eq!(done.record.status, BuildStatus::Failed);
        assert_eq!(done.status_of(Install), Some(BuildStatus::Failed));
        let context = done.context_of(Install);
        assert_eq!(context.status_code, "YAML_FILE_ERROR");
        assert_eq!(context.message, message);
        assert!(done.log.contains(message), "{}", done.log);
        assert!(!done.log.contains("\nbuilt\n"), "{}", done.log);
    }
}
