//! Accessibility checks of console pages with axe-core, from the PyPI package
//! `axe-playwright-python`, which ships `axe.min.js`
//! (`pip install --no-deps axe-playwright-python`).

use serde_json::json;

use super::browser::Browser;

/// axe-core's script, from the Python package that ships it.
pub fn axe_script() -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import axe_playwright_python, os; \
             print(os.path.join(os.path.dirname(axe_playwright_python.__file__), 'axe.min.js'))",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "axe-core is missing: pip install --no-deps axe-playwright-python ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap();
    std::fs::read_to_string(path.trim()).unwrap()
}

/// Runs axe-core on the current page and asserts it finds nothing.
pub async fn assert_accessible(browser: &Browser, axe: &str, what: &str) {
    browser.client.execute(axe, vec![]).await.unwrap();
    let result = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document).then(r => done(r.violations.map(v =>
               ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.html.slice(0, 200))}))),
               e => done([{id: 'axe-error', nodes: [String(e)]}]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(result, json!([]), "axe violations on {what}");
}

/// Opens `path` in both browsers (light and dark colours) and checks it in each.
pub async fn check_both_schemes(light: &Browser, dark: &Browser, axe: &str, path: &str) {
    for (browser, scheme) in [(light, "light"), (dark, "dark")] {
        browser.goto(path).await;
        assert_accessible(browser, axe, &format!("{path} ({scheme})")).await;
    }
}

/// The trimmed text of every element `css` matches, in document order.
pub async fn texts(browser: &Browser, css: &str) -> Vec<String> {
    let out = browser
        .client
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim());",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(out).unwrap()
}
