//! API keys and usage plans through the real gateway with the local usage store: every key
//! outcome (AWS's 403 INVALID_API_KEY), plan and method throttles (429 THROTTLED), quotas (429
//! QUOTA_EXCEEDED), a quota period ending (the quota clock moved by the gateway's test
//! variable, across a graceful restart, so no test waits for midnight), a key disabled by
//! `stagecraft keys disable` while traffic runs, counts kept across a reload and a restart, and
//! key values never leaving the gateway.

use crate::common::usage::{
    assert_over_quota, assert_refused, call, get, metric, put_key, setup, SKEW_ENV,
};
use crate::common::{self, run_cli, run_cli_env, Client, ConfigDir, Gateway, Stage};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

const ACME: &str = "acme-0123456789-abcdefghij";

#[tokio::test]
async fn every_key_outcome_is_awss() {
    let dir = ConfigDir::new();
    setup(
        &dir,
        &[
            (
                "gold",
                json!({"stages": ["shop/prod"], "quota": {"limit": 1000, "period": "day"}}),
            ),
            ("betas", json!({"stages": ["shop/beta"]})),
        ],
    );
    put_key(&dir, "acme", ACME, &["gold"], true);
    put_key(&dir, "off", "off-0123456789-abcdefghij", &["gold"], false);
    put_key(
        &dir,
        "tester",
        "tester-0123456789-abcdefgh",
        &["betas"],
        true,
    );
    put_key(&dir, "loner", "loner-0123456789-abcdefghi", &[], true);
    let gw = Gateway::start(&dir).await;
    let a = gw.addr();

    // Missing, empty, unknown, disabled, in a plan of another stage, in no plan: 403.
    for key in [
        None,
        Some(""),
        Some("nobody-0123456789-abcdefg"),
        Some("off-0123456789-abcdefghij"),
        Some("tester-0123456789-abcdefgh"),
        Some("loner-0123456789-abcdefghi"),
    ] {
        let r = get(a, key).await;
        assert_refused(&r, 403, "Forbidden", "ForbiddenException");
    }
    // The same key is good on the stage its plan covers.
    let r = call(
        a,
        Method::GET,
        "/beta/orders",
        Some("tester-0123456789-abcdefgh"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // A good key: the template sees its value and name; the header name is case-insensitive.
    let mut c = Client::connect(a).await;
    let r = c
        .request(
            Method::GET,
            "/prod/orders",
            &[("X-API-Key", ACME)],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"id": "acme", "key": ACME}));
    // A route without `api_key_required` takes none and shows none.
    let r = call(a, Method::GET, "/prod/open", None).await;
    assert_eq!(r.json(), json!({"id": "", "key": ""}));

    assert_eq!(
        metric(
            &gw,
            "stagecraft_api_key_requests_total{plan=\"\",result=\"invalid\"} "
        )
        .await,
        6
    );
    assert_eq!(
        metric(
            &gw,
            "stagecraft_api_key_requests_total{plan=\"gold\",result=\"ok\"} "
        )
        .await,
        1
    );
}

#[tokio::test]
async fn plan_and_method_throttles_and_the_quota_answer_429s() {
    let dir = ConfigDir::new();
    // Rates of one token per 100 s: a burst is used up long before one comes back.
    setup(
        &dir,
        &[
            (
                "slow",
                json!({"stages": ["shop/prod"], "throttle": {"rate": 0.01, "burst": 2}}),
            ),
            (
                "posts",
                json!({"stages": ["shop/prod"], "methods": {"shop/prod POST /orders": {"rate": 0.01, "burst": 1}}}),
            ),
            (
                "tiny",
                json!({"stages": ["shop/prod"], "quota": {"limit": 3, "period": "month"}}),
            ),
        ],
    );
    put_key(&dir, "s", "slow-key-0123456789-abcdef", &["slow"], true);
    put_key(&dir, "p", "post-key-0123456789-abcdef", &["posts"], true);
    put_key(&dir, "t", "tiny-key-0123456789-abcdef", &["tiny"], true);
    let gw = Gateway::start(&dir).await;
    let a = gw.addr();

    // The plan's bucket: a burst of 2, then THROTTLED with Retry-After.
    for _ in 0..2 {
        assert_eq!(get(a, Some("slow-key-0123456789-abcdef")).await.status, 200);
    }
    let r = get(a, Some("slow-key-0123456789-abcdef")).await;
    assert_refused(&r, 429, "Too Many Requests", "TooManyRequestsException");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=100).contains(&retry), "Retry-After {retry}");
    // Another key of the same plan has its own bucket.
    put_key(&dir, "s2", "slow-two-0123456789-abcdef", &["slow"], true);
    common::eventually("the new key works", Duration::from_secs(5), || async {
        get(a, Some("slow-two-0123456789-abcdef")).await.status == 200
    })
    .await;

    // The method's bucket: one POST, then THROTTLED; GETs are not throttled by it.
    let post = |k| call(a, Method::POST, "/prod/orders", Some(k));
    assert_eq!(post("post-key-0123456789-abcdef").await.status, 200);
    let r = post("post-key-0123456789-abcdef").await;
    assert_refused(&r, 429, "Too Many Requests", "TooManyRequestsException");
    for _ in 0..3 {
        assert_eq!(get(a, Some("post-key-0123456789-abcdef")).await.status, 200);
    }

    // The quota: 3 a month, then QUOTA_EXCEEDED without Retry-After, whatever the method.
    for _ in 0..3 {
        assert_eq!(get(a, Some("tiny-key-0123456789-abcdef")).await.status, 200);
    }
    for method in [Method::GET, Method::POST] {
        let r = call(
            a,
            method,
            "/prod/orders",
            Some("tiny-key-0123456789-abcdef"),
        )
        .await;
        assert_refused(&r, 429, "Limit Exceeded", "LimitExceededException");
        assert_eq!(r.header("retry-after"), None);
    }
    assert_eq!(
        metric(
            &gw,
            "stagecraft_api_key_requests_total{plan=\"tiny\",result=\"quota_exceeded\"} "
        )
        .await,
        2
    );
    assert_eq!(
        metric(
            &gw,
            "stagecraft_api_key_requests_total{plan=\"slow\",result=\"throttled\"} "
        )
        .await,
        1
    );
}

/// Seconds to add to the real clock so that the quota clock reads `target` now.
fn skew_to(target: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (target - now).to_string()
}

/// The next midnight UTC after now.
fn next_midnight() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now / 86_400 + 1) * 86_400
}

async fn restart(dir: &ConfigDir, gw: Gateway) -> Gateway {
    gw.signal("TERM");
    assert!(
        gw.wait_exit(Duration::from_secs(10)).await.is_some(),
        "graceful stop\n{}",
        gw.logs()
    );
    Gateway::start(dir).await
}

fn usage(dir: &ConfigDir, plan: &str, env: &[(String, String)]) -> Value {
    let (code, out, err) = run_cli_env(dir.path(), &["usage", "--plan", plan, "--json"], env);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test]
async fn a_quota_resets_when_its_day_ends_and_survives_a_graceful_restart() {
    let dir = ConfigDir::new();
    setup(
        &dir,
        &[(
            "daily",
            json!({"stages": ["shop/prod"], "quota": {"limit": 2, "period": "day"}}),
        )],
    );
    put_key(&dir, "d", "daily-key-0123456789-abcde", &["daily"], true);
    let midnight = next_midnight();
    // Two minutes before midnight on the quota clock: far more than this part takes.
    let before = vec![(SKEW_ENV.to_string(), skew_to(midnight - 120))];
    dir.set_env(SKEW_ENV, &before[0].1);
    let gw = Gateway::start(&dir).await;
    let key = Some("daily-key-0123456789-abcde");
    assert_eq!(get(gw.addr(), key).await.status, 200);
    assert_eq!(get(gw.addr(), key).await.status, 200);
    assert_over_quota(&get(gw.addr(), key).await);

    // A graceful restart loses no count: still refused the same day.
    let gw = restart(&dir, gw).await;
    assert_over_quota(&get(gw.addr(), key).await);
    let rows = usage(&dir, "daily", &before);
    assert_eq!(rows[0]["key"], "d");
    assert_eq!(rows[0]["used"], 2);
    assert_eq!(rows[0]["remaining"], 0);
    assert_eq!(rows[0]["period"], "day");

    // Half a minute into the next day the quota is whole again.
    let after = skew_to(midnight + 30);
    dir.set_env(SKEW_ENV, &after);
    let gw = restart(&dir, gw).await;
    assert_eq!(
        get(gw.addr(), key).await.status,
        200,
        "a new day, a new quota"
    );
    assert_eq!(get(gw.addr(), key).await.status, 200);
    assert_over_quota(&get(gw.addr(), key).await);
}

#[tokio::test]
async fn counts_survive_a_reload() {
    let dir = ConfigDir::new();
    setup(
        &dir,
        &[(
            "five",
            json!({"stages": ["shop/prod"], "quota": {"limit": 5, "period": "week", "offset": 1}}),
        )],
    );
    put_key(&dir, "f", "five-key-0123456789-abcdef", &["five"], true);
    let gw = Gateway::start(&dir).await;
    let key = Some("five-key-0123456789-abcdef");
    for _ in 0..3 {
        assert_eq!(get(gw.addr(), key).await.status, 200);
    }
    // A reload that changes the plan's description and a stage: the count stays.
    let generation = |gw: &Gateway| {
        let gw = gw.admin();
        async move {
            common::get(gw, "/config").await.json()["generation"]
                .as_u64()
                .unwrap()
        }
    };
    let g0 = generation(&gw).await;
    dir.write(
        "usage-plans/five.yaml",
        &json!({"stages": ["shop/prod"], "quota": {"limit": 5, "period": "week", "offset": 1}, "description": "edited"}).to_string(),
    );
    common::eventually("the reload", Duration::from_secs(5), || async {
        generation(&gw).await > g0
    })
    .await;
    assert_eq!(get(gw.addr(), key).await.status, 200);
    assert_eq!(get(gw.addr(), key).await.status, 200);
    assert_over_quota(&get(gw.addr(), key).await);
}

#[tokio::test]
async fn the_keys_command() {
    let dir = ConfigDir::new();
    setup(&dir, &[("gold", json!({"stages": ["shop/prod"]}))]);
    let d = dir.path();
    let (code, _, err) = run_cli(
        d,
        &[
            "keys",
            "create",
            "--name",
            "a",
            "--plan",
            "gold",
            "--value",
            "too-short",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("API Key value should be at least 20 characters"),
        "{err}"
    );
    assert!(!err.contains("too-short"), "{err}");
    let long = "x".repeat(129);
    let (code, _, err) = run_cli(
        d,
        &[
            "keys", "create", "--name", "a", "--plan", "gold", "--value", &long,
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("exceeds maximum size of 128 characters"),
        "{err}"
    );
    let (code, _, err) = run_cli(d, &["keys", "create", "--name", "a", "--plan", "silver"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("usage plan \"silver\" does not exist"),
        "{err}"
    );

    let imported = "imported-from-aws-0123456789";
    let (code, out, err) = run_cli(
        d,
        &[
            "keys",
            "create",
            "--name",
            "a",
            "--plan",
            "gold",
            "--value",
            imported,
            "--description",
            "moved",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), imported, "printed once, on stdout");
    let (code, _, err) = run_cli(
        d,
        &[
            "keys", "create", "--name", "b", "--plan", "gold", "--value", imported,
        ],
    );
    assert_eq!(code, 1, "values are unique");
    assert!(!err.contains(imported), "{err}");

    let (code, out, _) = run_cli(d, &["keys", "list", "--json"]);
    assert_eq!(code, 0);
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["name"], "a");
    assert_eq!(rows[0]["enabled"], true);
    assert_eq!(rows[0]["plans"], json!(["gold"]));
    assert_eq!(rows[0]["description"], "moved");
    assert!(!out.contains(imported));
    let file = std::fs::read_to_string(d.join("api-keys/a.yaml")).unwrap();
    assert!(!file.contains(imported));
    assert_eq!(run_cli(d, &["keys", "disable", "a"]).0, 0);
    let (_, out, _) = run_cli(d, &["keys", "list"]);
    assert!(out.starts_with("a\tdisabled\tgold\t"), "{out}");
    assert_eq!(run_cli(d, &["keys", "delete", "a"]).0, 0);
    assert_eq!(run_cli(d, &["keys", "list"]).1, "");
    let (code, _, err) = run_cli(d, &["keys", "delete", "a"]);
    assert_eq!(code, 1);
    assert!(err.contains("no API key \"a\""), "{err}");
}

/// Everything a gateway wrote or showed during a run with keys, searched for the values.
#[tokio::test]
async fn key_values_never_leave_the_gateway() {
    let dir = ConfigDir::new();
    setup(
        &dir,
        &[(
            "gold",
            json!({"stages": ["shop/prod"], "quota": {"limit": 2, "period": "day"}}),
        )],
    );
    let (code, out, err) = run_cli(
        dir.path(),
        &["keys", "create", "--name", "acme", "--plan", "gold"],
    );
    assert_eq!(code, 0, "{err}");
    let value = out.trim().to_string();
    let wrong = "wrong-key-0123456789-abcdefgh";
    // An access log that asks for the key: it gets the last four characters only.
    let log = tempfile::NamedTempFile::new().unwrap();
    let stage = format!(
        "{}access_log:\n  path: {:?}\n  format: '$context.requestId $context.identity.apiKeyId $context.identity.apiKey $context.status'\n",
        Stage::new("shop", "shop-1").yaml(),
        log.path()
    );
    dir.write("stages/prod.yaml", &stage);
    let gw = Gateway::start(&dir).await;
    let a = gw.addr();
    let mut bodies = String::new();
    for key in [
        Some(value.as_str()),
        Some(wrong),
        Some(value.as_str()),
        Some(value.as_str()),
        None,
    ] {
        let r = get(a, key).await;
        bodies.push_str(&format!("{:?}{}", r.headers, r.text()));
    }
    // The two allowed answers show the key to the template, as AWS's do; the refusals do not.
    assert_eq!(bodies.matches(value.as_str()).count(), 2, "{bodies}");
    let mut seen = vec![
        (
            "refusals".to_string(),
            bodies.replace(&format!("\"key\": \"{value}\""), ""),
        ),
        (
            "/metrics".to_string(),
            gw.admin_get("/metrics").await.unwrap().text(),
        ),
        (
            "/config".to_string(),
            gw.admin_get("/config").await.unwrap().text(),
        ),
    ];
    for args in [
        vec!["routes"],
        vec!["routes", "--json"],
        vec!["keys", "list", "--json"],
        vec!["usage", "--plan", "gold"],
        vec!["validate"],
    ] {
        let (_, out, err) = run_cli(dir.path(), &args);
        seen.push((args.join(" "), out + &err));
    }
    gw.signal("TERM");
    gw.wait_exit(Duration::from_secs(10)).await;
    let access = common::eventually("access log lines", Duration::from_secs(5), || async {
        std::fs::read_to_string(log.path())
            .unwrap_or_default()
            .lines()
            .count()
            >= 5
    });
    access.await;
    let access = std::fs::read_to_string(log.path()).unwrap();
    let last_four = &value[value.len() - 4..];
    assert!(
        access.contains(&format!(" acme ****{last_four} 200")),
        "{access}"
    );
    seen.push(("access log".into(), access));
    seen.push(("gateway output".into(), gw.logs()));
    for entry in walk(dir.path()) {
        seen.push((
            entry.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned(),
        ));
    }
    for (what, text) in &seen {
        for secret in [value.as_str(), wrong] {
            assert!(!text.contains(secret), "a key value in {what}:\n{text}");
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn the_key_can_come_from_the_authorizer() {
    let f = tokio::task::spawn_blocking(|| {
        crate::lambda::Script::start(
            std::path::Path::new("python3"),
            "tests/lambda/authorizer.py",
        )
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    setup(&dir, &[("gold", json!({"stages": ["shop/prod"]}))]);
    let mut api = crate::common::usage::shop();
    api["api_key_source"] = json!("authorizer");
    api["default_authorizer"] = json!("tokens");
    api["authorizers"] = json!({"tokens": {"type": "token", "uri": format!("http://{}", f.addr)}});
    dir.write(&ConfigDir::deployment_file("shop-1"), &api.to_string());
    let value = "from-authorizer-0123456789";
    put_key(&dir, "partner", value, &["gold"], true);
    let gw = Gateway::start(&dir).await;
    let send = |token: String, key: Option<&'static str>| {
        let a = gw.addr();
        async move {
            let mut c = Client::connect(a).await;
            let mut headers = vec![("authorization", token.as_str())];
            if let Some(k) = key {
                headers.push(("x-api-key", k));
            }
            c.request(Method::GET, "/prod/orders", &headers, Bytes::new())
                .await
                .unwrap()
        }
    };
    let r = send(format!("key-{value}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"id": "partner", "key": value}));
    // No usageIdentifierKey: 403, whatever x-api-key says.
    let r = send("allow-bob".into(), Some("from-authorizer-0123456789")).await;
    assert_refused(&r, 403, "Forbidden", "ForbiddenException");
    let r = send("key-unknown-0123456789-abcdefg".into(), None).await;
    assert_refused(&r, 403, "Forbidden", "ForbiddenException");
    let (_, out, _) = run_cli(dir.path(), &["routes"]);
    assert!(out.contains("api key (authorizer)"), "{out}");
}

#[tokio::test]
async fn the_lambda_event_carries_the_key() {
    let f = crate::lambda::start_function().await;
    let dir = ConfigDir::new();
    setup(&dir, &[("gold", json!({"stages": ["shop/prod"]}))]);
    let mut api = crate::common::usage::shop();
    api["routes"].as_array_mut().unwrap().push(json!({
        "route": "GET /fn",
        "api_key_required": true,
        "integration": {"type": "aws_proxy", "uri": format!("http://{f}")},
    }));
    dir.write(&ConfigDir::deployment_file("shop-1"), &api.to_string());
    put_key(&dir, "acme", ACME, &["gold"], true);
    let gw = Gateway::start(&dir).await;
    let r = crate::common::usage::call(gw.addr(), Method::GET, "/prod/fn", Some(ACME)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let identity = &r.json()["requestContext"]["identity"];
    assert_eq!(identity["apiKey"], ACME);
    assert_eq!(identity["apiKeyId"], "acme");
}
