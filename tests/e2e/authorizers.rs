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
        "responses": [{
            "status": 200,
            "headers": {"x-principal": "context.authorizer.principalId", "x-tier": "context.authorizer.tier"},
            "templates": {"application/json": template},
        }],
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
    // And mappings read it: `context.authorizer.NAME` as a header source.
    assert_eq!(r.header("x-principal"), Some("alice"));
    assert_eq!(r.header("x-tier"), Some("gold"));
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
        // A deny still knows who asked: its principal reaches the gateway response.
        "gateway_responses": {"ACCESS_DENIED": {"headers": {"x-principal": "context.authorizer.principalId"}}},
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
    assert_eq!(r.header("x-principal"), Some("ivy"));
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

// ---------------------------------------------------------------------------------------------
// JWT and Cognito authorizers, with keys made here and a JWKS served by a local server.

mod jwt {
    use super::*;
    use base64::Engine as _;
    use http::{Request, Response};
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const ISSUER: &str = "https://idp.example.test/";
    const POOL_ARN: &str = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Test";
    const POOL_ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test";

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A signing key and its public JWK.
    struct SigningKey {
        kid: String,
        alg: Algorithm,
        encoding: EncodingKey,
        jwk: Value,
        /// The public key as PEM bytes (for the HMAC confusion case).
        public_pem: Vec<u8>,
    }

    /// An RSA key made by `openssl` (ring cannot generate RSA keys).
    fn rsa_key(kid: &str) -> SigningKey {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let ok = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl genpkey");
        assert!(ok.success());
        let modulus = std::process::Command::new("openssl")
            .args(["rsa", "-noout", "-modulus", "-in"])
            .arg(&key)
            .output()
            .expect("run openssl rsa -modulus");
        let hex = String::from_utf8(modulus.stdout).unwrap();
        let hex = hex.trim().strip_prefix("Modulus=").unwrap();
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let public = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .output()
            .expect("run openssl pkey -pubout");
        let pem = std::fs::read(&key).unwrap();
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(&pem).unwrap(),
            jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": "AQAB"}),
            public_pem: public.stdout,
        }
    }

    /// A P-256 key made by rcgen.
    fn ec_key(kid: &str) -> SigningKey {
        let pair = rcgen::KeyPair::generate().unwrap();
        let raw = pair.public_key_raw();
        assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwk: json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..])}),
            public_pem: Vec::new(),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn sign(key: &SigningKey, claims: &Value) -> String {
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        encode(&header, claims, &key.encoding).unwrap()
    }

    fn claims(extra: Value) -> Value {
        let mut c = json!({"sub": "user-7", "iss": ISSUER, "aud": "orders-api", "exp": now() + 600, "iat": now()});
        if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
            c.extend(e);
        }
        c
    }

    /// A JWKS server whose key list the test changes, counting its fetches.
    struct JwksServer {
        addr: SocketAddr,
        keys: Arc<Mutex<Vec<Value>>>,
        fetches: Arc<AtomicUsize>,
    }

    impl JwksServer {
        async fn start(keys: Vec<Value>) -> JwksServer {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let keys = Arc::new(Mutex::new(keys));
            let fetches = Arc::new(AtomicUsize::new(0));
            let (k, f) = (keys.clone(), fetches.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let (k, f) = (k.clone(), f.clone());
                    tokio::spawn(async move {
                        let svc = service_fn(move |_req: Request<Incoming>| {
                            f.fetch_add(1, Ordering::SeqCst);
                            let body = json!({"keys": *k.lock().unwrap()}).to_string();
                            async move {
                                Ok::<_, Infallible>(
                                    Response::builder()
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
            JwksServer {
                addr,
                keys,
                fetches,
            }
        }
    }

    fn claims_mock() -> Value {
        let template = r#"{"principal": "$context.authorizer.principalId", "sub": "$context.authorizer.claims.sub", "email": "$context.authorizer.claims.email"}"#;
        json!({
            "type": "mock",
            "request_templates": {"application/json": "{\"statusCode\": 200}"},
            "responses": [{"status": 200, "templates": {"application/json": template}}],
        })
    }

    async fn call(a: SocketAddr, target: &str, token: &str) -> Reply {
        let value = format!("Bearer {token}");
        get(a, target, Some(&value)).await
    }

    fn assert_401(r: &Reply, why: &str) {
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json(), json!({"message": "Unauthorized"}));
        let w = r.header("www-authenticate").unwrap_or_default();
        assert!(
            w.starts_with("Bearer ") && w.contains(why),
            "WWW-Authenticate {w:?}, wanted {why:?}"
        );
    }

    #[tokio::test]
    async fn jwt_and_cognito_tokens_are_checked_against_the_providers_keys() {
        let (rsa, ec) = tokio::task::spawn_blocking(|| (rsa_key("rsa-1"), ec_key("ec-1")))
            .await
            .unwrap();
        let jwks = JwksServer::start(vec![rsa.jwk.clone(), ec.jwk.clone()]).await;
        let pinned = ec_key("pinned-1");
        let doc = json!({
            "api": "shop",
            "authorizers": {
                "oidc": {"type": "jwt", "issuer": ISSUER, "audience": ["orders-api"], "jwks_uri": format!("http://{}/jwks.json", jwks.addr)},
                "pinned": {"type": "jwt", "issuer": ISSUER, "audience": ["orders-api"], "jwks_file": "keys/jwks.json"},
                "pool": {"type": "cognito_user_pools", "provider_arns": [POOL_ARN], "jwks_uri": format!("http://{}/pool.json", jwks.addr)},
            },
            "default_authorizer": "oidc",
            "routes": [
                {"route": "GET /me", "integration": claims_mock()},
                {"route": "GET /write", "authorization_scopes": ["orders/write"], "integration": ok_mock()},
                {"route": "GET /pinned", "authorizer": "pinned", "integration": ok_mock()},
                {"route": "GET /pool/id", "authorizer": "pool", "integration": claims_mock()},
                {"route": "GET /pool/access", "authorizer": "pool", "authorization_scopes": ["orders/read"], "integration": ok_mock()},
            ],
        });
        let dir = ConfigDir::new();
        dir.write("keys/jwks.json", &json!({"keys": [pinned.jwk]}).to_string());
        dir.write(&ConfigDir::deployment_file("shop-1"), &doc.to_string());
        dir.put_stage("prod", &Stage::new("shop", "shop-1"));
        let gw = Gateway::start(&dir).await;
        let a = gw.addr();

        // Valid RS256 and ES256 tokens; the claims reach the template.
        let r = call(
            a,
            "/prod/me",
            &sign(&rsa, &claims(json!({"email": "ada@example.test"}))),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json(),
            json!({"principal": "user-7", "sub": "user-7", "email": "ada@example.test"})
        );
        assert_eq!(
            call(a, "/prod/me", &sign(&ec, &claims(json!({}))))
                .await
                .status,
            200
        );
        // The raw token works too, and `client_id` stands for `aud`.
        let raw = sign(
            &rsa,
            &claims(json!({"aud": null, "client_id": "orders-api"})),
        );
        assert_eq!(get(a, "/prod/me", Some(&raw)).await.status, 200);

        // Expired, not yet valid, wrong issuer, wrong audience.
        let r = call(
            a,
            "/prod/me",
            &sign(&rsa, &claims(json!({"exp": now() - 3600}))),
        )
        .await;
        assert_401(&r, "expired");
        let r = call(
            a,
            "/prod/me",
            &sign(&rsa, &claims(json!({"nbf": now() + 3600}))),
        )
        .await;
        assert_401(&r, "not valid yet");
        let r = call(
            a,
            "/prod/me",
            &sign(&rsa, &claims(json!({"iss": "https://evil.example.test/"}))),
        )
        .await;
        assert_401(&r, "issuer");
        let r = call(
            a,
            "/prod/me",
            &sign(&rsa, &claims(json!({"aud": "other-api"}))),
        )
        .await;
        assert_401(&r, "audience");

        // A key the provider does not publish, under a published kid: the signature fails.
        let impostor = tokio::task::spawn_blocking(|| rsa_key("rsa-1"))
            .await
            .unwrap();
        let r = call(a, "/prod/me", &sign(&impostor, &claims(json!({})))).await;
        assert_401(&r, "signature");

        // alg none, and HS256 signed with the RSA public key (key confusion).
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
            b64(claims(json!({})).to_string().as_bytes())
        );
        assert_401(&call(a, "/prod/me", &none).await, "invalid_token");
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some("rsa-1".into());
        let confused = encode(
            &hs,
            &claims(json!({})),
            &EncodingKey::from_secret(&rsa.public_pem),
        )
        .unwrap();
        assert_401(&call(a, "/prod/me", &confused).await, "algorithm");
        assert_eq!(get(a, "/prod/me", None).await.status, 401, "no token");

        // Scopes: one of the route's, from `scope` or `scp`.
        let r = call(
            a,
            "/prod/write",
            &sign(&rsa, &claims(json!({"scope": "orders/read"}))),
        )
        .await;
        assert_401(&r, "insufficient_scope");
        let ok = sign(&rsa, &claims(json!({"scope": "openid orders/write"})));
        assert_eq!(call(a, "/prod/write", &ok).await.status, 200);
        let ok = sign(&rsa, &claims(json!({"scp": ["orders/write"]})));
        assert_eq!(call(a, "/prod/write", &ok).await.status, 200);

        // A key rotation: a token with a new kid makes one refresh, then verifies.
        let fetched = jwks.fetches.load(Ordering::SeqCst);
        let rotated = ec_key("ec-2");
        jwks.keys.lock().unwrap().push(rotated.jwk.clone());
        assert_eq!(
            call(a, "/prod/me", &sign(&rotated, &claims(json!({}))))
                .await
                .status,
            200
        );
        assert_eq!(
            jwks.fetches.load(Ordering::SeqCst),
            fetched + 1,
            "one refresh for the new kid"
        );
        // Unknown kids do not make the gateway fetch again and again.
        let stranger = ec_key("nobody");
        for _ in 0..5 {
            assert_401(
                &call(a, "/prod/me", &sign(&stranger, &claims(json!({})))).await,
                "kid",
            );
        }
        assert!(
            jwks.fetches.load(Ordering::SeqCst) <= fetched + 2,
            "refreshes are rate-limited"
        );

        // Keys from a file.
        assert_eq!(
            call(a, "/prod/pinned", &sign(&pinned, &claims(json!({}))))
                .await
                .status,
            200
        );
        assert_401(
            &call(a, "/prod/pinned", &sign(&rsa, &claims(json!({})))).await,
            "kid",
        );

        // Cognito: the pool's issuer; an ID token without scopes, an access token with them.
        let pool = |extra: Value| {
            let mut c = claims(extra);
            c["iss"] = json!(POOL_ISSUER);
            c
        };
        let id = sign(
            &rsa,
            &pool(json!({"token_use": "id", "email": "bo@example.test"})),
        );
        let access = sign(
            &rsa,
            &pool(
                json!({"token_use": "access", "scope": "orders/read", "aud": null, "client_id": "app"}),
            ),
        );
        let r = call(a, "/prod/pool/id", &id).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["email"], "bo@example.test");
        assert_401(&call(a, "/prod/pool/id", &access).await, "ID token");
        assert_eq!(call(a, "/prod/pool/access", &access).await.status, 200);
        assert_401(&call(a, "/prod/pool/access", &id).await, "access token");
        let r = call(
            a,
            "/prod/pool/id",
            &sign(&rsa, &claims(json!({"token_use": "id"}))),
        )
        .await;
        assert_401(&r, "issuer");
        assert!(!gw.logs().contains(&id), "a token never reaches the log");

        // A reload keeps the fetched key set without asking the provider again.
        let fetched = jwks.fetches.load(Ordering::SeqCst);
        dir.put_stage("prod", &Stage::new("shop", "shop-1").var("reloaded", "yes"));
        common::eventually("the reload is served", Duration::from_secs(10), || async {
            let config = gw
                .admin_get("/config")
                .await
                .map(|r| r.text())
                .unwrap_or_default();
            config.contains("reloaded")
        })
        .await;
        assert_eq!(
            call(a, "/prod/me", &sign(&rotated, &claims(json!({}))))
                .await
                .status,
            200
        );
        assert_eq!(
            jwks.fetches.load(Ordering::SeqCst),
            fetched,
            "no fetch on reload"
        );
    }
}
