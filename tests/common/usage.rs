//! Fixtures of the API-key and usage-plan tests, shared by the parallel ones (`tests/e2e/usage_*`)
//! and the timed one (`tests/timing/usage.rs`): an API whose routes take keys, plans and keys
//! written as files, and requests with a key.

use super::{Client, ConfigDir, Gateway, Reply, Stage};

use std::net::SocketAddr;

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

pub const SKEW_ENV: &str = "STAGECRAFT_USAGE_CLOCK_SKEW_SECONDS";

/// A mock answering who the gateway thinks is calling.
pub fn whoami() -> Value {
    json!({
        "type": "mock",
        "request_templates": {"application/json": "{\"statusCode\": 200}"},
        "responses": [{"status": 200, "templates": {"application/json":
            "{\"id\": \"$context.identity.apiKeyId\", \"key\": \"$context.identity.apiKey\"}"}}],
    })
}

/// API `shop`, deployment `shop-1`: keyed `GET /orders` and `POST /orders`, open `GET /open`.
pub fn shop() -> Value {
    json!({
        "api": "shop",
        "routes": [
            {"route": "GET /orders", "api_key_required": true, "integration": whoami()},
            {"route": "POST /orders", "api_key_required": true, "integration": whoami()},
            {"route": "GET /open", "integration": whoami()},
        ],
    })
}

/// `dir` serving `shop` on stage `prod` (and `beta`), with these plans (name -> YAML).
pub fn setup(dir: &ConfigDir, plans: &[(&str, Value)]) {
    // For the commands run before a gateway starts (which writes its own).
    dir.write("gateway.yaml", "listen: [\"127.0.0.1:1\"]\n");
    dir.write(&ConfigDir::deployment_file("shop-1"), &shop().to_string());
    dir.put_stage("prod", &Stage::new("shop", "shop-1"));
    dir.put_stage("beta", &Stage::new("shop", "shop-1"));
    for (name, plan) in plans {
        dir.write(&format!("usage-plans/{name}.yaml"), &plan.to_string());
    }
}

/// Writes `api-keys/NAME.yaml` for `value` (what `keys create --value` writes).
pub fn put_key(dir: &ConfigDir, name: &str, value: &str, plans: &[&str], enabled: bool) {
    let doc = json!({
        "hash": format!("sha256:{}", super::sha256_hex(value.as_bytes())),
        "enabled": enabled,
        "plans": plans,
    });
    dir.write(&format!("api-keys/{name}.yaml"), &doc.to_string());
}

pub async fn call(addr: SocketAddr, method: Method, path: &str, key: Option<&str>) -> Reply {
    let mut c = Client::connect(addr).await;
    let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
    c.request(method.clone(), path, &headers, Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub async fn get(addr: SocketAddr, key: Option<&str>) -> Reply {
    call(addr, Method::GET, "/prod/orders", key).await
}

pub fn assert_refused(r: &Reply, status: u16, message: &str, error_type: &str) {
    assert_eq!(r.status, status, "body {}", r.text());
    assert_eq!(r.json(), json!({ "message": message }));
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some(error_type),
        "{:?}",
        r.headers
    );
}

pub fn assert_over_quota(r: &Reply) {
    assert_refused(r, 429, "Limit Exceeded", "LimitExceededException");
}

pub async fn metric(gw: &Gateway, line_prefix: &str) -> u64 {
    let text = gw.admin_get("/metrics").await.unwrap().text();
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}
