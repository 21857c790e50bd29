//! The hardening tests' configuration and error check, shared by `tests/e2e/hardening.rs` and
//! the timed ones of `tests/timing/hardening.rs`. Deployments and stages are written as JSON,
//! which YAML reads, so that the per-route `throttle:` and `fault:` keys need no builder of their
//! own.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::{ConfigDir, Reply};

pub const API: &str = "shop";

/// Writes `deployments/ID.yaml` with `routes` (a JSON array of route definitions).
pub fn put_deployment(dir: &ConfigDir, id: &str, routes: Value) {
    dir.write(
        &ConfigDir::deployment_file(id),
        &format!("api: \"{API}\"\nroutes: {routes}\n"),
    );
}

/// Writes `stages/NAME.yaml` on deployment `id`, plus the keys of `extra` (`throttle`,
/// `fault`, `variables`, ...).
pub fn put_stage(dir: &ConfigDir, name: &str, id: &str, extra: Value) {
    let mut stage = json!({"api": API, "deployment": id});
    if let (Some(s), Value::Object(e)) = (stage.as_object_mut(), extra) {
        s.extend(e);
    }
    dir.write(&ConfigDir::stage_file(name), &format!("{stage}\n"));
}

/// An `http_proxy` route.
pub fn proxy(route: &str, uri: &str) -> Value {
    json!({"route": route, "integration": {"type": "http_proxy", "uri": uri}})
}

/// `proxy(route, uri)` with `key: value` added to the route (`throttle`, `fault`).
pub fn proxy_with(route: &str, uri: &str, key: &str, value: Value) -> Value {
    let mut r = proxy(route, uri);
    r[key] = value;
    r
}

/// Everything below the stage to `backend`, path unchanged (`ANY /` and `ANY /{proxy+}`).
pub fn catch_all(backend: SocketAddr) -> Value {
    json!([
        proxy("ANY /", &format!("http://{backend}/")),
        proxy("ANY /{proxy+}", &format!("http://{backend}/{{proxy}}")),
    ])
}

/// Asserts a gateway error: status, JSON `{"message": MESSAGE}`, JSON content type, request id.
pub fn assert_gateway_error(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "status; body: {}", r.text());
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?} on a {status}, expected application/json"
    );
    assert_eq!(r.json(), json!({ "message": message }), "error body");
    let id = r.header("x-request-id").unwrap_or_default();
    assert!(!id.trim().is_empty(), "no x-request-id on a {status}");
}
