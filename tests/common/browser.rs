//! Headless Chromium for the console's tests (`tests/e2e/console.rs` and the page-load bound in
//! `tests/timing/console.rs`): Debian's `chromedriver` on an ephemeral port, a WebDriver session
//! through fantoccini, the page helpers, and the release fixture the pages show.

use super::release::{deploy, draft, ok};
use super::{eventually, Backend, ConfigDir, Gateway};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(20);
pub const TOKEN: &str = "console-operator-token";

/// A chromedriver process on an ephemeral port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session. Its processes are found by the session's own profile
/// directory and killed when it is dropped, so a test that fails before closing the session
/// leaves no browser behind (chromedriver, killed, would leave them running).
pub struct Browser {
    client: Client,
    profile: std::path::PathBuf,
}

impl std::ops::Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Browser {
    pub async fn close(&self) -> Result<(), fantoccini::error::CmdError> {
        self.client.clone().close().await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args([
                "-KILL",
                "-f",
                &format!("--user-data-dir={}", self.profile.display()),
            ])
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

pub async fn driver() -> Driver {
    let bin = [
        "chromedriver",
        "/usr/bin/chromedriver",
        "/usr/lib/chromium/chromedriver",
    ]
    .into_iter()
    .find(|b| Command::new(b).arg("--version").output().is_ok())
    .expect("chromedriver is missing: scripts/setup.sh installs Debian's chromium-driver");
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut d = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let ready = eventually(
            "chromedriver answers",
            Duration::from_secs(10),
            || async move {
                super::try_get(addr, "/status")
                    .await
                    .is_some_and(|r| r.status == 200 && r.json()["value"]["ready"] == true)
            },
        );
        // Another process took the port between our probe and chromedriver's bind: try again.
        match tokio::time::timeout(Duration::from_secs(15), ready).await {
            Ok(_) if d.child.try_wait().ok().flatten().is_none() => return d,
            _ => {
                let _ = d.child.kill();
            }
        }
    }
    panic!("chromedriver did not start");
}

pub async fn browser(driver: &Driver, width: u32, height: u32) -> Browser {
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-gpu".into(),
        format!("--window-size={width},{height}"),
    ];
    // The machine's own user-data dir is never touched.
    let profile = tempfile::tempdir().expect("a profile dir").keep();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut options = json!({ "args": args });
    if let Some(b) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|b| std::path::Path::new(b).exists())
    {
        options["binary"] = json!(b);
    }
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a headless Chromium session");
    Browser { client, profile }
}

/// The text of the element `css` matches, or `None` while there is none.
pub async fn text(c: &Client, css: &str) -> Option<String> {
    let e = c.find(Locator::Css(css)).await.ok()?;
    e.text().await.ok()
}

/// Waits until the element `css` shows `want` (exactly).
pub async fn until_text(c: &Client, css: &str, want: &str) {
    let what = format!("{css} shows {want:?}");
    eventually(&what, WAIT, || async move {
        text(c, css).await.is_some_and(|t| t.trim() == want)
    })
    .await;
}

pub async fn click(c: &Client, css: &str) {
    eventually(&format!("{css} is there to click"), WAIT, || async move {
        match c.find(Locator::Css(css)).await {
            Ok(e) => e.click().await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
}

/// Types `token` into the token dialog the page opened and saves it.
pub async fn give_token(c: &Client, token: &str) {
    let input = c
        .find(Locator::Css("#token-input"))
        .await
        .expect("the token dialog");
    input.send_keys(token).await.expect("type the token");
    click(c, "#token-save").await;
}

/// The canary's share of the last seconds as the page draws it (`None` while there is none).
pub async fn shown_share(c: &Client) -> Option<f64> {
    let e = c.find(Locator::Css("[data-testid=split]")).await.ok()?;
    e.attr("data-canary-share").await.ok()??.parse().ok()
}

pub async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("STAGECRAFT_SCREENSHOTS") {
        let png = c.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(format!("{dir}/{name}.png"), png).expect("write the screenshot");
    }
}

/// Requests to `/prod/who` until stopped, so the traffic view has something to show.
pub fn load_loop(addr: SocketAddr, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut c = super::Client::connect(addr).await;
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(r) = c
                .request(http::Method::GET, "/prod/who", &[], bytes::Bytes::new())
                .await
            {
                assert_eq!(r.status, 200, "{}", r.text());
                n += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        n
    })
}

/// Backends v1 and v2; `shop-1` sends `GET /who` to v1 and serves stage `prod`; `shop-2` sends
/// it to v2 and serves `staging`, so a canary of shop-2 on prod is visible by backend.
pub async fn release_fixture() -> (Backend, Backend, ConfigDir, Gateway) {
    let v1 = Backend::start("v1").await;
    let v2 = Backend::start("v2").await;
    let dir = ConfigDir::new();
    dir.set_backends(&[super::release::live_and_next(&v1, &v2)]);
    super::release::allow_admin_writes(&dir, TOKEN);
    dir.write(
        "apis/shop.yaml",
        &draft(&[("GET /who", "backend://svc:live/who")]),
    );
    let gw = Gateway::start(&dir).await;
    deploy(&dir, "prod", "v1 behind live");
    dir.write(
        "apis/shop.yaml",
        &draft(&[("GET /who", "backend://svc:next/who")]),
    );
    deploy(&dir, "staging", "v2 behind next");
    ok(&dir, &["vars", "--stage", "prod", "--set", "tier=gold"]);
    (v1, v2, dir, gw)
}
