//! The console's pages load fast from the admin listener: everything a page fetches (the page,
//! its script and style sheet, and the API reads it draws from) is delivered within 100 ms in
//! all, for each page. The test also loads each page as a new document in headless Chromium and
//! prints when its data was drawn (the page's own mark, `window.stagecraftDrawn`); that figure
//! is mostly the browser's own work and is reported, not bounded.

use super::common::browser::{browser, driver, release_fixture, WAIT};
use super::common::{eventually, patience, try_get};
use super::serial;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Each page, with the API reads its first draw waits for.
const PAGES: [(&str, &[&str]); 5] = [
    ("#/", &["/api/stages", "/api/traffic?window=10"]),
    (
        "#/stage/prod",
        &[
            "/api/stages/prod",
            "/api/traffic?window=10",
            "/api/deployments",
        ],
    ),
    ("#/deployment/shop-1", &["/api/deployments/shop-1"]),
    ("#/deployments", &["/api/deployments"]),
    ("#/gateway", &["/api/status"]),
];

#[tokio::test]
async fn each_console_page_is_delivered_within_100_ms() {
    let _s = serial().await;
    let (_v1, _v2, _dir, gw) = release_fixture().await;
    let admin = gw.admin();
    let bound = patience(Duration::from_millis(100));
    // The first read of each deployment parses it; a console that polls reads the cache.
    for (_, reads) in PAGES {
        for r in reads {
            assert!(
                try_get(admin, r).await.is_some_and(|r| r.status == 200),
                "{r}"
            );
        }
    }
    for (page, reads) in PAGES {
        let start = Instant::now();
        for path in ["/", "/console.js", "/console.css"].iter().chain(reads) {
            let r = try_get(admin, path).await;
            assert!(r.is_some_and(|r| r.status == 200), "{page}: {path}");
        }
        let took = start.elapsed();
        eprintln!("console {page}: delivered in {took:?}");
        assert!(took < bound, "{page}: {took:?} (bound {bound:?})");
    }

    let d = driver().await;
    let c = browser(&d, 1280, 800).await;
    for round in 0..2 {
        for (i, (page, _)) in PAGES.iter().enumerate() {
            // A new query string makes each a new document, not a hash change.
            c.goto(&format!("http://{admin}/?load={round}{i}{page}"))
                .await
                .unwrap();
            let drawn = std::sync::Mutex::new(None);
            eventually(&format!("{page} is drawn"), WAIT, || async {
                let v = c.execute("return window.stagecraftDrawn", vec![]).await;
                let ms = v.ok().and_then(|v: Value| v.as_f64());
                *drawn.lock().unwrap() = ms;
                ms.is_some()
            })
            .await;
            // The first round also starts the browser's renderer: not the page's cost.
            if round == 1 {
                let ms = drawn.into_inner().unwrap().unwrap_or(f64::NAN);
                eprintln!("console {page}: drawn {ms:.1} ms after navigation start (Chromium)");
            }
        }
    }
    c.close().await.unwrap();
}
