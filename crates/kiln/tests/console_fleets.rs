//! The console's fleet pages in a real browser (headless Chromium through chromedriver) against
//! the real `kiln` binary and a real `kiln agent`: a fleet made with the `aws` CLI waits for
//! its first agent with its builds queued, turns ACTIVE when the agent connects, shows the
//! agent (name, version, platform, heartbeat) with the build it runs and the build still
//! queued behind it, and a finished build's page names the agent that ran it. Each page is
//! checked with axe-core (0 violations) in light and dark colours (see common/axe.rs).

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::agents::{KilnAgent, agent_token, create_fleet, server_url_for};
use common::axe::{axe_script, check_both_schemes, texts};
use common::browser::{Browser, UI_DEADLINE};
use common::builds::{create_git_project, id_of, uuid_of, wait_build_complete};
use common::git::GitRepo;
use common::{ACCOUNT_A, ACCOUNT_B, KilnServer, aws};

const BUILD_DEADLINE: Duration = Duration::from_secs(120);
const AGENT: &str = "console-agent-1";

/// Each build waits until the test creates `release` beside the repository (at most a
/// minute), so the fleet page can be read while one runs and another waits.
fn buildspec(release: &str) -> String {
    format!(
        "version: 0.2
phases:
  build:
    commands:
      - for i in $(seq 600); do [ -f '{release}' ] && break; sleep 0.1; done
      - echo released
"
    )
}

fn start_build(server: &KilnServer) -> Value {
    aws(
        server,
        &ACCOUNT_A,
        &["codebuild", "start-build", "--project-name", "app"],
    )
    .ok()["build"]
        .clone()
}

/// Reloads `path` until an element matches `css` (the pages are server-rendered: they do not
/// change by themselves).
async fn wait_on_page(browser: &Browser, path: &str, css: &str) {
    browser
        .wait_for(UI_DEADLINE, &format!("{css} on {path}"), || async {
            browser.goto(path).await;
            browser.exists(css).await.then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_pages_show_agents_running_builds_and_the_queue() {
    let axe = axe_script();
    let server = KilnServer::start();
    let fleet_arn = create_fleet(&server, "linux", 1, "QUEUE");
    let release = server.root().join("release");
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(
        &[("buildspec.yml", &buildspec(&release.display().to_string()))],
        "app",
    );
    create_git_project(
        &server,
        "app",
        &repo.location(),
        json!({"sourceVersion": "main",
               "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                               "computeType": "BUILD_GENERAL1_SMALL",
                               "fleet": {"fleetArn": fleet_arn}}}),
    );

    let light = Browser::start(server.url()).await;
    let dark = Browser::start_with_args(server.url(), &["--force-dark-mode"]).await;
    light.sign_in(&ACCOUNT_A).await;
    dark.sign_in(&ACCOUNT_A).await;

    // No agent yet: the fleet asks for one, and its first build waits in its queue.
    let first = start_build(&server);
    light.goto("/").await;
    light.click("nav.topnav a[href='/fleets']").await;
    light.wait_text("h1", "Fleets").await;
    assert_eq!(
        texts(&light, "#fleets tbody td:first-child").await,
        ["linux"]
    );
    assert_eq!(texts(&light, "#fleets .fleet-status").await, ["Creating"]);
    assert_eq!(texts(&light, "#fleets .fleet-agents").await, ["0"]);
    assert_eq!(texts(&light, "#fleets .fleet-queued").await, ["1"]);
    let message = texts(&light, "#fleets .fleet-message").await.join("");
    assert!(message.contains("kiln agent --fleet linux"), "{message}");
    check_both_schemes(&light, &dark, &axe, "/fleets").await;

    light.goto("/fleets/linux").await;
    assert!(light.exists("#no-agents").await);
    let first_link = format!("/projects/app/builds/{}", uuid_of(&first));
    assert!(
        light
            .exists(&format!("#queue a[href='{first_link}']"))
            .await
    );
    let settings = light.text("#fleet-settings").await;
    assert!(settings.contains("LINUX_CONTAINER"), "{settings}");
    assert!(settings.contains(&fleet_arn), "{settings}");
    check_both_schemes(&light, &dark, &axe, "/fleets/linux").await;

    // An agent with one build slot connects: the fleet is ACTIVE, the agent runs the first
    // build, and a second build waits behind it.
    let token = agent_token(&server, "linux");
    let agent = KilnAgent::start(&server_url_for(&server, None), &token, AGENT, 1, None);
    let running = format!("#agents tr[data-name='{AGENT}'] .agent-builds a[href='{first_link}']");
    wait_on_page(&light, "/fleets/linux", &running).await;
    assert!(light.exists("#fleet-status[data-status='ACTIVE']").await);
    assert_eq!(texts(&light, "#agents .agent-name").await, [AGENT]);
    assert_eq!(
        texts(&light, "#agents .agent-version").await,
        [env!("CARGO_PKG_VERSION")]
    );
    assert_eq!(
        texts(&light, "#agents .agent-platform").await,
        [format!(
            "{}/{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )]
    );
    let heartbeat = texts(&light, "#agents .agent-heartbeat").await.join("");
    assert!(heartbeat.ends_with(" ago"), "{heartbeat}");
    assert!(light.exists("#queue-empty").await);

    let second = start_build(&server);
    let second_link = format!("/projects/app/builds/{}", uuid_of(&second));
    wait_on_page(
        &light,
        "/fleets/linux",
        &format!("#queue a[href='{second_link}']"),
    )
    .await;
    light.full_page_screenshot("console-fleet").await;
    check_both_schemes(&light, &dark, &axe, "/fleets/linux").await;
    light.goto("/fleets").await;
    assert_eq!(texts(&light, "#fleets .fleet-status").await, ["Active"]);
    assert_eq!(texts(&light, "#fleets .fleet-agents").await, ["1"]);
    assert_eq!(texts(&light, "#fleets .fleet-queued").await, ["1"]);
    light.screenshot("console-fleets").await;
    check_both_schemes(&light, &dark, &axe, "/fleets").await;

    // Released, both builds finish on the agent; the build page names it and its fleet.
    std::fs::write(&release, "go").unwrap();
    for build in [&first, &second] {
        let done = wait_build_complete(&server, id_of(build), BUILD_DEADLINE);
        assert_eq!(
            done["buildStatus"],
            "SUCCEEDED",
            "{done:#}\n{}",
            agent.stderr_log()
        );
    }
    light.goto(&first_link).await;
    assert_eq!(
        texts(&light, "#ran-on").await,
        [format!("Ran on agent {AGENT} of fleet linux")]
    );
    assert!(light.exists("#ran-on a[href='/fleets/linux']").await);
    check_both_schemes(&light, &dark, &axe, &first_link).await;
    light.goto("/fleets/linux").await;
    assert!(light.exists("#queue-empty").await);
    assert_eq!(texts(&light, "#agents .agent-builds").await, ["Idle"]);

    // Another account sees no fleet.
    let other = Browser::start(server.url()).await;
    other.sign_in(&ACCOUNT_B).await;
    other.goto("/fleets/linux").await;
    other.wait_text("h1", "not found").await;
    other.goto("/fleets").await;
    assert!(!other.exists("#fleets").await);
}
