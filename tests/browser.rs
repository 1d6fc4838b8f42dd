//! The example pages in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver, through `fantoccini`), against the example binaries themselves.
//!
//! - echo (`examples/echo.rs`), and echo_legacy (`examples/echo_legacy.rs`) when it exists:
//!   click Open, send a message, see the echo, click Close.
//! - chat (`examples/chat.rs`): two tabs; a message sent in one appears in both.
//! - command (`examples/command.rs`, running `cat`): a line sent comes back.
//! - filewatch (`examples/filewatch.rs`): the page shows the file, then its new contents.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `CHROME_BIN` and `CHROMEDRIVER` override the paths). Without them
//! the tests are skipped with a notice, unless `CI=true`, where they fail: CI installs both
//! (`install_browser` in `.ci/run`).
//!
//! The tests build the examples they run with `cargo build --workspace --example ...` (a
//! no-op after `cargo test --workspace`, which builds every example with the same features).
//! Set `BROWSER_SCREENSHOT_DIR` to a directory to get a PNG of each page after its exchange.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    sync::OnceLock,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::process::{Child, Command};

/// Any one wait (a page to react, a process to listen) finishes within this or has failed.
const LIMIT: Duration = Duration::from_secs(20);

/// One browser at a time: two Chromiums at once on a 2-core machine only slow each other down.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where the browser and its driver are.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// The browser tools, or `None` (with a notice) when they are missing on a developer machine.
///
/// # Panics
///
/// When they are missing and `CI` is set: CI must run these tests, not skip them.
fn tools() -> Option<Tools> {
    let path = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let chromium = path("CHROME_BIN", "/usr/bin/chromium");
    let chromedriver = path("CHROMEDRIVER", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &chromedriver]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(Tools {
            chromium,
            chromedriver,
        });
    }
    let what = format!(
        "browser tests need headless Chromium and chromedriver, but {} not found \
         (Debian: apt-get install chromium chromium-driver; .ci/run's install_browser does it; \
         CHROME_BIN / CHROMEDRIVER override the paths)",
        missing.join(" and ")
    );
    let ci = std::env::var("CI").unwrap_or_default();
    if !ci.is_empty() && ci != "false" && ci != "0" {
        panic!("CI={ci}: {what}");
    }
    notice(&format!("skipping browser test: {what}"));
    None
}

/// Prints a notice even from a passing test: writes to stderr directly, because libtest
/// captures (and, for a passing test, discards) what `eprintln!` prints.
fn notice(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOTICE: {text}");
}

/// The directory cargo puts this profile's binaries in (`target/debug`), found from this
/// test's own path (`target/debug/deps/browser-HASH`), so `CARGO_TARGET_DIR` is respected.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/PROFILE/deps")
        .to_owned()
}

fn example_exists(name: &str) -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.rs"))
        .is_file()
}

/// Builds the examples these tests run, once per test binary run.
fn build_examples() -> &'static Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = std::process::Command::new(env!("CARGO"));
        // `--workspace`, as scripts/test.sh runs `cargo test --workspace`: the same package
        // selection resolves the same features, so this reuses what that build made instead
        // of compiling the workspace crates again with other features.
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "--workspace"]);
        if profile_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        for name in ["echo", "echo_legacy", "chat", "command", "filewatch"] {
            if example_exists(name) {
                cmd.args(["--example", name]);
            }
        }
        let status = cmd.status().map_err(|e| format!("run cargo: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{cmd:?} failed: {status}"))
        }
    })
}

/// A free loopback port (the race with another process taking it first is harmless here).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn wait_for_listener(addr: SocketAddr, what: &str, child: &mut Child) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on {addr}: {status}");
        }
        assert!(start.elapsed() < LIMIT, "{what} is not listening on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An example server, killed when dropped.
struct Example {
    base: String,
    _child: Child,
}

/// Starts `examples/NAME.rs` with `--addr` and `args`.
async fn start_example(name: &str, args: &[&str]) -> Example {
    if let Err(err) = build_examples() {
        panic!("building the examples: {err}");
    }
    let exe = profile_dir().join("examples").join(name);
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut child = Command::new(&exe)
        .args(["--addr", &addr.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", exe.display()));
    wait_for_listener(addr, name, &mut child).await;
    Example {
        base: format!("http://{addr}/"),
        _child: child,
    }
}

/// chromedriver with a WebDriver session in a fresh headless Chromium profile.
struct Browser {
    client: Client,
    chromedriver: Child,
    profile: PathBuf,
}

impl Browser {
    async fn start(tools: &Tools, test: &str) -> Browser {
        let port = free_port();
        let mut chromedriver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", tools.chromedriver.display()));
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_for_listener(addr, "chromedriver", &mut chromedriver).await;

        let profile = std::env::temp_dir().join(format!(
            "gorilla-axum-chromium-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("create the browser profile directory");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-quic",
            "--disable-sync",
            "--window-size=1000,700",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": tools.chromium, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{addr}"))
            .await
            .unwrap_or_else(|e| panic!("start a Chromium session through chromedriver: {e}"));
        Browser {
            client,
            chromedriver,
            profile,
        }
    }

    /// Runs `scenario`, then ends the session (which quits Chromium) even if it panicked.
    async fn run<F, Fut>(self, scenario: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = ()>,
    {
        let outcome = std::panic::AssertUnwindSafe(scenario(self.client.clone()))
            .catch_unwind()
            .await;
        if let Err(err) = self.client.close().await {
            eprintln!("closing the browser session: {err}");
        }
        let mut chromedriver = self.chromedriver;
        let _ = chromedriver.start_kill();
        let _ = chromedriver.wait().await;
        let _ = std::fs::remove_dir_all(&self.profile);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Waits until the element `css` contains `needle` in its text; returns the text.
async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return text;
        }
        assert!(
            start.elapsed() < LIMIT,
            "{css} never showed {needle:?} at {}; it shows {text:?}",
            client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let input = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"));
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Saves a screenshot when `BROWSER_SCREENSHOT_DIR` is set.
async fn screenshot(client: &Client, name: &str) {
    let Some(dir) = std::env::var_os("BROWSER_SCREENSHOT_DIR") else {
        return;
    };
    let png = client.screenshot().await.expect("take a screenshot");
    let path = Path::new(&dir).join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write the screenshot");
    notice(&format!("screenshot: {}", path.display()));
}

/// The echo page: Open, Send, see the echo, Close.
async fn echo_exchange(client: Client, base: String, name: &'static str) {
    client.goto(&base).await.expect("load the echo page");
    click(&client, "#open").await;
    wait_for_text(&client, "#output", "OPEN").await;
    let message = format!("hello from chromium to {name}");
    type_into(&client, "#input", &message).await;
    click(&client, "#send").await;
    let output = wait_for_text(&client, "#output", &format!("RESPONSE: {message}")).await;
    assert!(output.contains(&format!("SEND: {message}")), "{output}");
    screenshot(&client, name).await;
    click(&client, "#close").await;
    let output = wait_for_text(&client, "#output", "CLOSE").await;
    assert!(
        !output.contains("ERROR"),
        "the page reported an error: {output}"
    );
}

async fn echo_page(example: &'static str) {
    let Some(tools) = tools() else { return };
    let _one_at_a_time = BROWSER.lock().await;
    let server = start_example(example, &[]).await;
    let browser = Browser::start(&tools, example).await;
    browser
        .run(|client| echo_exchange(client, server.base.clone(), example))
        .await;
}

#[tokio::test]
async fn echo_page_in_chromium() {
    echo_page("echo").await;
}

#[tokio::test]
async fn echo_legacy_page_in_chromium() {
    if !example_exists("echo_legacy") {
        notice("examples/echo_legacy.rs does not exist (yet): nothing to test");
        return;
    }
    echo_page("echo_legacy").await;
}

#[tokio::test]
async fn chat_page_in_chromium() {
    let Some(tools) = tools() else { return };
    let _one_at_a_time = BROWSER.lock().await;
    let server = start_example("chat", &[]).await;
    let browser = Browser::start(&tools, "chat").await;
    browser
        .run(|client| async move {
            client.goto(&server.base).await.expect("load the chat page");
            let alice = client.window().await.unwrap();
            wait_for_text(&client, "#status", "connected").await;

            let tab = client.new_window(true).await.expect("open a second tab");
            let bob = tab.handle;
            client.switch_to_window(bob.clone()).await.unwrap();
            client.goto(&server.base).await.expect("load the chat page");
            wait_for_text(&client, "#status", "connected").await;

            // The chat demo has no way to tell when the server registered a connection, so
            // say hello until the first tab hears it (registration takes a moment).
            let message = "hello from the second tab";
            let start = Instant::now();
            loop {
                type_into(&client, "#msg", message).await;
                click(&client, "#send").await;
                wait_for_text(&client, "#log", message).await;
                client.switch_to_window(alice.clone()).await.unwrap();
                let heard = client
                    .find(Locator::Css("#log"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                if heard.contains(message) {
                    break;
                }
                assert!(
                    start.elapsed() < LIMIT,
                    "the first tab never got {message:?}"
                );
                client.switch_to_window(bob.clone()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }

            // And back the other way.
            let reply = "hi from the first tab";
            type_into(&client, "#msg", reply).await;
            click(&client, "#send").await;
            wait_for_text(&client, "#log", reply).await;
            screenshot(&client, "chat").await;
            client.switch_to_window(bob.clone()).await.unwrap();
            wait_for_text(&client, "#log", reply).await;

            // Leave: close the second tab; the first one carries on alone.
            client.close_window().await.unwrap();
            client.switch_to_window(alice).await.unwrap();
            let last = "still here";
            type_into(&client, "#msg", last).await;
            click(&client, "#send").await;
            wait_for_text(&client, "#log", last).await;
            let status = wait_for_text(&client, "#status", "connected").await;
            assert_eq!(status, "connected");
        })
        .await;
}

#[tokio::test]
async fn command_page_in_chromium() {
    let Some(tools) = tools() else { return };
    let _one_at_a_time = BROWSER.lock().await;
    let server = start_example("command", &["--", "cat"]).await;
    let browser = Browser::start(&tools, "command").await;
    browser
        .run(|client| async move {
            client
                .goto(&server.base)
                .await
                .expect("load the command page");
            wait_for_text(&client, "#status", "connected").await;
            type_into(&client, "#msg", "hello, cat").await;
            click(&client, "#send").await;
            // The page echoes what was sent as "> ...", then `cat` sends it back.
            let start = Instant::now();
            loop {
                let log = wait_for_text(&client, "#log", "> hello, cat").await;
                if log.lines().any(|line| line == "hello, cat") {
                    break;
                }
                assert!(start.elapsed() < LIMIT, "cat never answered: {log:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            screenshot(&client, "command").await;
        })
        .await;
}

#[tokio::test]
async fn filewatch_page_in_chromium() {
    let Some(tools) = tools() else { return };
    let _one_at_a_time = BROWSER.lock().await;
    /// Removes the watched file however the test ends.
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let file = std::env::temp_dir().join(format!(
        "gorilla-axum-browser-filewatch-{}.txt",
        std::process::id()
    ));
    std::fs::write(&file, "first version").unwrap();
    let _remove = Remove(file.clone());
    let path = file.to_str().expect("a UTF-8 temp path");
    let server = start_example("filewatch", &["--poll-ms", "100", path]).await;
    let browser = Browser::start(&tools, "filewatch").await;
    browser
        .run(|client| async move {
            client
                .goto(&server.base)
                .await
                .expect("load the filewatch page");
            wait_for_text(&client, "#fileData", "first version").await;
            wait_for_text(&client, "#status", "watching").await;
            std::fs::write(&file, "second version").unwrap();
            wait_for_text(&client, "#fileData", "second version").await;
            screenshot(&client, "filewatch").await;
        })
        .await;
}
