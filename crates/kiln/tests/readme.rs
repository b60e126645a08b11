//! The README's quickstart, run as a newcomer would run it: a server started with no
//! configuration prints an access key, the `aws configure set` lines it prints are run, then
//! every `sh` block of the quickstart, in order, in a fresh home directory, offline.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{KilnServer, wait_until};

/// The `sh` blocks of the README section that starts with `heading`.
fn sh_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in README.md"));
    let section = &readme[start + heading.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_quickstart_works_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let blocks = sh_blocks(&readme, "## Quickstart with the aws CLI");
    assert!(blocks.len() >= 3, "{blocks:?}");

    let server = KilnServer::builder().without_accounts().start();
    let mut configure = Vec::new();
    wait_until(
        Duration::from_secs(10),
        "the printed aws configure lines",
        || {
            configure = server
                .stdout_lines()
                .iter()
                .filter_map(|line| {
                    line.trim()
                        .strip_prefix("aws configure set ")
                        .map(str::to_owned)
                })
                .collect();
            configure.len() == 3
        },
    );
    let mut script = String::from("set -euo pipefail\n");
    for line in &configure {
        script.push_str(&format!("aws configure set {line}\n"));
    }
    for block in &blocks {
        script.push_str(&block.replace("http://127.0.0.1:8080", server.url()));
        script.push_str("echo '--- end of block ---'\n");
    }

    let home = server.root().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new("bash");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    let output = command
        .arg("-c")
        .arg(&script)
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the quickstart failed:\n{script}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let outputs: Vec<&str> = stdout.split("--- end of block ---\n").collect();
    // The project, the badge before any build, then the build and the badge after it.
    let all = outputs.join("");
    assert!(all.contains("demo\n"), "{stdout}");
    let before = outputs
        .iter()
        .position(|o| o.contains("\"message\":\"unknown\""))
        .unwrap_or_else(|| panic!("no unknown badge before the build:\n{stdout}"));
    let after = outputs
        .iter()
        .position(|o| o.contains("SUCCEEDED") && o.contains("\"message\":\"passing\""))
        .unwrap_or_else(|| panic!("no passing build and badge:\n{stdout}"));
    assert!(before < after, "{stdout}");
}
