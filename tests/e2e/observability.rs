//! Observability and operations through the real binary: the Prometheus counters and histograms
//! move by exactly what the requests and reloads of a test caused, `/config` shows a failed
//! reload, access logs write one line per request (to a file or, as JSON, to stdout) and lose
//! nothing across rotations, SIGTERM drains and exits as soon as the last request is answered,
//! a binary upgrade under load fails no request, and SIGINT exits at once.
//!
//! Every gateway is its own process, so its metric registry starts empty. The shutdown tests that
//! measure exit times, acceptance criteria ("within 1 s"), are in `tests/timing/observability.rs`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::observability::shutdown_gateway;
use common::{
    eventually, full, get, patience, Backend, BackendSpec, Body, Client, ConfigDir, Deployment,
    Gateway, Reply, Stage,
};
use http::{Method, Request};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Failure bound for waits that are not the thing measured.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition: one sample per line, `name{label="value",...} value [timestamp]`.

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One sample line; an error says what is malformed.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or("no value after the metric name")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end = loop {
            match chars.peek().copied() {
                Some((i, '}')) => break i,
                Some((_, ',')) => {
                    chars.next();
                    continue;
                }
                Some(_) => {}
                None => return Err("unclosed label set".into()),
            }
            let mut key = String::new();
            loop {
                match chars.next() {
                    Some((_, '=')) => break,
                    Some((_, c)) if c.is_ascii_alphanumeric() || c == '_' => key.push(c),
                    Some((_, c)) => return Err(format!("bad character {c:?} in a label name")),
                    None => return Err("label without a value".into()),
                }
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} has no quoted value"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        other => return Err(format!("bad escape {other:?} in label {key}")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated value of label {key}")),
                }
            }
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
        };
        rest = &body[end + 1..];
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value: f64 = value.parse().map_err(|e| format!("value {value:?}: {e}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|e| format!("timestamp {ts:?}: {e}"))?;
    }
    if fields.next().is_some() {
        return Err("more than a value and a timestamp after the labels".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// A scrape of `/metrics`.
#[derive(Debug)]
struct Metrics(Vec<Sample>);

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| parse_sample(l).unwrap_or_else(|e| panic!("exposition line {l:?}: {e}")))
            .collect();
        Metrics(samples)
    }

    /// The sample with exactly these labels (no more, no fewer), if any.
    fn get(&self, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
        let want = labels(pairs);
        let mut found = self.0.iter().filter(|s| s.name == name && s.labels == want);
        let first = found.next()?;
        assert!(found.next().is_none(), "two samples {name} {want:?}");
        Some(first.value)
    }

    /// Like `get`, but the sample must exist.
    fn value(&self, name: &str, pairs: &[(&str, &str)]) -> f64 {
        self.get(name, pairs).unwrap_or_else(|| {
            let same_name: Vec<String> = self
                .0
                .iter()
                .filter(|s| s.name == name)
                .map(|s| format!("{:?} {}", s.labels, s.value))
                .collect();
            panic!(
                "no sample {name} {:?}; samples of that name:\n{}",
                labels(pairs),
                same_name.join("\n")
            )
        })
    }

    /// Sum over every sample of `name` whose labels include `pairs`.
    fn sum(&self, name: &str, pairs: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                pairs
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

async fn scrape(gw: &Gateway) -> Metrics {
    let r = gw
        .admin_get("/metrics")
        .await
        .expect("GET /metrics answers");
    assert_eq!(r.status, 200, "GET /metrics: {}", r.text());
    Metrics::parse(&r.text())
}

async fn config_json(gw: &Gateway) -> serde_json::Value {
    let r = gw.admin_get("/config").await.expect("GET /config answers");
    assert_eq!(r.status, 200, "GET /config: {}", r.text());
    r.json()
}

#[test]
fn the_exposition_parser_reads_labels_escapes_and_values() {
    let m = Metrics::parse(concat!(
        "# HELP x_total help\n",
        "# TYPE x_total counter\n",
        "x_total{a=\"1\",b=\"q\\\"uote\\\\ \\n\",c=\"\"} 3\n",
        "y 4.5\n",
        "h_bucket{le=\"+Inf\"} 7 1700000000000\n",
    ));
    assert_eq!(
        m.get("x_total", &[("a", "1"), ("b", "q\"uote\\ \n"), ("c", "")]),
        Some(3.0)
    );
    assert_eq!(
        m.get("x_total", &[("a", "1")]),
        None,
        "labels match exactly"
    );
    assert_eq!(m.value("y", &[]), 4.5);
    assert_eq!(m.value("h_bucket", &[("le", "+Inf")]), 7.0);
    assert_eq!(m.sum("x_total", &[("a", "1")]), 3.0);
    for bad in ["x{a=1} 2", "x{a=\"1\" 2", "x", "x{a=\"1\"} two", "x 1 2 3"] {
        assert!(parse_sample(bad).is_err(), "{bad:?} parsed");
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration snippets.

/// JSON string = YAML double-quoted scalar.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A mock route answering 200 `{"pong": true}` without a backend, appended to a deployment.
const MOCK_PING: &str = r#"  - route: "GET /ping"
    integration:
      type: mock
      request_templates: { application/json: '{"statusCode": 200}' }
      responses:
        - status: 200
          templates: { application/json: '{"pong": true}' }
"#;

fn with_access_log(stage: &Stage, format: Option<&str>, path: Option<&Path>) -> String {
    let mut yaml = stage.yaml();
    match (format, path) {
        (None, None) => yaml.push_str("access_log: {}\n"),
        _ => {
            yaml.push_str("access_log:\n");
            if let Some(f) = format {
                yaml.push_str(&format!("  format: {}\n", q(f)));
            }
            if let Some(p) = path {
                yaml.push_str(&format!("  path: {}\n", q(p.to_str().unwrap())));
            }
        }
    }
    yaml
}

/// Backends A (version v1) and B (version v2) of backend `svc`, alias `live` = 50/50.
async fn two_versions(dir: &ConfigDir) -> (Backend, Backend) {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    dir.set_backends(&[BackendSpec::new("svc")
        .version("v1", [a.addr()])
        .version("v2", [b.addr()])
        .alias("live", [("v1", 1), ("v2", 1)])]);
    (a, b)
}

/// The version a test backend stands for.
fn version_of(r: &Reply) -> &'static str {
    match r.backend() {
        Some("A") => "v1",
        Some("B") => "v2",
        other => panic!("answered by {other:?}: {} {}", r.status, r.text()),
    }
}

fn request_id(r: &Reply) -> String {
    r.header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on {} {}", r.status, r.text()))
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. Metrics

/// Every counter and histogram moves by exactly what the requests caused, with the route
/// template (never the raw path) as the label; reloads move the generation and the reload
/// counters, and a failed reload shows at `/config` until a good one replaces it.
#[tokio::test]
async fn metrics_count_exactly_what_requests_and_reloads_caused() {
    let dir = ConfigDir::new();
    let (_a, _b) = two_versions(&dir).await;
    dir.write(
        &ConfigDir::deployment_file("shop-1"),
        &(Deployment::new("shop")
            .proxy("GET /orders/{id}", "backend://svc:live/orders/{id}")
            .yaml()
            + MOCK_PING),
    );
    dir.put_deployment(
        "c-base",
        &Deployment::new("shop").proxy("GET /who", "backend://svc:v1/who"),
    );
    dir.put_deployment(
        "c-canary",
        &Deployment::new("shop").proxy("GET /who", "backend://svc:v2/who"),
    );
    dir.put_stage("m", &Stage::new("shop", "shop-1"));
    dir.write(
        &ConfigDir::stage_file("c"),
        &(Stage::new("shop", "c-base").yaml()
            + "canary:\n  deployment: \"c-canary\"\n  percent: 50\n"),
    );
    let gw = Gateway::start(&dir).await;

    // Proxied through the alias, sequentially on one keep-alive connection.
    const ORDERS: usize = 40;
    let mut by_version: BTreeMap<&str, usize> = BTreeMap::new();
    let mut client = Client::connect(gw.addr()).await;
    for i in 0..ORDERS {
        let r = client.get(&format!("/m/orders/{i}")).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        *by_version.entry(version_of(&r)).or_default() += 1;
    }
    let (n_v1, n_v2) = (by_version["v1"], by_version["v2"]);
    // Mock, 404 under the stage, 404 under no stage, 405.
    for _ in 0..10 {
        let r = client.get("/m/ping").await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.text()),
            (200, r#"{"pong": true}"#.into())
        );
    }
    for i in 0..3 {
        assert_eq!(
            client.get(&format!("/m/nope/{i}")).await.unwrap().status,
            404
        );
    }
    for i in 0..2 {
        assert_eq!(
            client.get(&format!("/elsewhere/{i}")).await.unwrap().status,
            404
        );
    }
    for _ in 0..4 {
        let r = client
            .request(Method::DELETE, "/m/orders/7", &[], Bytes::new())
            .await
            .unwrap();
        assert_eq!(r.status, 405);
    }
    // The canary stage: base deployment -> v1 (A), canary deployment -> v2 (B).
    const CANARY_STAGE: usize = 100;
    let mut sides: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..CANARY_STAGE {
        let r = client.get("/c/who").await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        *sides.entry(version_of(&r)).or_default() += 1;
    }
    let (base, canary) = (
        sides.get("v1").copied().unwrap_or(0),
        sides.get("v2").copied().unwrap_or(0),
    );
    println!("alias 50/50: v1 {n_v1}, v2 {n_v2}; canary 50%: base {base}, canary {canary}");

    // The counters are bumped in the logging phase, just after the response went out.
    let all = (ORDERS + 10 + 3 + 2 + 4 + CANARY_STAGE) as f64;
    eventually("every request counted", WAIT, || async {
        scrape(&gw).await.sum("stagecraft_requests_total", &[]) >= all
    })
    .await;
    let m = scrape(&gw).await;
    let req = |stage: &str, route: &str, method: &str, status: &str, version: &str| {
        m.get(
            "stagecraft_requests_total",
            &[
                ("stage", stage),
                ("route", route),
                ("method", method),
                ("status", status),
                ("version", version),
            ],
        )
        .unwrap_or(0.0)
    };
    let orders = "GET /orders/{id}";
    assert_eq!(req("m", orders, "GET", "200", "v1"), n_v1 as f64);
    assert_eq!(req("m", orders, "GET", "200", "v2"), n_v2 as f64);
    assert_eq!(
        req("m", "GET /ping", "GET", "200", ""),
        10.0,
        "mock: empty version"
    );
    assert_eq!(
        req("m", "(none)", "GET", "404", ""),
        3.0,
        "no route in the stage"
    );
    assert_eq!(req("(none)", "(none)", "GET", "404", ""), 2.0, "no stage");
    assert_eq!(req("m", "(none)", "DELETE", "405", ""), 4.0, "wrong method");
    // The same refusals by gateway response type.
    let responses = |stage: &str, t: &str| {
        m.get(
            "stagecraft_gateway_responses_total",
            &[("stage", stage), ("type", t)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(responses("m", "RESOURCE_NOT_FOUND"), 3.0);
    assert_eq!(responses("(none)", "RESOURCE_NOT_FOUND"), 2.0);
    assert_eq!(responses("m", "METHOD_NOT_ALLOWED"), 4.0);
    assert_eq!(
        m.sum("stagecraft_gateway_responses_total", &[]),
        9.0,
        "no other gateway response counted"
    );
    assert_eq!(req("c", "GET /who", "GET", "200", "v1"), base as f64);
    assert_eq!(req("c", "GET /who", "GET", "200", "v2"), canary as f64);
    assert_eq!(
        m.sum("stagecraft_requests_total", &[]),
        all,
        "no other request counted"
    );
    assert!(
        !m.0.iter().any(|s| s
            .labels
            .get("route")
            .is_some_and(|r| r.contains("/orders/1"))),
        "a raw path became a label"
    );

    // Histograms: one observation per request for the route, one upstream per version.
    let dur = |route: &str| {
        m.value(
            "stagecraft_request_duration_seconds_count",
            &[("stage", "m"), ("route", route)],
        )
    };
    assert_eq!(dur(orders), ORDERS as f64);
    assert_eq!(dur("GET /ping"), 10.0);
    assert_eq!(
        m.value(
            "stagecraft_request_duration_seconds_bucket",
            &[("stage", "m"), ("route", orders), ("le", "+Inf")]
        ),
        ORDERS as f64
    );
    assert!(
        m.value(
            "stagecraft_request_duration_seconds_sum",
            &[("stage", "m"), ("route", orders)]
        ) > 0.0
    );
    let up = |route: &str, version: &str| {
        m.value(
            "stagecraft_upstream_duration_seconds_count",
            &[("stage", "m"), ("route", route), ("version", version)],
        )
    };
    assert_eq!(up(orders, "v1"), n_v1 as f64);
    assert_eq!(up(orders, "v2"), n_v2 as f64);
    assert_eq!(
        m.sum(
            "stagecraft_upstream_duration_seconds_count",
            &[("route", "GET /ping")]
        ),
        0.0,
        "a mock has no upstream"
    );

    // Canary sides, only for the stage that has a canary.
    let side = |stage: &str, side: &str| {
        m.get(
            "stagecraft_canary_requests_total",
            &[("stage", stage), ("side", side)],
        )
    };
    assert_eq!(side("c", "canary"), Some(canary as f64));
    assert_eq!(side("c", "base"), Some(base as f64));
    assert!(
        base > 0 && canary > 0,
        "50% canary: base {base}, canary {canary}"
    );
    assert_eq!(base + canary, CANARY_STAGE);
    assert_eq!(
        side("m", "canary"),
        None,
        "no canary series for a stage without one"
    );

    // Upstream connections: one per proxied request, pooled ones among them.
    let proxied = (ORDERS + CANARY_STAGE) as f64;
    let reused = m.value(
        "stagecraft_upstream_connections_total",
        &[("reused", "true")],
    );
    let fresh = m.value(
        "stagecraft_upstream_connections_total",
        &[("reused", "false")],
    );
    println!("upstream connections: reused {reused}, new {fresh}");
    assert_eq!(reused + fresh, proxied);
    assert!(reused > 0.0, "sequential requests reuse pooled connections");
    assert_eq!(
        m.value("stagecraft_upstream_connect_failures_total", &[]),
        0.0
    );

    // Configuration: generation 1, no reload yet.
    let reloads = |m: &Metrics, result: &str| {
        m.value("stagecraft_config_reloads_total", &[("result", result)])
    };
    assert_eq!(m.value("stagecraft_config_generation", &[]), 1.0);
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (0.0, 0.0));

    // A good reload: generation + 1. Files are replaced atomically so that no half-written
    // state is ever read (which would count as an extra failure).
    dir.write_renamed(
        &ConfigDir::stage_file("m"),
        &Stage::new("shop", "shop-1").var("x", "1").yaml(),
    );
    eventually("generation 2 in /metrics", WAIT, || async {
        scrape(&gw).await.get("stagecraft_config_generation", &[]) == Some(2.0)
    })
    .await;
    let m = scrape(&gw).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (1.0, 0.0));
    let c = config_json(&gw).await;
    assert_eq!(c["generation"], 2);
    assert_eq!(c["last_error"], serde_json::Value::Null);
    let stage_m = c["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "m")
        .cloned()
        .unwrap();
    assert_eq!(stage_m["deployment"], "shop-1");
    assert_eq!(stage_m["variables"], serde_json::json!({"x": "1"}));

    // A YAML syntax error: counted once, shown at /config with the file, nothing else changes.
    dir.write_renamed(
        &ConfigDir::stage_file("m"),
        "api: \"shop\"\ndeployment: [shop-1\nvariables: {x: \"2\"}\n",
    );
    eventually("a failed reload counted", WAIT, || async {
        scrape(&gw)
            .await
            .get("stagecraft_config_reloads_total", &[("result", "failure")])
            == Some(1.0)
    })
    .await;
    let m = scrape(&gw).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (1.0, 1.0));
    assert_eq!(m.value("stagecraft_config_generation", &[]), 2.0);
    let c = config_json(&gw).await;
    assert_eq!(c["generation"], 2, "the last good snapshot keeps serving");
    let message = c["last_error"]["message"].as_str().unwrap_or_else(|| {
        panic!(
            "/config last_error after a failed reload: {}",
            c["last_error"]
        )
    });
    println!("last_error: {message}");
    assert!(message.contains("stages/m.yaml"), "{message}");
    assert!(c["last_error"]["at"].is_string(), "{}", c["last_error"]);
    assert_eq!(get(gw.addr(), "/m/orders/1").await.status, 200);

    // Fixing the file: generation + 1, last_error cleared.
    dir.write_renamed(
        &ConfigDir::stage_file("m"),
        &Stage::new("shop", "shop-1").var("x", "2").yaml(),
    );
    eventually("generation 3 in /metrics", WAIT, || async {
        scrape(&gw).await.get("stagecraft_config_generation", &[]) == Some(3.0)
    })
    .await;
    let m = scrape(&gw).await;
    assert_eq!((reloads(&m, "success"), reloads(&m, "failure")), (2.0, 1.0));
    let c = config_json(&gw).await;
    assert_eq!(c["generation"], 3);
    assert_eq!(c["last_error"], serde_json::Value::Null, "fixed: {c}");
    assert_eq!(
        c["reloads"],
        serde_json::json!({"success": 2, "failure": 1})
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Access logs

/// Complete lines of a file (a line still being written has no newline yet).
fn complete_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let end = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
    text[..end].lines().map(str::to_string).collect()
}

/// First field of each line (the request id in the formats used here).
fn first_fields(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect()
}

/// A custom format to a file: exactly one line per request, found by the request id the client
/// received, with its status, method, path and version. `access_log: {}`: a JSON object per
/// request on stdout. A stage without `access_log` logs nothing.
#[tokio::test]
async fn access_logs_write_one_line_per_request() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("a.log");
    let dir = ConfigDir::new();
    let (_a, _b) = two_versions(&dir).await;
    dir.put_deployment(
        "shop-1",
        &Deployment::new("shop").proxy("GET /orders/{id}", "backend://svc:live/orders/{id}"),
    );
    let format = "$context.requestId $context.status $context.httpMethod $context.path \
                  $context.version $context.error.responseType";
    dir.write(
        &ConfigDir::stage_file("a"),
        &with_access_log(&Stage::new("shop", "shop-1"), Some(format), Some(&file)),
    );
    dir.write(
        &ConfigDir::stage_file("j"),
        &with_access_log(&Stage::new("shop", "shop-1"), None, None),
    );
    dir.put_stage("n", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    // Stage a: 50 requests, every fifth a 404 under the stage.
    let mut sent: BTreeMap<String, (u16, String, &str)> = BTreeMap::new();
    for i in 0..50 {
        let path = if i % 5 == 4 {
            format!("/a/nope/{i}")
        } else {
            format!("/a/orders/{i}")
        };
        let r = get(gw.addr(), &path).await;
        let version = match r.status.as_u16() {
            200 => version_of(&r),
            404 => "-",
            s => panic!("{path}: {s} {}", r.text()),
        };
        assert_eq!(r.status, if i % 5 == 4 { 404 } else { 200 });
        assert!(sent
            .insert(request_id(&r), (r.status.as_u16(), path, version))
            .is_none());
    }
    // Stage j (stdout, JSON) and stage n (no access log).
    let mut sent_j: BTreeMap<String, (String, &str)> = BTreeMap::new();
    for i in 0..20 {
        let path = format!("/j/orders/{i}");
        let r = get(gw.addr(), &path).await;
        assert_eq!(r.status, 200);
        sent_j.insert(request_id(&r), (path, version_of(&r)));
    }
    let mut sent_n = BTreeSet::new();
    for i in 0..5 {
        let r = get(gw.addr(), &format!("/n/orders/{i}")).await;
        assert_eq!(r.status, 200);
        sent_n.insert(request_id(&r));
    }

    // The file: lines are written by a thread just after each response.
    let ids: BTreeSet<String> = sent.keys().cloned().collect();
    eventually("all 50 request ids in the file", WAIT, || async {
        first_fields(&complete_lines(&file))
            .into_iter()
            .collect::<BTreeSet<_>>()
            .is_superset(&ids)
    })
    .await;
    let lines = complete_lines(&file);
    assert_eq!(
        lines.len(),
        50,
        "one line per request:\n{}",
        lines.join("\n")
    );
    let mut seen = BTreeSet::new();
    for line in &lines {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 6, "six fields: {line:?}");
        let (status, path, version) = sent
            .get(f[0])
            .unwrap_or_else(|| panic!("a line for a request not sent: {line:?}"));
        assert!(seen.insert(f[0]), "two lines for {}: {line:?}", f[0]);
        assert_eq!(
            (f[1], f[2], f[3], f[4]),
            (status.to_string().as_str(), "GET", path.as_str(), *version),
            "{line:?}"
        );
        // The refusal's gateway response type; AWS's "-" for an answer the backend gave.
        let response_type = if *status == 404 {
            "RESOURCE_NOT_FOUND"
        } else {
            "-"
        };
        assert_eq!(f[5], response_type, "{line:?}");
    }

    // Stdout: JSON objects, exactly one per request of stage j, nothing else.
    let ids_j: BTreeSet<String> = sent_j.keys().cloned().collect();
    let stdout_objects = |text: &str| -> Vec<serde_json::Value> {
        let end = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
        text[..end]
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l:?}"))
            })
            .collect()
    };
    eventually("all 20 request ids on stdout", WAIT, || async {
        let got: BTreeSet<String> = stdout_objects(&gw.stdout())
            .iter()
            .filter_map(|o| o["requestId"].as_str().map(str::to_string))
            .collect();
        got.is_superset(&ids_j)
    })
    .await;
    let objects = stdout_objects(&gw.stdout());
    assert_eq!(objects.len(), 20, "stdout: {objects:#?}");
    let mut seen = BTreeSet::new();
    for o in &objects {
        let id = o["requestId"].as_str().unwrap();
        let (path, version) = sent_j
            .get(id)
            .unwrap_or_else(|| panic!("a stdout line for a request not sent to j: {o}"));
        assert!(seen.insert(id.to_string()), "two lines for {id}");
        assert_eq!(o["stage"], "j", "{o}");
        assert_eq!(o["status"], 200, "{o}");
        assert_eq!(o["httpMethod"], "GET", "{o}");
        assert_eq!(o["path"], path.as_str(), "{o}");
        assert_eq!(o["resourcePath"], "/orders/{id}", "{o}");
        assert_eq!(o["version"], *version, "{o}");
        assert_eq!(o["deploymentId"], "shop-1", "{o}");
        assert_eq!(o["isCanaryRequest"], false, "{o}");
        assert!(o["responseLength"].as_u64().is_some_and(|n| n > 0), "{o}");
    }
    // Stage n logs nowhere.
    assert!(sent_n.iter().all(|id| !gw.stdout().contains(id.as_str())));
    assert!(complete_lines(&file)
        .iter()
        .all(|l| !sent_n.iter().any(|id| l.contains(id.as_str()))));
}

// ---------------------------------------------------------------------------------------------
// 3. Rotation

/// While clients send at least 2,000 requests, the log file is renamed away twice, once
/// followed by SIGUSR1 and once relying on the automatic reopen: the union of the lines of the
/// three files is exactly the set of request ids the clients received, none lost, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_rotation_loses_no_line() {
    const CLIENTS: usize = 4;
    const TOTAL: usize = 2_000;
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("r.log");
    let rotated1 = logs.path().join("r.log.1");
    let rotated2 = logs.path().join("r.log.2");
    let backend = Backend::start("A").await;
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", backend.addr()));
    dir.write(
        &ConfigDir::stage_file("r"),
        &with_access_log(
            &Stage::new("shop", "shop-1"),
            Some("$context.requestId $context.status"),
            Some(&file),
        ),
    );
    let gw = Gateway::start(&dir).await;

    // Clients take tickets until TOTAL are taken and both rotations are done, so the load is
    // still running when the automatic reopen is awaited.
    let tickets = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let rotated = Arc::new(AtomicBool::new(false));
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (tickets, answered, rotated, received, failures) = (
            tickets.clone(),
            answered.clone(),
            rotated.clone(),
            received.clone(),
            failures.clone(),
        );
        let addr = gw.addr();
        clients.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            loop {
                let n = tickets.fetch_add(1, Ordering::SeqCst);
                if n >= TOTAL && rotated.load(Ordering::SeqCst) {
                    break;
                }
                if client.is_closed() {
                    client = Client::connect(addr).await;
                }
                match client.get(&format!("/r/c{c}/{n}")).await {
                    Ok(r) if r.status == 200 => received.lock().unwrap().push(request_id(&r)),
                    Ok(r) => {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("#{n}: {} {}", r.status, r.text()))
                    }
                    Err(e) => failures.lock().unwrap().push(format!("#{n}: {e}")),
                }
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }

    let reached = |n: usize| {
        let answered = answered.clone();
        let file = file.clone();
        move || {
            let ok = answered.load(Ordering::SeqCst) >= n && file.exists();
            async move { ok }
        }
    };
    // Rotation 1: rename, then SIGUSR1.
    eventually("300 requests answered and logged", WAIT, reached(300)).await;
    std::fs::rename(&file, &rotated1).unwrap();
    gw.signal("USR1");
    let took = eventually("the log reopened after SIGUSR1", WAIT, || async {
        file.exists()
    })
    .await;
    println!(
        "rotation 1 (rename + SIGUSR1) at request {}: new file after {} ms",
        answered.load(Ordering::SeqCst),
        took.as_millis()
    );
    // Rotation 2: rename only; the writer notices within about a second.
    eventually("900 requests answered", WAIT, reached(900)).await;
    std::fs::rename(&file, &rotated2).unwrap();
    let took = eventually("the log reopened after a rename", WAIT, || async {
        file.exists()
    })
    .await;
    println!(
        "rotation 2 (rename only) at request {}: new file after {} ms",
        answered.load(Ordering::SeqCst),
        took.as_millis()
    );
    rotated.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failed requests: {failures:#?}");
    let received = received.lock().unwrap().clone();
    let ids: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(ids.len(), received.len(), "request ids are unique");
    assert!(ids.len() >= TOTAL, "{} requests", ids.len());
    println!("{} requests answered during the rotations", ids.len());

    let files = [&rotated1, &rotated2, &file];
    let logged = || -> Vec<String> { files.iter().flat_map(|f| complete_lines(f)).collect() };
    eventually(
        "every request id in the union of the files",
        WAIT,
        || async {
            first_fields(&logged())
                .into_iter()
                .collect::<BTreeSet<_>>()
                .is_superset(&ids)
        },
    )
    .await;
    let lines = logged();
    let per_file: Vec<usize> = files.iter().map(|f| complete_lines(f).len()).collect();
    println!("lines per file (r.log.1, r.log.2, r.log): {per_file:?}");
    assert!(
        per_file.iter().all(|&n| n > 0),
        "each file got lines: {per_file:?}"
    );
    let logged_ids = first_fields(&lines);
    let unique: BTreeSet<String> = logged_ids.iter().cloned().collect();
    assert_eq!(unique, ids, "the logged ids are exactly the ids received");
    assert_eq!(
        logged_ids.len(),
        ids.len(),
        "no line twice ({} lines for {} requests)",
        logged_ids.len(),
        ids.len()
    );
    assert!(
        lines.iter().all(|l| l.ends_with(" 200")),
        "status 200 on every line"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Binary upgrade (4 and 5, the exit times of SIGTERM and SIGINT, are timed tests:
// tests/timing/observability.rs).

/// The time of day in UTC with microseconds, as the gateway's log prints it.
fn utc_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let s = t.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        t.subsec_micros()
    )
}

/// One GET on a fresh connection: the status, or what went wrong. Never retried.
async fn one_request(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let attempt = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        // When the connection was made, to set a failure against the gateway's log.
        let connected = utc_now();
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        let conn = tokio::spawn(conn);
        let req = Request::builder()
            .uri(path)
            .header("host", addr.to_string())
            .body(full(Bytes::new()))
            .unwrap();
        let result = async {
            let resp = sender.send_request(req).await.map_err(|e| {
                format!(
                    "request: {e:?} (connected {connected}, failed {})",
                    utc_now()
                )
            })?;
            let status = resp.status().as_u16();
            resp.into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {e:?}"))?;
            Ok(status)
        }
        .await;
        conn.abort();
        result
    };
    let wait = patience(WAIT);
    match tokio::time::timeout(wait, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no response within {wait:?}")),
    }
}

/// How the load clients of the upgrade test talk to the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connections {
    /// One request per connection, never retried.
    FreshPerRequest,
    /// One keep-alive connection per client, reopened when the gateway closes it. A request
    /// whose *reused* connection is closed before any response byte (the old process closing
    /// an idle keep-alive connection as the request went out) is retried once on a new
    /// connection, as HTTP clients do for idempotent requests; nothing else is retried.
    KeepAlive,
}

/// A keep-alive client of the upgrade load: its connection and how many requests it served.
#[derive(Default)]
struct KeptAlive {
    client: Option<Client>,
    served: usize,
    retries: usize,
}

impl KeptAlive {
    async fn get(&mut self, addr: SocketAddr, path: &str) -> Result<u16, String> {
        for attempt in 0..2 {
            if self.client.as_ref().is_none_or(Client::is_closed) {
                self.client = Some(Client::connect(addr).await);
                self.served = 0;
            }
            let client = self.client.as_mut().unwrap();
            let reused = self.served > 0;
            let req = client.build(Method::GET, path, &[], full(Bytes::new()));
            let head = match client.send(req).await {
                Ok(response) => common::within("response head", response).await,
                Err(e) => Err(e),
            };
            match head {
                Ok(response) => {
                    let reply = common::read_reply(response)
                        .await
                        .map_err(|e| format!("body: {e:?}"))?;
                    self.served += 1;
                    return Ok(reply.status.as_u16());
                }
                Err(e) if reused && attempt == 0 => {
                    // Closed before any response byte on a reused connection: retry once.
                    println!("upgrade: retrying {path} on a new connection after {e:?}");
                    self.retries += 1;
                    self.client = None;
                }
                Err(e) => {
                    return Err(format!(
                        "{e:?} ({} connection, attempt {})",
                        if reused { "reused" } else { "new" },
                        attempt + 1
                    ))
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

/// Binary upgrade under load: 4 clients send requests in a loop while a second process starts
/// with `--upgrade`, the first gets SIGQUIT, hands over its listening sockets, serves 5 more
/// seconds and exits. No request fails; requests are answered before SIGQUIT (by the first
/// process) and after the first exited (by the second, necessarily); the first exits with 0
/// and the second keeps serving.
async fn upgrade_under_load(mode: Connections) {
    let backend = Backend::start("A").await;
    let sockdir = tempfile::tempdir().unwrap();
    let sock: PathBuf = sockdir.path().join("upgrade.sock");
    let (dir, old) =
        shutdown_gateway(&backend, &[("upgrade_sock", sock.to_str().unwrap().into())]).await;

    // Phase of each request, taken when it starts: 0 before SIGQUIT, 1 between SIGQUIT and the
    // first process's exit (either process may answer), 2 after its exit (the second answers).
    const PHASES: usize = 3;
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ok: Arc<[AtomicUsize; PHASES]> = Arc::new(Default::default());
    let retries = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (phase, stop, ok, retries, failures) = (
            phase.clone(),
            stop.clone(),
            ok.clone(),
            retries.clone(),
            failures.clone(),
        );
        let addr = old.addr();
        clients.push(tokio::spawn(async move {
            let mut kept = KeptAlive::default();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let p = phase.load(Ordering::SeqCst) as usize;
                let path = format!("/s/c{c}/{n}");
                let result = match mode {
                    Connections::FreshPerRequest => one_request(addr, &path).await,
                    Connections::KeepAlive => kept.get(addr, &path).await,
                };
                match result {
                    Ok(200) => {
                        ok[p].fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(s) => failures
                        .lock()
                        .unwrap()
                        .push(format!("client {c} #{n} (phase {p}): status {s}")),
                    Err(e) => failures
                        .lock()
                        .unwrap()
                        .push(format!("client {c} #{n} (phase {p}): {e}")),
                }
                n += 1;
            }
            retries.fetch_add(kept.retries, Ordering::SeqCst);
        }));
    }
    let count = |p: usize| ok[p].load(Ordering::SeqCst);
    eventually(
        "50 requests answered by the first process",
        WAIT,
        || async { count(0) >= 50 },
    )
    .await;

    let new = old.spawn_upgrade(&dir);
    let took = eventually("the new process waits at upgrade_sock", WAIT, || async {
        assert!(
            new.is_running(),
            "the --upgrade process exited early: {:?}\n{}",
            new.exit_status(),
            new.logs()
        );
        sock.exists()
    })
    .await;
    println!(
        "upgrade ({mode:?}): the new process listened on upgrade_sock after {} ms",
        took.as_millis()
    );

    old.signal("QUIT");
    let quit_at = Instant::now();
    phase.store(1, Ordering::SeqCst);
    let status = old
        .wait_exit(WAIT)
        .await
        .expect("the old process exits after the hand-over");
    let exit_after = quit_at.elapsed();
    phase.store(2, Ordering::SeqCst);
    println!(
        "upgrade ({mode:?}): the old process exited ({status}) {} ms after SIGQUIT",
        exit_after.as_millis()
    );

    eventually(
        "50 requests answered after the old process exited",
        WAIT,
        || async { count(2) >= 50 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let (before, during, after) = (count(0), count(1), count(2));
    println!(
        "upgrade ({mode:?}): answered before SIGQUIT {before}, between SIGQUIT and the exit \
         {during}, after the exit {after}; retried {}",
        retries.load(Ordering::SeqCst)
    );
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed requests:\n{}\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        old.logs(),
        new.logs()
    );
    assert_eq!(status.code(), Some(0), "old process exit status {status}");
    assert!(before > 0 && after > 0);

    assert!(
        new.is_running(),
        "the new process serves on: {}",
        new.logs()
    );
    let r = get(new.addr(), "/s/after").await;
    assert_eq!((r.status.as_u16(), r.backend()), (200, Some("A")));
    let ready = new.admin_get("/readyz").await.expect("admin answers");
    assert_eq!(ready.status, 200, "{}", ready.text());
}

/// Keep-alive clients (see [`Connections::KeepAlive`] for the one retry allowed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_upgrade_under_load_fails_no_request_keep_alive() {
    upgrade_under_load(Connections::KeepAlive).await;
}

/// A fresh connection per request, no retry at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_upgrade_under_load_fails_no_request_fresh_connections() {
    upgrade_under_load(Connections::FreshPerRequest).await;
}
