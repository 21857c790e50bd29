//! The admin JSON API (`/api/` on the admin listener) against a running gateway: every read and
//! write, checked by what the gateway then serves and by the files the CLI reads; writes without
//! a token, or that would not validate, change nothing; a CLI command and an API write at the
//! same moment both land; no key value or token ever comes back.

use crate::common;

use bytes::Bytes;
use common::release::{count, deploy, fixture, ok, read};
use common::{eventually, Client, ConfigDir, Gateway};
use http::Method;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "op3rator-t0ken-for-the-tests";

/// Allows writes with [`TOKEN`]; call before `Gateway::start`.
fn allow_writes(dir: &ConfigDir) {
    common::release::allow_admin_writes(dir, TOKEN);
}

struct Answer {
    status: u16,
    body: Value,
    text: String,
}

async fn call(
    admin: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Answer {
    let mut c = Client::connect(admin).await;
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let payload = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let r = c.request(method, path, &headers, payload).await.unwrap();
    let text = r.text();
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{path}: {text}"
    );
    Answer {
        status: r.status.as_u16(),
        body: serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}")),
        text,
    }
}

async fn get(admin: SocketAddr, path: &str) -> Value {
    let a = call(admin, Method::GET, path, None, Value::Null).await;
    assert_eq!(a.status, 200, "GET {path}: {}", a.text);
    a.body
}

async fn write(admin: SocketAddr, method: Method, path: &str, body: Value) -> Value {
    let a = call(admin, method.clone(), path, Some(TOKEN), body).await;
    assert_eq!(a.status, 200, "{method} {path}: {}", a.text);
    a.body
}

/// Waits until the gateway serves stage `stage` as `check` wants (from `/api/status`).
async fn until_serving(admin: SocketAddr, stage: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let check = &check;
    eventually(what, WAIT, || async move {
        let status = get(admin, "/api/status").await;
        status["serving"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["stage"] == stage && check(s))
    })
    .await;
}

#[tokio::test]
async fn every_endpoint_reads_and_writes_as_the_cli_does() {
    let _v1 = common::Backend::start("v1").await;
    let _v2 = common::Backend::start("v2").await;
    let dir = ConfigDir::new();
    allow_writes(&dir);
    dir.set_backends(&[common::release::live_and_next(&_v1, &_v2)]);
    dir.write(
        "apis/shop.yaml",
        &common::release::draft(&[("GET /who", "backend://svc:${stageVariables.alias}/who")]),
    );
    let gw = Gateway::start(&dir).await;
    let admin = gw.admin();
    let cfg = dir.path().display().to_string();

    // A stage made by the CLI, read through the API.
    let first = deploy(&dir, "prod", "first");
    ok(&dir, &["vars", "--stage", "prod", "--set", "alias=live"]);
    until_serving(admin, "prod", "prod serves the first deployment", |s| {
        s["deployment"] == first.as_str()
    })
    .await;

    let status = get(admin, "/api/status").await;
    assert_eq!(status["writable"], true);
    assert_eq!(status["listeners"][0]["addr"], gw.addr().to_string());
    assert!(status["last_error"].is_null());

    // deploy: the API's answer names the CLI command that does the same.
    let out = write(
        admin,
        Method::POST,
        "/api/stages/staging/deploy",
        json!({ "api": "shop", "description": "second" }),
    )
    .await;
    let second = out["id"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(
        out["cli"],
        format!("stagecraft deploy --config {cfg} --api shop --stage staging --description second")
    );
    let out = write(
        admin,
        Method::PATCH,
        "/api/stages/staging/variables",
        json!({ "set": { "alias": "next" } }),
    )
    .await;
    assert_eq!(out["variables"], json!({ "alias": "next" }));
    assert_eq!(
        out["cli"],
        format!("stagecraft vars --config {cfg} --stage staging --set alias=next")
    );
    assert!(read(&dir, "stages/staging.yaml").contains("alias: next"));

    let stages = get(admin, "/api/stages").await;
    let names: Vec<&str> = stages
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod", "staging"]);
    let prod = get(admin, "/api/stages/prod").await;
    assert_eq!(prod["deployment"], first.as_str());
    assert_eq!(prod["variables"], json!({ "alias": "live" }));
    assert_eq!(prod["history"][0]["deployment"], first.as_str());
    assert_eq!(prod["history"][0]["current"], true);
    let deps = get(admin, "/api/deployments").await;
    assert_eq!(deps.as_array().unwrap().len(), 2);
    let d = get(admin, &format!("/api/deployments/{second}")).await;
    assert_eq!(d["description"], "second");
    assert_eq!(d["routes"][0]["route"], "GET /who");
    assert_eq!(d["routes"][0]["integration"], "http_proxy");

    // A canary on prod, all of its traffic, then seen in the traffic view.
    let out = write(
        admin,
        Method::PUT,
        "/api/stages/prod/canary",
        json!({ "deployment": second, "percent": 100, "variables": { "alias": "next" } }),
    )
    .await;
    assert_eq!(
        out["cli"],
        format!("stagecraft canary --config {cfg} --stage prod --deployment {second} --percent 100 --var alias=next")
    );
    until_serving(admin, "prod", "the canary is live", |s| {
        s["canary"]["percent"] == 100.0
    })
    .await;
    let seen = count(gw.addr(), "/prod/who", 20, &[]).await;
    assert_eq!(seen.get("v2"), Some(&20), "{seen:?}");
    let traffic = get(admin, "/api/traffic?window=60").await;
    let t = traffic["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "prod")
        .unwrap_or_else(|| panic!("{traffic}"));
    assert_eq!(t["sides"]["canary"]["share"], 1.0, "{t}");
    assert!(t["requests_per_second"].as_f64().unwrap() > 0.0, "{t}");
    assert!(
        t["versions"]["v2"]["requests_per_second"].as_f64().unwrap() > 0.0,
        "{t}"
    );
    assert!(
        t["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["route"].as_str().unwrap().contains("/who")),
        "{t}"
    );

    // Ramp it down (the canary's deployment and variables stay), then promote.
    write(
        admin,
        Method::PUT,
        "/api/stages/prod/canary",
        json!({ "percent": 0 }),
    )
    .await;
    until_serving(admin, "prod", "the canary is ramped to 0", |s| {
        s["canary"]["percent"] == 0.0
    })
    .await;
    assert_eq!(
        count(gw.addr(), "/prod/who", 10, &[]).await.get("v1"),
        Some(&10)
    );
    let out = write(admin, Method::POST, "/api/stages/prod/promote", Value::Null).await;
    assert_eq!(out["to"], second.as_str());
    assert_eq!(
        out["cli"],
        format!("stagecraft promote --config {cfg} --stage prod")
    );
    until_serving(admin, "prod", "prod serves the promoted deployment", |s| {
        s["deployment"] == second.as_str() && s["canary"].is_null()
    })
    .await;
    assert_eq!(
        count(gw.addr(), "/prod/who", 10, &[]).await.get("v2"),
        Some(&10)
    );
    assert!(read(&dir, "stages/prod.yaml").contains("alias: next"));

    // Roll back to the first deployment, as `rollback --to` does.
    let out = write(
        admin,
        Method::POST,
        "/api/stages/prod/rollback",
        json!({ "to": first }),
    )
    .await;
    assert_eq!(
        (out["from"].as_str(), out["to"].as_str()),
        (Some(second.as_str()), Some(first.as_str()))
    );
    until_serving(admin, "prod", "prod is rolled back", |s| {
        s["deployment"] == first.as_str()
    })
    .await;
    let history = get(admin, "/api/stages/prod").await["history"].clone();
    let ids: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["deployment"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str(), first.as_str()]);

    // A canary removed; the diff of the draft against the stage.
    write(
        admin,
        Method::PUT,
        "/api/stages/staging/canary",
        json!({ "deployment": first, "percent": 5 }),
    )
    .await;
    let out = write(
        admin,
        Method::DELETE,
        "/api/stages/staging/canary",
        Value::Null,
    )
    .await;
    assert_eq!(out["removed"], true);
    assert!(!read(&dir, "stages/staging.yaml").contains("canary"));
    dir.write(
        "apis/shop.yaml",
        &common::release::draft(&[
            ("GET /who", "backend://svc:${stageVariables.alias}/who"),
            ("GET /new", "backend://svc:${stageVariables.alias}/new"),
        ]),
    );
    let diff = get(admin, "/api/stages/prod/diff").await;
    assert_eq!(diff["added"], json!(["GET /new"]), "{diff}");

    // Deploy without naming the API: the stage's own; a canary of the deployment the stage
    // already serves, without variables of its own, is refused.
    let out = write(
        admin,
        Method::POST,
        "/api/stages/staging/deploy",
        Value::Null,
    )
    .await;
    assert_eq!(
        out["cli"],
        format!("stagecraft deploy --config {cfg} --api shop --stage staging")
    );
    let staging = out["id"].as_str().unwrap().to_string();
    let a = call(
        admin,
        Method::PUT,
        "/api/stages/staging/canary",
        Some(TOKEN),
        json!({ "deployment": staging, "percent": 10 }),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("would split nothing"),
        "{}",
        a.text
    );

    // Variables removed; unknown endpoints and methods.
    let out = write(
        admin,
        Method::PATCH,
        "/api/stages/staging/variables",
        json!({ "unset": ["alias"], "set": { "tier": "gold" } }),
    )
    .await;
    assert_eq!(out["variables"], json!({ "tier": "gold" }));
    assert_eq!(
        call(admin, Method::GET, "/api/nope", None, Value::Null)
            .await
            .status,
        404
    );
    assert_eq!(
        call(
            admin,
            Method::DELETE,
            "/api/stages",
            Some(TOKEN),
            Value::Null
        )
        .await
        .status,
        405
    );
    assert_eq!(
        call(admin, Method::GET, "/api/stages/ghost", None, Value::Null)
            .await
            .status,
        404
    );

    // A stage file that does not read is listed with its problem; the others still are.
    dir.write(
        "stages/broken.yaml",
        "api: shop\ndeployment: shop-1\nnope: 1\n",
    );
    let stages = get(admin, "/api/stages").await;
    let broken = stages
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "broken")
        .unwrap();
    assert!(
        broken["error"].as_str().unwrap().contains("nope"),
        "{broken}"
    );
    assert!(stages
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "prod" && s["deployment"] == first.as_str()));
}

#[tokio::test]
async fn writes_need_a_token_and_a_refused_write_changes_nothing() {
    // Without a tokens file the API reads, and refuses every write.
    let f = fixture("backend://svc:${stageVariables.alias}/who").await;
    let first = deploy(&f.dir, "prod", "first");
    ok(&f.dir, &["vars", "--stage", "prod", "--set", "alias=live"]);
    let admin = f.gw.admin();
    assert_eq!(
        get(admin, "/api/stages/prod").await["deployment"],
        first.as_str()
    );
    let a = call(
        admin,
        Method::POST,
        "/api/stages/prod/promote",
        Some(TOKEN),
        Value::Null,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(
        a.body["message"].as_str().unwrap().contains("read-only"),
        "{}",
        a.text
    );
    drop(f);

    let f = fixture("backend://svc:${stageVariables.alias}/who").await;
    drop(f.gw);
    allow_writes(&f.dir);
    let gw = Gateway::start(&f.dir).await;
    let admin = gw.admin();
    let dir = &f.dir;
    let first = deploy(dir, "prod", "first");
    ok(dir, &["vars", "--stage", "prod", "--set", "alias=live"]);
    common::release::create_key(dir, "acme", "acme-secret-key-value-0123456789");
    let before = read(dir, "stages/prod.yaml");

    let other = TOKEN.to_uppercase();
    for (token, why) in [
        (None, "no token"),
        (Some("wrong"), "a wrong token"),
        (Some(other.as_str()), "another token"),
    ] {
        let a = call(
            admin,
            Method::PATCH,
            "/api/stages/prod/variables",
            token,
            json!({ "set": { "x": "y" } }),
        )
        .await;
        assert_eq!(a.status, 401, "{why}: {}", a.text);
        assert!(
            !a.text.contains(TOKEN) && !a.text.contains("wrong"),
            "{}",
            a.text
        );
    }
    // Refused by the lifecycle's own checks, with the CLI's text.
    let a = call(
        admin,
        Method::PUT,
        "/api/stages/prod/canary",
        Some(TOKEN),
        json!({ "deployment": "shop-9", "percent": 10 }),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert_eq!(
        a.body["message"],
        "deployment \"shop-9\" does not exist (no deployments/shop-9.yaml)"
    );
    let a = call(
        admin,
        Method::PUT,
        "/api/stages/prod/canary",
        Some(TOKEN),
        json!({ "deployment": first, "percent": 150 }),
    )
    .await;
    assert_eq!(a.status, 409);
    assert_eq!(
        a.body["message"],
        "--percent 150 must be between 0.0 and 100.0"
    );
    let a = call(
        admin,
        Method::PUT,
        "/api/stages/prod/canary",
        Some(TOKEN),
        json!({ "deployment": first, "percentage": 10 }),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    // A write that would leave a configuration the gateway rejects: the reason, nothing written.
    let a = call(
        admin,
        Method::PATCH,
        "/api/stages/prod/variables",
        Some(TOKEN),
        json!({ "set": { "alias": "nope" } }),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.text);
    let problems = a.body["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("nope")),
        "{}",
        a.text
    );
    let (code, _, cli_err) = common::run_cli(
        dir.path(),
        &["vars", "--stage", "prod", "--set", "alias=nope"],
    );
    assert_eq!(code, 1);
    assert!(
        cli_err.contains(a.body["message"].as_str().unwrap()),
        "the CLI says the same: {cli_err}"
    );
    assert_eq!(read(dir, "stages/prod.yaml"), before, "nothing was written");

    // Keys: enabled and disabled by name; no value, hash or token in any answer.
    let out = write(admin, Method::POST, "/api/keys/acme/disable", Value::Null).await;
    assert_eq!(
        (out["enabled"].as_bool(), out["changed"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(read(dir, "api-keys/acme.yaml").contains("enabled: false"));
    write(admin, Method::POST, "/api/keys/acme/enable", Value::Null).await;
    let keys = get(admin, "/api/keys").await;
    assert_eq!(keys[0]["name"], "acme");
    let key_file = read(dir, "api-keys/acme.yaml");
    let hash = key_file
        .lines()
        .find_map(|l| l.trim().strip_prefix("hash: "))
        .unwrap_or("no hash line")
        .trim_matches('"')
        .to_string();
    for path in [
        "/api/keys",
        "/api/stages",
        "/api/status",
        "/api/deployments",
        "/api/stages/prod",
        "/api/traffic",
    ] {
        let a = call(admin, Method::GET, path, None, Value::Null).await;
        for secret in [
            "acme-secret-key-value-0123456789",
            TOKEN,
            &common::sha256_hex(TOKEN.as_bytes()),
            &hash,
        ] {
            assert!(
                !a.text.contains(secret),
                "{path} shows a secret: {}",
                a.text
            );
        }
    }
}

#[tokio::test]
async fn a_cli_command_and_an_api_write_at_once_both_land() {
    let dir = ConfigDir::new();
    allow_writes(&dir);
    dir.write(
        "apis/shop.yaml",
        &common::release::draft(&[("GET /who", "http://127.0.0.1:9/who")]),
    );
    let gw = Gateway::start(&dir).await;
    deploy(&dir, "prod", "first");
    let admin = gw.admin();
    let rounds = 12;
    for i in 0..rounds {
        let cli = common::spawn_cli(
            dir.path(),
            &["vars", "--stage", "prod", "--set", &format!("cli{i}=c")],
        );
        let out = write(
            admin,
            Method::PATCH,
            "/api/stages/prod/variables",
            json!({ "set": { format!("api{i}"): "a" } }),
        )
        .await;
        assert_eq!(out["changed"], true);
        let (code, _, err) = cli.wait();
        assert_eq!(code, 0, "{err}");
    }
    let vars = get(admin, "/api/stages/prod").await["variables"].clone();
    for i in 0..rounds {
        assert_eq!(vars[format!("cli{i}")], "c", "{vars}");
        assert_eq!(vars[format!("api{i}")], "a", "{vars}");
    }
}

/// The console's files come from the binary, with what a browser needs to load them.
#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let dir = ConfigDir::new();
    let gw = Gateway::start(&dir).await;
    for (path, kind, needle) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<script src=\"/console.js\">",
        ),
        ("/console.js", "text/javascript; charset=utf-8", "fetch("),
        ("/console.css", "text/css; charset=utf-8", "@media"),
    ] {
        let r = gw.admin_get(path).await.unwrap();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(kind));
        assert!(r.text().contains(needle), "{path}");
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'"));
    }
}
