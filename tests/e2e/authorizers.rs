//! Authorizers through the real gateway: `token` and `request` authorizers calling a real
//! authorizer function (`tests/lambda/authorizer.py`, a Python script the tests start, which
//! counts its own calls and records the events it was given), AWS's outcomes as gateway
//! responses, the decision cache counted by the function's call count (TTL, distinct
//! identities, 100 concurrent requests on a cold cache, kept across a reload), a function that
//! hangs or is down, and the decision reaching templates and the Lambda event.

use crate::common::{self, dead_addr, Client, ConfigDir, Gateway, Reply, Stage};

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

/// `tests/lambda/authorizer.py` (standard library only), killed on drop.
struct Authorizer {
    /// Kept for its drop, which stops the script.
    _script: crate::lambda::Script,
    addr: SocketAddr,
}

impl Authorizer {
    async fn start() -> Authorizer {
        let script = tokio::task::spawn_blocking(|| {
            crate::lambda::Script::start(Path::new("python3"), "tests/lambda/authorizer.py")
        })
        .await
        .unwrap();
        Authorizer {
            addr: script.addr,
            _script: script,
        }
    }

    fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn doc(&self, path: &str) -> Value {
        common::get(self.addr, path).await.json()
    }

    /// How many times the function was called for this identity (a token, or `user|tenant`).
    async fn calls(&self, identity: &str) -> u64 {
        self.doc("/calls").await["by_identity"][identity]
            .as_u64()
            .unwrap_or(0)
    }

    async fn total(&self) -> u64 {
        self.doc("/calls").await["total"].as_u64().unwrap()
    }

    async fn last_event(&self) -> Value {
        let events = self.doc("/events").await;
        events.as_array().unwrap().last().cloned().unwrap()
    }
}

/// A mock route answering the authorizer's decision as seen by its template.
fn identity_mock() -> Value {
    let template = r#"{"principal": "$context.authorizer.principalId", "tier": "$context.authorizer.tier", "count": "$context.authorizer.count", "vip": "$context.authorizer.vip"}"#;
    json!({
        "type": "mock",
        "request_templates": {"application/json": "{\"statusCode\": 200}"},
        "responses": [{"status": 200, "templates": {"application/json": template}}],
    })
}

fn ok_mock() -> Value {
    json!({
        "type": "mock",
        "request_templates": {"application/json": "{\"statusCode\": 200}"},
        "responses": [{"status": 200, "templates": {"application/json": "{\"ok\": true}"}}],
    })
}

/// The shop API: authorizer `tokens` (TOKEN, the API's default) on the orders routes, `none`
/// on `/open`, plus what `extra` adds at the API level.
fn shop(fn_uri: &str, tokens: Value, extra: Value) -> Value {
    let mut tokens_def = json!({
        "type": "token",
        "uri": fn_uri,
        "identity_validation_expression": "[-a-z0-9]+",
    });
    if let (Value::Object(d), Value::Object(t)) = (&mut tokens_def, tokens) {
        d.extend(t);
    }
    let mut doc = json!({
        "api": "shop",
        "default_authorizer": "tokens",
        "authorizers": {"tokens": tokens_def},
        "routes": [
            {"route": "GET /orders/{id}", "integration": identity_mock()},
            {"route": "POST /orders/{id}", "integration": ok_mock()},
            {"route": "GET /open", "authorizer": "none", "integration": ok_mock()},
        ],
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
        for (k, v) in e {
            if k == "routes" {
                doc_routes(d).extend(v.as_array().unwrap().iter().cloned());
            } else if k == "authorizers" {
                let a = d.get_mut("authorizers").unwrap().as_object_mut().unwrap();
                a.extend(v.as_object().unwrap().clone());
            } else {
                d.insert(k, v);
            }
        }
    }
    doc
}

fn doc_routes(d: &mut serde_json::Map<String, Value>) -> &mut Vec<Value> {
    d.get_mut("routes").unwrap().as_array_mut().unwrap()
}

async fn serve(doc: &Value) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    dir.write(&ConfigDir::deployment_file("shop-1"), &doc.to_string());
    dir.put_stage("prod", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

async fn send(addr: SocketAddr, method: Method, target: &str, token: Option<&str>) -> Reply {
    let mut c = Client::connect(addr).await;
    let headers: Vec<(&str, &str)> = token.map(|t| ("authorization", t)).into_iter().collect();
    c.request(method.clone(), target, &headers, Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

async fn get(addr: SocketAddr, target: &str, token: Option<&str>) -> Reply {
    send(addr, Method::GET, target, token).await
}

fn assert_refused(r: &Reply, status: u16, message: &str, error_type: Option<&str>) {
    assert_eq!(r.status, status, "body {}", r.text());
    assert_eq!(r.json(), json!({ "message": message }));
    assert_eq!(r.header("x-amzn-errortype"), error_type, "{:?}", r.headers);
}

async fn metric(gw: &Gateway, result: &str) -> u64 {
    let text = gw.admin_get("/metrics").await.unwrap().text();
    let prefix = format!(
        "stagecraft_authorizer_calls_total{{authorizer=\"shop/tokens\",result=\"{result}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn token_authorizer_outcomes_are_awss() {
    let f = Authorizer::start().await;
    let (_dir, gw) = serve(&shop(&f.uri(), json!({}), json!({}))).await;
    let a = gw.addr();

    // Missing, empty or malformed identity: 401 without a call.
    for token in [None, Some(""), Some("Not A Token!")] {
        let r = get(a, "/prod/orders/1", token).await;
        assert_refused(&r, 401, "Unauthorized", Some("UnauthorizedException"));
    }
    assert_eq!(
        f.total().await,
        0,
        "the function is not called without a valid identity"
    );

    // Allow: the decision's principal and context reach the template, stringified.
    let r = get(a, "/prod/orders/1", Some("allow-alice")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"principal": "alice", "tier": "gold", "count": "7", "vip": "true"})
    );
    let event = f.last_event().await;
    assert_eq!(
        event,
        json!({
            "type": "TOKEN",
            "authorizationToken": "allow-alice",
            "methodArn": "arn:aws:execute-api:local:000000000000:shop/prod/GET/orders/1",
        })
    );

    // Explicit deny; implicit deny from a cached decision re-evaluated for another method.
    let r = get(a, "/prod/orders/1", Some("deny-bob")).await;
    assert_refused(
        &r,
        403,
        "User is not authorized to access this resource with an explicit deny",
        Some("AccessDeniedException"),
    );
    assert_eq!(
        get(a, "/prod/orders/7", Some("narrow-carol")).await.status,
        200
    );
    let r = send(a, Method::POST, "/prod/orders/7", Some("narrow-carol")).await;
    assert_refused(
        &r,
        403,
        "User is not authorized to access this resource",
        Some("AccessDeniedException"),
    );
    assert_eq!(
        f.calls("narrow-carol").await,
        1,
        "the policy is cached, then re-evaluated"
    );

    // The function's own `Unauthorized`; other errors and malformed answers are 500s.
    let r = get(a, "/prod/orders/1", Some("unauthorized")).await;
    assert_refused(&r, 401, "Unauthorized", Some("UnauthorizedException"));
    for token in ["fail", "malformed", "notjson"] {
        let r = get(a, "/prod/orders/1", Some(token)).await;
        assert_refused(&r, 500, "Internal server error", None);
    }
    // Errors are not cached: a second request calls again.
    get(a, "/prod/orders/1", Some("fail")).await;
    assert_eq!(f.calls("fail").await, 2);

    // A route with `authorizer: none` needs nothing.
    assert_eq!(get(a, "/prod/open", None).await.status, 200);

    assert!(metric(&gw, "allow").await >= 2);
    assert!(metric(&gw, "deny").await >= 1);
    assert!(metric(&gw, "cached").await >= 1);
    assert!(metric(&gw, "unauthorized").await >= 4);
    assert!(metric(&gw, "error").await >= 4);
    let logs = gw.logs();
    assert!(
        !logs.contains("allow-alice"),
        "a token never reaches the log"
    );
}

#[tokio::test]
async fn the_decision_cache_counts_calls_by_ttl_and_identity() {
    let f = Authorizer::start().await;
    let extra = json!({
        "authorizers": {"nocache": {"type": "token", "uri": f.uri(), "result_ttl_seconds": 0}},
        "routes": [{"route": "GET /fresh", "authorizer": "nocache", "integration": ok_mock()}],
    });
    let (_dir, gw) = serve(&shop(&f.uri(), json!({"result_ttl_seconds": 2}), extra)).await;
    let a = gw.addr();
    for _ in 0..5 {
        assert_eq!(
            get(a, "/prod/orders/1", Some("allow-dave")).await.status,
            200
        );
    }
    assert_eq!(
        f.calls("allow-dave").await,
        1,
        "N requests within the TTL: one call"
    );
    for token in ["allow-x1", "allow-x2", "allow-x3"] {
        assert_eq!(get(a, "/prod/orders/2", Some(token)).await.status, 200);
        assert_eq!(
            f.calls(token).await,
            1,
            "distinct identities: distinct calls"
        );
    }
    // After the TTL, the next request calls again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        get(a, "/prod/orders/1", Some("allow-dave")).await.status,
        200
    );
    assert_eq!(
        f.calls("allow-dave").await,
        2,
        "after the TTL: a second call"
    );
    // TTL 0: every request calls.
    for _ in 0..3 {
        assert_eq!(get(a, "/prod/fresh", Some("allow-erin")).await.status, 200);
    }
    assert_eq!(f.calls("allow-erin").await, 3);
}

#[tokio::test]
async fn a_hundred_concurrent_requests_on_a_cold_cache_make_one_call() {
    let f = Authorizer::start().await;
    let (_dir, gw) = serve(&shop(&f.uri(), json!({}), json!({}))).await;
    let a = gw.addr();
    let requests: Vec<_> = (0..100)
        .map(|_| tokio::spawn(async move { get(a, "/prod/orders/1", Some("slow-frank")).await }))
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap().status, 200);
    }
    assert_eq!(
        f.calls("slow-frank").await,
        1,
        "one call for 100 waiting requests"
    );
    assert!(metric(&gw, "cached").await >= 99);
}

#[tokio::test]
async fn a_hanging_or_dead_authorizer_never_takes_the_gateway_down() {
    let f = Authorizer::start().await;
    let extra = json!({
        "authorizers": {
            "quick": {"type": "token", "uri": f.uri(), "timeout_ms": 300},
            "dead": {"type": "token", "uri": format!("http://{}", dead_addr())},
        },
        "routes": [
            {"route": "GET /quick", "authorizer": "quick", "integration": ok_mock()},
            {"route": "GET /dead", "authorizer": "dead", "integration": ok_mock()},
        ],
    });
    let (_dir, gw) = serve(&shop(&f.uri(), json!({}), extra)).await;
    let a = gw.addr();
    // The authorizer's timeout: 500, and the slow answer is not cached later as an error.
    let r = get(a, "/prod/quick", Some("sleep-gina")).await;
    assert_refused(&r, 500, "Internal server error", None);
    let r = get(a, "/prod/dead", Some("allow-hal")).await;
    assert_refused(&r, 500, "Internal server error", None);
    assert!(gw.logs().contains("authorizer shop/dead"), "{}", gw.logs());

    // Twenty requests wait on a function that takes 5 s; routes without an authorizer answer
    // meanwhile, while every waiting request is still waiting.
    let hanging: Vec<_> = (0..20)
        .map(|i| {
            tokio::spawn(
                async move { get(a, "/prod/orders/1", Some(&format!("sleep-h{i}"))).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..20 {
        assert_eq!(get(a, "/prod/open", None).await.status, 200);
    }
    assert!(
        hanging.iter().all(|h| !h.is_finished()),
        "the open route answered while the authorizer still held the others"
    );
    for h in hanging {
        assert_eq!(h.await.unwrap().status, 200);
    }
}

#[tokio::test]
async fn request_authorizer_events_and_cache_key() {
    let f = Authorizer::start().await;
    let extra = json!({
        "authorizers": {"tenants": {
            "type": "request",
            "uri": f.uri(),
            "identity_source": "method.request.header.x-user, method.request.querystring.tenant",
        }},
        "routes": [{"route": "GET /tenants/{id}", "authorizer": "tenants", "integration": ok_mock()}],
    });
    let (_dir, gw) = serve(&shop(&f.uri(), json!({}), extra)).await;
    let a = gw.addr();
    let call = |target: &'static str, user: Option<&'static str>| async move {
        let mut c = Client::connect(a).await;
        let headers: Vec<(&str, &str)> = user.map(|u| ("x-user", u)).into_iter().collect();
        c.request(Method::GET, target, &headers, Bytes::new())
            .await
            .unwrap()
    };
    // Any identity source missing: 401 without a call.
    assert_eq!(call("/prod/tenants/1?tenant=acme", None).await.status, 401);
    assert_eq!(call("/prod/tenants/1", Some("ivy")).await.status, 401);
    assert_eq!(f.total().await, 0);

    assert_eq!(
        call("/prod/tenants/1?tenant=acme", Some("ivy"))
            .await
            .status,
        200
    );
    let event = f.last_event().await;
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(
        event["methodArn"],
        "arn:aws:execute-api:local:000000000000:shop/prod/GET/tenants/1"
    );
    assert_eq!(event["headers"]["x-user"], "ivy");
    assert_eq!(event["queryStringParameters"]["tenant"], "acme");
    assert_eq!(event["pathParameters"]["id"], "1");
    assert_eq!(event["resource"], "/tenants/{id}");
    assert_eq!(event["requestContext"]["stage"], "prod");
    assert!(event.get("body").is_none(), "a REQUEST event has no body");

    // The cache key is every identity source: another tenant is another call (and a deny).
    assert_eq!(
        call("/prod/tenants/2?tenant=acme", Some("ivy"))
            .await
            .status,
        200
    );
    assert_eq!(f.calls("ivy|acme").await, 1);
    let r = call("/prod/tenants/1?tenant=umbrella", Some("ivy")).await;
    assert_eq!(r.status, 403);
    assert_eq!(f.calls("ivy|umbrella").await, 1);
}

#[tokio::test]
async fn the_decision_reaches_the_lambda_event_and_a_reload_keeps_the_cache() {
    let f = Authorizer::start().await;
    let function = crate::lambda::start_function().await;
    let extra = json!({
        "routes": [
            {"route": "GET /event", "integration": {"type": "aws_proxy", "uri": format!("http://{function}")}},
            {"route": "GET /anonymous", "authorizer": "none", "integration": {"type": "aws_proxy", "uri": format!("http://{function}")}},
        ],
    });
    let doc = shop(&f.uri(), json!({}), extra);
    let (dir, gw) = serve(&doc).await;
    let a = gw.addr();
    let r = get(a, "/prod/event", Some("allow-jo")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let event: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"principalId": "jo", "tier": "gold", "count": 7, "vip": true})
    );
    let r = get(a, "/prod/anonymous", None).await;
    let event: Value = serde_json::from_str(&r.text()).unwrap();
    assert!(
        event["requestContext"].get("authorizer").is_none(),
        "no authorizer key when the route has none: {event}"
    );

    // A new deployment with the same authorizer keeps its decisions.
    let mut next = doc.clone();
    next["routes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"route": "GET /new", "integration": ok_mock()}));
    dir.write(&ConfigDir::deployment_file("shop-2"), &next.to_string());
    dir.put_stage("prod", &Stage::new("shop", "shop-2"));
    common::eventually(
        "the new deployment serves",
        Duration::from_secs(10),
        || async { get(a, "/prod/new", Some("allow-jo")).await.status == 200 },
    )
    .await;
    assert_eq!(
        f.calls("allow-jo").await,
        1,
        "the reload kept the cached decision"
    );

    // A changed authorizer starts with an empty cache.
    next["authorizers"]["tokens"]["result_ttl_seconds"] = json!(120);
    dir.write(&ConfigDir::deployment_file("shop-3"), &next.to_string());
    dir.put_stage("prod", &Stage::new("shop", "shop-3"));
    common::eventually(
        "the changed authorizer decides anew",
        Duration::from_secs(10),
        || async {
            get(a, "/prod/new", Some("allow-jo")).await;
            f.calls("allow-jo").await == 2
        },
    )
    .await;
}
