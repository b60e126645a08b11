//! Headless Chromium driven through chromedriver (WebDriver) with `fantoccini`, for the
//! console's browser tests.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::Account;

/// How long a page may take to show what a test waits for.
pub const UI_DEADLINE: Duration = Duration::from_secs(30);

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process on a free port; killed when dropped, with the Chromium it started.
pub struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    pub fn start() -> ChromeDriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        // Its own process group, so dropping it ends the browser processes it started too.
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let driver = ChromeDriver { child, port };
        super::wait_until(Duration::from_secs(20), "chromedriver to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        driver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// WebDriver's "Set Permission" (chromedriver supports it), e.g. for `clipboard-read`.
#[derive(Debug)]
struct SetPermission {
    name: &'static str,
}

impl WebDriverCompatibleCommand for SetPermission {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/permissions",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"descriptor": {"name": self.name}, "state": "granted"});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// A headless Chromium session against one Kiln server.
pub struct Browser {
    pub client: Client,
    base: String,
    _driver: ChromeDriver,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a laptop-sized window.
    pub async fn start(base_url: &str) -> Browser {
        Self::start_with_args(base_url, &[]).await
    }

    /// [`Self::start`] with more Chromium command-line arguments.
    pub async fn start_with_args(base_url: &str, extra_args: &[&str]) -> Browser {
        let driver = ChromeDriver::start();
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--lang=en-US",
        ];
        args.extend_from_slice(extra_args);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| panic!("starting a Chromium session: {e}"));
        Browser {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            _driver: driver,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&self.url(path)).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(UI_DEADLINE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no element {css} on {}: {e}", self.path().await),
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Replaces the text of an input or textarea.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        if !text.is_empty() {
            field.send_keys(text).await.unwrap();
        }
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// A DOM property (`value`, `disabled`, `hidden`, …) as JSON.
    pub async fn prop(&self, css: &str, name: &str) -> Value {
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); return el ? el[arguments[1]] : null;",
                vec![json!(css), json!(name)],
            )
            .await
            .unwrap()
    }

    pub async fn value(&self, css: &str) -> String {
        self.prop(css, "value")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Polls `check` until it returns `Some`; panics naming `what` after `deadline`.
    pub async fn wait_for<T, F, Fut>(&self, deadline: Duration, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let end = Instant::now() + deadline;
        let mut pause = Duration::from_millis(20);
        loop {
            if let Some(found) = check().await {
                return found;
            }
            assert!(
                Instant::now() < end,
                "timed out after {deadline:?} waiting for {what} on {}",
                self.path().await
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Waits until the text of `css` contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        self.wait_for(UI_DEADLINE, &format!("{css} to contain {needle:?}"), || async {
            let text = self
                .client
                .execute(
                    "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;",
                    vec![json!(css)],
                )
                .await
                .ok()?;
            text.as_str().filter(|t| t.contains(needle)).map(str::to_string)
        })
        .await
    }

    /// Waits until the page is at `path` (without the query).
    /// Fills in and sends the console's sign-in form.
    pub async fn submit_sign_in(&self, key_id: &str, secret: &str) {
        self.goto("/sign-in").await;
        self.fill("#access_key_id", key_id).await;
        self.fill("#secret_access_key", secret).await;
        self.click("form[action='/sign-in'] button[type=submit]")
            .await;
    }

    /// Signs in to the console as `account` and waits for the project list.
    pub async fn sign_in(&self, account: &Account<'_>) {
        self.submit_sign_in(account.access_key_id, account.secret)
            .await;
        self.wait_path("/").await;
    }

    pub async fn wait_path(&self, path: &str) {
        self.wait_for(UI_DEADLINE, &format!("the page {path}"), || async {
            let url = self.client.current_url().await.ok()?;
            (url.path() == path).then_some(())
        })
        .await;
    }

    /// Lets the page read the clipboard.
    pub async fn allow_clipboard(&self) {
        for name in ["clipboard-read", "clipboard-write"] {
            self.client
                .issue_cmd(SetPermission { name })
                .await
                .unwrap_or_else(|e| panic!("granting {name}: {e}"));
        }
    }

    /// What the page reads from the clipboard.
    pub async fn read_clipboard(&self) -> String {
        let value = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 navigator.clipboard.readText().then(done, e => done('ERROR ' + e));",
                vec![],
            )
            .await
            .unwrap();
        value.as_str().unwrap_or_default().to_string()
    }

    /// A `fetch` from the page: (status, body).
    pub async fn fetch(&self, method: &str, path: &str, form_body: &str) -> (u16, String) {
        let value = self
            .client
            .execute_async(
                "const [method, path, body, done] = arguments;
                 const init = {method, credentials: 'same-origin', redirect: 'manual'};
                 if (method !== 'GET') {
                   init.headers = {'content-type': 'application/x-www-form-urlencoded'};
                   init.body = body;
                 }
                 fetch(path, init).then(async r => done([r.status, await r.text()]), e => done([0, String(e)]));",
                vec![json!(method), json!(path), json!(form_body)],
            )
            .await
            .unwrap();
        (
            u16::try_from(value[0].as_u64().unwrap_or(0)).unwrap(),
            value[1].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Saves a screenshot as `docs/screenshots/<name>.png` when `KILN_SCREENSHOTS` is set.
    pub async fn screenshot(&self, name: &str) {
        if std::env::var_os("KILN_SCREENSHOTS").is_none() {
            return;
        }
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// A screenshot of the whole page, however long (the window grows to fit, then returns).
    pub async fn full_page_screenshot(&self, name: &str) {
        if std::env::var_os("KILN_SCREENSHOTS").is_none() {
            return;
        }
        let (width, height) = self.client.get_window_size().await.unwrap();
        let page_height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(height);
        let chrome_height = height.saturating_sub(
            self.client
                .execute("return window.innerHeight;", vec![])
                .await
                .unwrap()
                .as_u64()
                .unwrap_or(height),
        );
        self.client
            .set_window_size(
                u32::try_from(width).unwrap(),
                u32::try_from(page_height + chrome_height)
                    .unwrap()
                    .min(4000),
            )
            .await
            .unwrap();
        self.screenshot(name).await;
        self.client
            .set_window_size(
                u32::try_from(width).unwrap(),
                u32::try_from(height).unwrap(),
            )
            .await
            .unwrap();
    }
}
