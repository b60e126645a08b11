//! The console's forms in a real browser (headless Chromium against the real `kiln` binary):
//! every problem of a form in plain words beside its field, all at once; input refused
//! before any work starts; labels that follow the source provider; a badge choice that
//! survives a provider switch; the badge picker's branch or tag and style. The form with
//! errors is checked with axe-core in light and dark colours. With `KILN_SCREENSHOTS=1` the
//! test also saves `docs/screenshots/console-validation.png`.

// Helpers here panic on failure like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::axe::{assert_accessible, axe_script, texts};
use common::browser::Browser;
use common::git::GitRepo;
use common::{ACCOUNT_A, KilnServer, boto3};

/// Words of the API and of its input parser that a person must never be shown.
const API_WORDS: &[&str] = &[
    "Member must",
    "constraint",
    "invalid type",
    "expected i64",
    "member.name",
    "Value null",
    "validation error",
];

async fn assert_no_api_words(browser: &Browser) {
    let text = browser.text("main").await;
    for words in API_WORDS {
        assert!(!text.contains(words), "“{words}” shown: {text}");
    }
}

async fn title(browser: &Browser) -> String {
    browser.client.title().await.unwrap()
}

/// The project names of account A.
fn project_names(server: &KilnServer) -> Vec<String> {
    let out = boto3(
        server,
        &ACCOUNT_A,
        "result = client.list_projects()['projects']",
    );
    serde_json::from_value(out).unwrap()
}

/// Fills the create form with every kind of problem the console and the API find.
async fn fill_with_problems(browser: &Browser) {
    browser.goto("/create-project").await;
    browser.fill("#name", "bad name!").await;
    browser.fill("#timeout", "abc").await;
    browser.fill("#queued_timeout", "1000").await;
    browser.fill("#concurrent_build_limit", "many").await;
    browser.fill("#env_name_1", "1X").await;
    browser.fill("#env_value_1", "a").await;
    browser.click("input[name=artifacts_type][value=S3]").await;
    browser.click("button[value=review]").await;
    browser.find("#error-summary").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_problems_are_plain_words_beside_their_fields_all_at_once() {
    let server = KilnServer::start();
    let light = Browser::start(server.url()).await;
    let dark = Browser::start_with_args(server.url(), &["--force-dark-mode"]).await;
    light.sign_in(&ACCOUNT_A).await;
    dark.sign_in(&ACCOUNT_A).await;

    fill_with_problems(&light).await;
    let browser = &light;
    assert_eq!(title(browser).await, "Error: Create build project · Kiln");
    // In the order of the page.
    let expected = [
        (
            "name",
            "Use 2–150 letters, digits, - or _, starting with a letter or digit.",
        ),
        ("source_location", "Enter the repository URL."),
        (
            "env_vars",
            "Variable 1: a name is letters, digits and _, not starting with a digit, at most 255 characters.",
        ),
        ("artifacts_location", "Enter the bucket for the artifacts."),
        (
            "timeout",
            "Enter the timeout as a whole number of minutes, such as 60.",
        ),
        (
            "queued_timeout",
            "Enter a whole number of minutes from 5 to 480.",
        ),
        (
            "concurrent_build_limit",
            "Enter the limit as a whole number, such as 3, or leave it empty.",
        ),
    ];
    for (field, words) in expected {
        assert_eq!(
            browser.text(&format!("#{field}-error")).await,
            words,
            "{field}"
        );
        // The summary links to the field.
        assert!(
            browser
                .exists(&format!("#error-summary a[href='#{field}']"))
                .await,
            "{field}"
        );
    }
    // Each message sits beside its field, which says it is invalid and points at it.
    for field in ["name", "timeout", "queued_timeout", "artifacts_location"] {
        assert_eq!(
            browser.prop(&format!("#{field}"), "ariaInvalid").await,
            "true"
        );
        let described = browser
            .client
            .execute(
                "return document.getElementById(arguments[0]).getAttribute('aria-describedby');",
                vec![field.into()],
            )
            .await
            .unwrap();
        assert!(
            described
                .as_str()
                .unwrap_or_default()
                .contains(&format!("{field}-error")),
            "{field}: {described}"
        );
    }
    // The summary lists them all, in the order of the page.
    let summary = texts(browser, "#error-summary li").await;
    let words: Vec<&str> = expected.iter().map(|(_, words)| *words).collect();
    assert_eq!(summary, words);
    assert_no_api_words(browser).await;
    // What was typed is kept.
    assert_eq!(browser.value("#timeout").await, "abc");
    assert_eq!(browser.value("#env_name_1").await, "1X");
    browser.full_page_screenshot("console-validation").await;

    // axe finds nothing on the form with errors, in light and dark colours.
    let axe = axe_script();
    assert_accessible(&light, &axe, "the create form with errors (light)").await;
    fill_with_problems(&dark).await;
    assert_accessible(&dark, &axe, "the create form with errors (dark)").await;

    // A project without a source needs inline commands: a buildspec file is refused beside
    // its field before anything is created.
    browser.goto("/create-project").await;
    browser.fill("#name", "no-source").await;
    browser.select("#source_type", "NO_SOURCE").await;
    browser.click("button[value=review]").await;
    let why = browser
        .wait_text("#buildspec_path-error", "Insert build commands")
        .await;
    assert!(why.contains("without a source"), "{why}");
    assert!(title(browser).await.starts_with("Error: "));
    assert!(project_names(&server).is_empty());
    // With commands it goes on to the review.
    browser
        .click("input[name=buildspec_mode][value=commands]")
        .await;
    browser.fill("#build_commands", "echo hi").await;
    browser.click("button[value=review]").await;
    browser.wait_text("h1", "Review and create").await;
    assert!(!title(browser).await.starts_with("Error: "));

    // A name that is taken is said beside the name, with the other problems.
    boto3(
        &server,
        &ACCOUNT_A,
        "client.create_project(name='taken', source={'type': 'NO_SOURCE', 'buildspec': 'version: 0.2'},
            artifacts={'type': 'NO_ARTIFACTS'},
            environment={'type': 'LINUX_CONTAINER', 'image': 'aws/codebuild/standard:7.0', 'computeType': 'BUILD_GENERAL1_SMALL'},
            serviceRole='codebuild-taken-service-role')
result = True",
    );
    browser.goto("/create-project").await;
    browser.fill("#name", "taken").await;
    browser.fill("#timeout", "1").await;
    browser.click("button[value=review]").await;
    browser.wait_text("#name-error", "already exists").await;
    browser.wait_text("#timeout-error", "from 5 to 2160").await;
    assert_no_api_words(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_labels_follow_the_provider_and_the_badge_choice_survives() {
    let server = KilnServer::start();
    let browser = Browser::start(server.url()).await;
    browser.sign_in(&ACCOUNT_A).await;
    let label = || async { browser.text("label[for=source_location]").await };

    browser.goto("/create-project").await;
    assert_eq!(label().await, "Repository URL");
    // JavaScript switches the label and hint live.
    browser.select("#source_type", "S3").await;
    assert_eq!(label().await, "Bucket and object key");
    browser
        .wait_text("#source_location-hint", "my-bucket/source.zip")
        .await;
    browser.select("#source_type", "GITLAB").await;
    assert_eq!(label().await, "Repository URL");

    // The badge choice survives a switch to a provider that cannot have one and back.
    browser.click("#badge").await;
    browser.select("#source_type", "S3").await;
    assert_eq!(browser.prop("#badge", "disabled").await, true);
    assert_eq!(browser.prop("#badge", "checked").await, false);
    browser.select("#source_type", "GITHUB").await;
    assert_eq!(browser.prop("#badge", "checked").await, true);

    // And a round trip through the server: S3 with an empty bucket and key is refused in
    // its words, the label is the server's, and the choice comes back with a Git provider.
    browser.fill("#name", "s3-site").await;
    browser.select("#source_type", "S3").await;
    browser.click("button[value=review]").await;
    browser
        .wait_text(
            "#source_location-error",
            "Enter the bucket and object key, such as my-bucket/source.zip.",
        )
        .await;
    assert_eq!(label().await, "Bucket and object key");
    assert_eq!(browser.prop("#badge", "disabled").await, true);
    assert_eq!(browser.prop("#badge", "checked").await, false);
    assert!(!browser.exists("#badge-error").await);
    browser.select("#source_type", "GITHUB").await;
    assert_eq!(browser.prop("#badge", "checked").await, true);
    assert_eq!(label().await, "Repository URL");

    // Without JavaScript the server renders the labels for the chosen provider, and carries
    // the badge choice while the box is off.
    let csrf = browser.value("input[name=csrf]").await;
    let post = |provider: &str| {
        format!("csrf={csrf}&step=review&name=s3-site&source_type={provider}&badge_kept=on")
    };
    let (status, s3) = browser.fetch("POST", "/create-project", &post("S3")).await;
    assert_eq!(status, 400);
    assert!(
        s3.contains(r#"<span data-source-kind="s3">Bucket and object key</span>"#),
        "{s3}"
    );
    assert!(s3.contains(r#"<span data-source-kind="git" hidden>Repository URL</span>"#));
    assert!(s3.contains(r#"name="badge_kept" value="on""#));
    let (_, git) = browser
        .fetch("POST", "/create-project", &post("GITHUB"))
        .await;
    assert!(git.contains(r#"<span data-source-kind="git">Repository URL</span>"#));
    assert!(git.contains(r#"name="badge" value="on" checked"#), "{git}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_build_refuses_override_lines_without_equals_before_starting() {
    let server = KilnServer::start();
    let repo = GitRepo::init(server.root().join("repo"));
    repo.commit(&[("README.md", "# Forms\n")], "first commit");
    boto3(
        &server,
        &ACCOUNT_A,
        &format!(
            "client.create_project(name='forms', source={{'type': 'GITHUB', 'location': '{}', 'buildspec': 'version: 0.2\\nphases:\\n  build:\\n    commands:\\n      - echo hi'}},
            artifacts={{'type': 'NO_ARTIFACTS'}}, badgeEnabled=True,
            environment={{'type': 'LINUX_CONTAINER', 'image': 'aws/codebuild/standard:7.0', 'computeType': 'BUILD_GENERAL1_SMALL'}},
            serviceRole='codebuild-forms-service-role')
result = True",
            repo.location()
        ),
    );
    let browser = Browser::start(server.url()).await;
    browser.sign_in(&ACCOUNT_A).await;
    browser.goto("/projects/forms").await;
    browser.fill("#env_overrides", "FLAG\nGOOD=1\n1BAD=2").await;
    browser.fill("#source_version", "-x").await;
    browser.click("#start-build").await;
    let error = browser
        .wait_text("#env_overrides-error", "needs the form NAME=value")
        .await;
    assert_eq!(
        error,
        "Line 1 (“FLAG”) needs the form NAME=value. Line 3: a name is letters, digits and _, not starting with a digit, at most 255 characters."
    );
    browser
        .wait_text("#source_version-error", "Enter a branch, tag")
        .await;
    assert_no_api_words(&browser).await;
    // Nothing started.
    let builds = boto3(
        &server,
        &ACCOUNT_A,
        "result = client.list_builds_for_project(projectName='forms')['ids']",
    );
    assert_eq!(builds, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_badge_panel_picks_a_branch_or_a_tag_and_a_style() {
    let server = KilnServer::start();
    boto3(
        &server,
        &ACCOUNT_A,
        "client.create_project(name='badged', source={'type': 'GITHUB', 'location': 'https://example.com/x.git'},
            artifacts={'type': 'NO_ARTIFACTS'}, badgeEnabled=True,
            environment={'type': 'LINUX_CONTAINER', 'image': 'aws/codebuild/standard:7.0', 'computeType': 'BUILD_GENERAL1_SMALL'},
            serviceRole='codebuild-badged-service-role')
result = True",
    );
    let browser = Browser::start(server.url()).await;
    browser.sign_in(&ACCOUNT_A).await;
    browser.goto("/projects/badged").await;
    let default = browser.value("#badge-url").await;
    let base = browser.prop("#branch", "dataset").await["badgeBase"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(default.starts_with(&base), "{default}");

    // With JavaScript the address follows the choice as it is made.
    browser.click("input[name=ref_type][value=tag]").await;
    browser.fill("#branch", "v1.0").await;
    browser.select("#badge-style", "for-the-badge").await;
    let tag_url = format!("{base}&tag=v1.0&style=for-the-badge");
    assert_eq!(browser.value("#badge-url").await, tag_url);
    assert_eq!(
        browser.value("#badge-markdown").await,
        format!("![Build Status]({tag_url})")
    );
    assert_eq!(
        browser.value("#badge-tests-url").await,
        format!("{tag_url}&report=tests")
    );
    browser.click("input[name=ref_type][value=branch]").await;
    browser.select("#badge-style", "flat").await;
    assert_eq!(
        browser.value("#badge-url").await,
        format!("{base}&branch=v1.0")
    );
    browser.fill("#branch", "").await;
    assert_eq!(browser.value("#badge-url").await, default);

    // Without JavaScript the "Show" button asks the server, which writes the same address.
    browser
        .goto("/projects/badged?ref_type=tag&branch=v2&style=plastic")
        .await;
    let server_url = browser.value("#badge-url").await;
    assert_eq!(server_url, format!("{base}&tag=v2&style=plastic"));
    assert_eq!(browser.prop("#badge-style", "value").await, "plastic");
    assert_eq!(
        browser
            .prop("input[name=ref_type][value=tag]", "checked")
            .await,
        true
    );
    // The address is a badge in that style.
    browser.client.goto(&server_url).await.unwrap();
    let svg = browser.client.source().await.unwrap();
    assert!(svg.contains("<svg"), "{svg}");
}
