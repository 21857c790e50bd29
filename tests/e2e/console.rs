//! The web console in a real browser: headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` over WebDriver) against a running gateway. A release as an operator runs it
//! from the page: open the overview, start a canary at 30% and watch the split in the traffic
//! view while a load loop runs, ramp it with the slider, promote, roll back; after each step
//! plain HTTP requests check that the gateway serves what the page says. Every wait is for a
//! condition on the page or on the gateway, never a sleep.
//!
//! `STAGECRAFT_SCREENSHOTS=DIR` saves a screenshot of each page there (the README's come from
//! this test).

use crate::common;

use common::browser::{
    browser, click, driver, give_token, load_loop, release_fixture, screenshot, shown_share, text,
    until_text, TOKEN, WAIT,
};
use common::eventually;
use common::release::count;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[tokio::test]
async fn a_release_runs_from_the_console() {
    let (_v1, _v2, dir, gw) = release_fixture().await;
    let cfg = dir.path().display().to_string();
    let admin = format!("http://{}", gw.admin());
    let d = driver().await;
    let c = browser(&d, 1280, 800).await;

    // The overview: each stage with its deployment and variables.
    c.goto(&format!("{admin}/")).await.unwrap();
    until_text(&c, "tr[data-stage=prod] td:nth-child(3)", "shop-1").await;
    until_text(&c, "tr[data-stage=staging] td:nth-child(3)", "shop-2").await;
    assert_eq!(
        text(&c, "tr[data-stage=prod] td:nth-child(5)")
            .await
            .unwrap(),
        "tier=gold"
    );
    screenshot(&c, "overview").await;

    // The operator says yes to every confirmation the page asks for.
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = load_loop(gw.addr(), stop.clone());

    // A stage's page; a canary of shop-2 at 30%, which asks for the token first.
    click(&c, "a[href='#/stage/prod']").await;
    until_text(&c, "#stage-deployment", "shop-1").await;
    let select = c.find(Locator::Css("#canary-deployment")).await.unwrap();
    select.select_by_value("shop-2").await.unwrap();
    let percent = c.find(Locator::Css("#canary-new-percent")).await.unwrap();
    percent.clear().await.unwrap();
    percent.send_keys("30").await.unwrap();
    click(&c, "#canary-start").await;
    give_token(&c, TOKEN).await;
    until_text(
        &c,
        "#last-action-cli",
        &format!("stagecraft canary --config {cfg} --stage prod --deployment shop-2 --percent 30"),
    )
    .await;
    until_text(&c, "#stage-canary-percent", "30").await;

    // The split moves in the traffic view as requests arrive; the gateway agrees.
    eventually("the page shows about 30% for the canary", WAIT, || async {
        shown_share(&c)
            .await
            .is_some_and(|s| (0.15..=0.45).contains(&s))
    })
    .await;
    let seen = count(gw.addr(), "/prod/who", 200, &[]).await;
    let v2 = *seen.get("v2").unwrap_or(&0);
    assert!(
        (20..=110).contains(&v2),
        "about 30% of 200 to the canary: {seen:?}"
    );
    screenshot(&c, "stage-canary").await;

    // Ramp with the slider to 80%.
    c.execute(
        "const s = document.getElementById('canary-percent'); s.value = arguments[0]; \
         s.dispatchEvent(new Event('input')); document.getElementById('canary-apply').click();",
        vec![json!(80)],
    )
    .await
    .unwrap();
    until_text(
        &c,
        "#last-action-cli",
        &format!("stagecraft canary --config {cfg} --stage prod --percent 80"),
    )
    .await;
    until_text(&c, "#stage-canary-percent", "80").await;
    eventually(
        "the page shows the canary taking most requests",
        WAIT,
        || async { shown_share(&c).await.is_some_and(|s| s > 0.6) },
    )
    .await;

    // Promote: prod serves shop-2 alone, for the page and for plain HTTP.
    click(&c, "#promote").await;
    until_text(
        &c,
        "#last-action-cli",
        &format!("stagecraft promote --config {cfg} --stage prod"),
    )
    .await;
    until_text(&c, "#stage-deployment", "shop-2").await;
    assert!(
        c.find(Locator::Css("#stage-canary")).await.is_err(),
        "no canary after promote"
    );
    eventually("the gateway serves shop-2 on prod", WAIT, || async {
        count(gw.addr(), "/prod/who", 10, &[]).await.get("v2") == Some(&10)
    })
    .await;

    // Roll back to shop-1 from the history, with what changed between entries shown.
    until_text(
        &c,
        "#history tr[data-deployment=shop-2] pre.diff",
        "~ GET /who: uri: backend://svc:live/who → backend://svc:next/who",
    )
    .await;
    c.execute(
        "document.getElementById('history').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&c, "stage-history").await;
    click(&c, "#history tr[data-deployment=shop-1] [data-rollback]").await;
    until_text(
        &c,
        "#last-action-cli",
        &format!("stagecraft rollback --config {cfg} --stage prod --to shop-1"),
    )
    .await;
    until_text(&c, "#stage-deployment", "shop-1").await;
    eventually("the gateway serves shop-1 on prod again", WAIT, || async {
        count(gw.addr(), "/prod/who", 10, &[]).await.get("v1") == Some(&10)
    })
    .await;

    // Variables from the page.
    let name = c.find(Locator::Css("#var-name")).await.unwrap();
    name.send_keys("region").await.unwrap();
    let value = c.find(Locator::Css("#var-value")).await.unwrap();
    value.send_keys("eu").await.unwrap();
    click(&c, "#var-set").await;
    until_text(
        &c,
        "#variables tr[data-variable=region] td:nth-child(2)",
        "eu",
    )
    .await;
    assert!(common::release::read(&dir, "stages/prod.yaml").contains("region: eu"));

    stop.store(true, Ordering::Relaxed);
    assert!(load.await.unwrap() > 0);

    // A deployment's routes, and the gateway page.
    c.goto(&format!("{admin}/#/deployment/shop-2"))
        .await
        .unwrap();
    until_text(
        &c,
        "#routes tbody tr td:nth-child(3)",
        "backend://svc:next/who",
    )
    .await;
    screenshot(&c, "deployment").await;
    c.goto(&format!("{admin}/#/gateway")).await.unwrap();
    let status: Value = gw.admin_get("/api/status").await.unwrap().json();
    eventually("the gateway page shows the generation", WAIT, || async {
        let g = text(&c, "#generation")
            .await
            .and_then(|t| t.parse::<u64>().ok());
        g.is_some_and(|g| g >= status["generation"].as_u64().unwrap_or(u64::MAX))
    })
    .await;
    assert_eq!(text(&c, "#last-error").await.unwrap(), "none");
    screenshot(&c, "gateway").await;
    c.close().await.unwrap();
}

/// A write the gateway would reject, from the page: the reason is shown, nothing changes.
#[tokio::test]
async fn the_console_shows_a_refused_write_and_asks_again_for_a_wrong_token() {
    let (_v1, _v2, _dir, gw) = release_fixture().await;
    let admin = format!("http://{}", gw.admin());
    let d = driver().await;
    let c = browser(&d, 1280, 800).await;
    c.goto(&format!("{admin}/#/stage/prod")).await.unwrap();
    until_text(&c, "#stage-deployment", "shop-1").await;
    let name = c.find(Locator::Css("#var-name")).await.unwrap();
    name.send_keys("bad name").await.unwrap();
    click(&c, "#var-set").await;
    // A wrong token first: refused with 401, the dialog asks again.
    give_token(&c, "not-the-token").await;
    eventually("the token dialog asks again", WAIT, || async {
        c.execute(
            "return document.getElementById('token-dialog').open",
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!(true))
    })
    .await;
    give_token(&c, TOKEN).await;
    eventually(
        "the refusal is shown with the CLI's reason",
        WAIT,
        || async {
            text(&c, "#last-action-result").await.is_some_and(|t| {
                t.contains("refused (409)") && t.contains("invalid variable name \"bad name\"")
            })
        },
    )
    .await;
    let stage: Value = gw.admin_get("/api/stages/prod").await.unwrap().json();
    assert_eq!(stage["variables"], json!({ "tier": "gold" }));

    // The page keeps redrawing while the operator holds a value on the slider they have not
    // applied: a change made meanwhile from the CLI shows, and their value stays.
    common::release::ok(
        &_dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-2",
            "--percent",
            "20",
        ],
    );
    until_text(&c, "#stage-canary-percent", "20").await;
    c.execute(
        "const s = document.getElementById('canary-percent'); s.focus(); s.value = 55; \
         s.dispatchEvent(new Event('input'));",
        vec![],
    )
    .await
    .unwrap();
    common::release::ok(&_dir, &["canary", "--stage", "prod", "--percent", "40"]);
    until_text(&c, "#stage-canary-percent", "40").await;
    let held = c
        .execute(
            "return document.getElementById('canary-percent').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        held,
        json!("55"),
        "the operator's unapplied value survives the redraw"
    );

    // A stage file the gateway rejects: the overview lists it with its problem beside the
    // others, and a stage edited by hand meanwhile says what is still served.
    _dir.write(
        "stages/broken.yaml",
        "api: shop\ndeployment: shop-1\nnope: 1\n",
    );
    eventually("the reload fails", WAIT, || async {
        let s: Value = gw.admin_get("/api/status").await.unwrap().json();
        !s["last_error"].is_null()
    })
    .await;
    let prod =
        common::release::read(&_dir, "stages/prod.yaml").replace("tier: gold", "tier: silver");
    _dir.write("stages/prod.yaml", &prod);
    eventually(
        "the page says what the gateway still serves",
        WAIT,
        || async {
            text(&c, "#not-served")
                .await
                .is_some_and(|t| t.contains("variables tier=gold") && t.contains("does not load"))
        },
    )
    .await;
    c.goto(&format!("{admin}/#/")).await.unwrap();
    until_text(&c, "tr[data-stage=prod] td:nth-child(3)", "shop-1").await;
    eventually(
        "the broken stage is listed with its problem",
        WAIT,
        || async {
            text(&c, "tr[data-stage=broken] pre.error")
                .await
                .is_some_and(|t| t.contains("nope"))
        },
    )
    .await;
    click(&c, "tr[data-stage=broken] a").await;
    until_text(&c, "main h1", "Cannot read this").await;
    assert!(text(&c, "main pre.error").await.unwrap().contains("nope"));
    c.close().await.unwrap();
}

/// At a phone's width every page fits: nothing is wider than the screen but the tables,
/// which scroll inside their own box.
#[tokio::test]
async fn the_console_fits_a_phone_screen() {
    let (_v1, _v2, _dir, gw) = release_fixture().await;
    let admin = format!("http://{}", gw.admin());
    let d = driver().await;
    let c = browser(&d, 390, 844).await;
    for (page, ready) in [
        ("#/", "tr[data-stage=prod]"),
        ("#/stage/prod", "#stage-deployment"),
        ("#/deployment/shop-1", "#routes"),
        ("#/deployments", "#deployments"),
        ("#/gateway", "#generation"),
    ] {
        c.goto(&format!("{admin}/{page}")).await.unwrap();
        eventually(&format!("{page} is drawn"), WAIT, || async {
            c.find(Locator::Css(ready)).await.is_ok()
        })
        .await;
        let widths = c
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            scroll <= inner,
            "{page}: {scroll} px wide on a {inner} px screen"
        );
        if page == "#/stage/prod" {
            screenshot(&c, "phone-stage").await;
            // The history scrolls in its own box, and stays where the operator scrolled it
            // when the page redraws (every second).
            let scrolled = c
                .execute(
                    "const w = document.getElementById('history').parentElement; \
                     w.scrollLeft = 200; document.getElementById('history').dataset.old = '1'; \
                     return w.scrollLeft",
                    vec![],
                )
                .await
                .unwrap();
            assert!(scrolled.as_u64().unwrap() > 0, "the history box scrolls");
            eventually("the page redraws", WAIT, || async {
                c.execute(
                    "return document.getElementById('history').dataset.old === undefined",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == json!(true))
            })
            .await;
            let after = c
                .execute(
                    "return document.getElementById('history').parentElement.scrollLeft",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(after, scrolled, "the redraw keeps the history box's scroll");
        }
    }
    c.close().await.unwrap();
}

/// The draft deployed from a stage's page, and an API key switched from the keys page, each
/// checked by what the gateway then does.
#[tokio::test]
async fn the_draft_is_deployed_and_a_key_switched_from_the_console() {
    let (_v1, _v2, dir, gw) = release_fixture().await;
    let cfg = dir.path().display().to_string();
    common::release::create_key(&dir, "acme", "acme-key-value-0123456789abcdef");
    dir.write(
        "apis/shop.yaml",
        &common::release::draft(&[
            ("GET /who", "backend://svc:live/who"),
            ("GET /new", "backend://svc:live/new"),
        ]),
    );
    let admin = format!("http://{}", gw.admin());
    let d = driver().await;
    let c = browser(&d, 1280, 800).await;
    c.goto(&format!("{admin}/#/stage/prod")).await.unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    until_text(&c, "#stage-deployment", "shop-1").await;
    eventually("the draft's new route is shown", WAIT, || async {
        text(&c, "#draft-diff")
            .await
            .is_some_and(|t| t.contains("+ GET /new"))
    })
    .await;
    let description = c.find(Locator::Css("#deploy-description")).await.unwrap();
    description.send_keys("from the console").await.unwrap();
    click(&c, "#deploy").await;
    give_token(&c, TOKEN).await;
    until_text(
        &c,
        "#last-action-cli",
        &format!("stagecraft deploy --config {cfg} --api shop --stage prod --description 'from the console'"),
    )
    .await;
    until_text(&c, "#stage-deployment", "shop-3").await;
    eventually("the gateway serves the new route", WAIT, || async {
        common::try_get(gw.addr(), "/prod/new")
            .await
            .is_some_and(|r| r.status == 200)
    })
    .await;

    c.goto(&format!("{admin}/#/keys")).await.unwrap();
    until_text(&c, "#keys tr[data-key=acme] td:nth-child(3)", "yes").await;
    let page = c.source().await.unwrap();
    assert!(
        !page.contains("acme-key-value-0123456789abcdef"),
        "no key value on the page"
    );
    click(&c, "#keys tr[data-key=acme] [data-key-action=disable]").await;
    until_text(&c, "#keys tr[data-key=acme] td:nth-child(3)", "no").await;
    assert!(common::release::read(&dir, "api-keys/acme.yaml").contains("enabled: false"));
    until_text(
        &c,
        "#last-action-cli",
        &format!("stagecraft keys --config {cfg} disable acme"),
    )
    .await;
    c.close().await.unwrap();
}
