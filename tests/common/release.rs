//! The lifecycle tests' commands and fixture, shared by `tests/e2e/release.rs` and the timed
//! deploy of `tests/timing/release.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use http::Method;
use serde_json::Value;

use super::{run_cli, Backend, BackendSpec, Client, ConfigDir, Gateway};

/// `apis/shop.yaml` with one route per `(route, uri)`.
pub fn draft(routes: &[(&str, &str)]) -> String {
    let mut out = String::from("# The shop API: a draft, served only once deployed.\nroutes:\n");
    for (route, uri) in routes {
        out.push_str(&format!(
            "  - route: \"{route}\"\n    integration:\n      type: http_proxy\n      uri: \"{uri}\"\n"
        ));
    }
    out
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(dir: &ConfigDir, args: &[&str]) -> String {
    let (code, out, err) = run_cli(dir.path(), args);
    assert_eq!(
        code, 0,
        "stagecraft {args:?} failed\nstdout: {out}\nstderr: {err}"
    );
    out
}

pub fn deploy(dir: &ConfigDir, stage: &str, description: &str) -> String {
    let out = ok(
        dir,
        &[
            "deploy",
            "--api",
            "shop",
            "--stage",
            stage,
            "--description",
            description,
        ],
    );
    // stdout is exactly the id, for scripts.
    let id = out.trim_end_matches('\n');
    assert!(
        !id.is_empty() && !id.contains(char::is_whitespace),
        "deploy printed {out:?}"
    );
    id.to_string()
}

pub fn json(dir: &ConfigDir, args: &[&str]) -> Value {
    let out = ok(dir, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{out}"))
}

pub fn read(dir: &ConfigDir, rel: &str) -> String {
    std::fs::read_to_string(dir.path().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// `n` requests on one keep-alive connection, counted by backend (every answer must be 200).
pub async fn count(
    addr: SocketAddr,
    path: &str,
    n: usize,
    headers: &[(&str, &str)],
) -> BTreeMap<String, usize> {
    let mut c = Client::connect(addr).await;
    let mut seen = BTreeMap::new();
    for i in 0..n {
        let r = c
            .request(Method::GET, path, headers, bytes::Bytes::new())
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        *seen
            .entry(r.backend().expect("x-backend").to_string())
            .or_default() += 1;
    }
    seen
}

/// Backends v1 and v2 as versions of `svc` (alias `live` = 95% v1, 5% v2), the draft sending
/// `GET /who` to `uri`, and a gateway serving no stage yet.
pub struct Fixture {
    pub v1: Backend,
    pub v2: Backend,
    pub dir: ConfigDir,
    pub gw: Gateway,
}

pub async fn fixture(uri: &str) -> Fixture {
    let v1 = Backend::start("v1").await;
    let v2 = Backend::start("v2").await;
    let dir = ConfigDir::new();
    dir.set_backends(&[BackendSpec::new("svc")
        .version("v1", [v1.addr()])
        .version("v2", [v2.addr()])
        .alias("live", [("v1", 95), ("v2", 5)])]);
    dir.write("apis/shop.yaml", &draft(&[("GET /who", uri)]));
    let gw = Gateway::start(&dir).await;
    Fixture { v1, v2, dir, gw }
}

/// Lets `token` write through the admin API (its SHA-256 in `admin-tokens`, named by
/// `admin_auth`); call before `Gateway::start`.
pub fn allow_admin_writes(dir: &ConfigDir, token: &str) {
    let hash = super::sha256_hex(token.as_bytes());
    dir.write("admin-tokens", &format!("# the tests' operator\n{hash}\n"));
    dir.set_gateway_key(
        "admin_auth",
        serde_json::json!({ "tokens_file": "admin-tokens" }),
    );
}

/// `svc`'s versions `v1` and `v2`, each alone behind an alias: `live` is v1, `next` is v2.
pub fn live_and_next(v1: &Backend, v2: &Backend) -> BackendSpec {
    BackendSpec::new("svc")
        .version("v1", [v1.addr()])
        .version("v2", [v2.addr()])
        .alias("live", [("v1", 100)])
        .alias("next", [("v2", 100)])
}

/// API key `name` with `value`, in plan `gold` of stage `shop/prod`.
pub fn create_key(dir: &ConfigDir, name: &str, value: &str) {
    dir.write("usage-plans/gold.yaml", "stages: [\"shop/prod\"]\n");
    ok(
        dir,
        &[
            "keys", "create", "--name", name, "--plan", "gold", "--value", value,
        ],
    );
}
