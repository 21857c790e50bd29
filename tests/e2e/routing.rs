//! Request routing through the real gateway: stage selection (name, host, base path),
//! route precedence, errors, what reaches the backend, stage variables in URIs.

use crate::common;

use std::collections::BTreeSet;

use common::{
    dead_addr, get, get_with, Backend, BackendSpec, ConfigDir, Deployment, Gateway, Reply, Stage,
};
use http::Method;

/// Asserts a gateway error: status, JSON `{"message": MESSAGE}`, JSON content type, request id.
fn assert_gateway_error(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "status; body: {}", r.text());
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?}, expected application/json"
    );
    assert_eq!(
        r.json(),
        serde_json::json!({ "message": message }),
        "error body"
    );
    assert_request_id(r);
}

fn assert_request_id(r: &Reply) -> String {
    let id = r
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on a {} response", r.status));
    assert!(!id.trim().is_empty(), "empty x-request-id");
    id.to_string()
}

/// Asserts a 200 answered by `backend` that saw `path` and `query`.
fn assert_served(r: &Reply, backend: &str, path: &str, query: Option<&str>) {
    assert_eq!(r.status, 200, "status; body: {}", r.text());
    assert_eq!(
        r.backend(),
        Some(backend),
        "answering backend; body: {}",
        r.text()
    );
    assert_eq!(r.seen("path"), path, "path seen by the backend");
    let want_query = query.map_or(serde_json::Value::Null, |q| q.into());
    assert_eq!(r.seen("query"), want_query, "query seen by the backend");
}

#[tokio::test]
async fn stages_are_selected_by_name_and_strip_their_base_path() {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", a.addr()));
    dir.put_deployment("shop-2", &Deployment::catch_all("shop", b.addr()));
    // Default base paths: /prod and /beta.
    dir.put_stage("prod", &Stage::new("shop", "shop-1"));
    dir.put_stage("beta", &Stage::new("shop", "shop-2"));
    let gw = Gateway::start(&dir).await;

    assert_served(&get(gw.addr(), "/prod/who").await, "A", "/who", None);
    assert_served(&get(gw.addr(), "/beta/who").await, "B", "/who", None);
    assert_served(&get(gw.addr(), "/beta/a/b/c").await, "B", "/a/b/c", None);
    assert_served(&get(gw.addr(), "/prod").await, "A", "/", None);
    assert_served(&get(gw.addr(), "/prod/").await, "A", "/", None);
}

#[tokio::test]
async fn stages_with_the_same_base_path_are_selected_by_host() {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", a.addr()));
    dir.put_deployment("shop-2", &Deployment::catch_all("shop", b.addr()));
    dir.put_stage(
        "a",
        &Stage::new("shop", "shop-1")
            .base_path("/api")
            .host("a.example.test"),
    );
    dir.put_stage(
        "b",
        &Stage::new("shop", "shop-2")
            .base_path("/api")
            .host("b.example.test"),
    );
    let gw = Gateway::start(&dir).await;

    let via = |host: &'static str| {
        let addr = gw.addr();
        async move { get_with(addr, Method::GET, "/api/x", &[("host", host)]).await }
    };
    assert_served(&via("a.example.test").await, "A", "/x", None);
    assert_served(&via("b.example.test").await, "B", "/x", None);
    // No stage serves this host.
    assert_gateway_error(&via("c.example.test").await, 404, "Not Found");
}

/// Not spelled out by AWS; what nginx users expect: `Host: a.example.test:8080`
/// (any client talking to a non-default port sends one) and `Host: A.Example.TEST` select
/// the stage whose `host` is `a.example.test` (RFC 9110: the host is case-insensitive).
#[tokio::test]
async fn host_match_ignores_port_and_case() {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", a.addr()));
    dir.put_deployment("shop-2", &Deployment::catch_all("shop", b.addr()));
    dir.put_stage(
        "a",
        &Stage::new("shop", "shop-1")
            .base_path("/api")
            .host("a.example.test"),
    );
    dir.put_stage(
        "b",
        &Stage::new("shop", "shop-2")
            .base_path("/api")
            .host("b.example.test"),
    );
    let gw = Gateway::start(&dir).await;

    for host in ["a.example.test:8080", "A.Example.TEST"] {
        let r = get_with(gw.addr(), Method::GET, "/api/x", &[("host", host)]).await;
        assert_eq!(r.status, 200, "Host: {host}: {}", r.text());
        assert_eq!(r.backend(), Some("A"), "Host: {host}");
    }
}

#[tokio::test]
async fn longest_base_path_wins_and_root_stage_takes_the_rest() {
    let root = Backend::start("root").await;
    let api = Backend::start("api").await;
    let v2 = Backend::start("v2").await;
    let dir = ConfigDir::new();
    dir.put_deployment("d-root", &Deployment::catch_all("shop", root.addr()));
    dir.put_deployment("d-api", &Deployment::catch_all("shop", api.addr()));
    dir.put_deployment("d-v2", &Deployment::catch_all("shop", v2.addr()));
    dir.put_stage("root", &Stage::new("shop", "d-root").base_path("/"));
    dir.put_stage("api", &Stage::new("shop", "d-api").base_path("/api"));
    dir.put_stage("apiv2", &Stage::new("shop", "d-v2").base_path("/api/v2"));
    let gw = Gateway::start(&dir).await;

    assert_served(
        &get(gw.addr(), "/api/v2/orders").await,
        "v2",
        "/orders",
        None,
    );
    assert_served(&get(gw.addr(), "/api/v2").await, "v2", "/", None);
    assert_served(&get(gw.addr(), "/api/orders").await, "api", "/orders", None);
    assert_served(
        &get(gw.addr(), "/api/v3/orders").await,
        "api",
        "/v3/orders",
        None,
    );
    assert_served(&get(gw.addr(), "/api").await, "api", "/", None);
    assert_served(&get(gw.addr(), "/other/x").await, "root", "/other/x", None);
    assert_served(&get(gw.addr(), "/").await, "root", "/", None);
}

/// A base path is a whole path segment, as in API Gateway base path mappings:
/// `/api` serves `/api` and `/api/...` but not `/apix`.
#[tokio::test]
async fn base_path_matches_whole_segments_only() {
    let root = Backend::start("root").await;
    let api = Backend::start("api").await;
    let dir = ConfigDir::new();
    dir.put_deployment("d-root", &Deployment::catch_all("shop", root.addr()));
    dir.put_deployment("d-api", &Deployment::catch_all("shop", api.addr()));
    dir.put_stage("root", &Stage::new("shop", "d-root").base_path("/"));
    dir.put_stage("api", &Stage::new("shop", "d-api").base_path("/api"));
    let gw = Gateway::start(&dir).await;

    assert_served(&get(gw.addr(), "/apix").await, "root", "/apix", None);
    assert_served(&get(gw.addr(), "/api/x").await, "api", "/x", None);
}

#[tokio::test]
async fn literal_beats_param_beats_greedy_and_method_beats_any() {
    let be = Backend::start("B").await;
    let u = |p: &str| format!("http://{}{p}", be.addr());
    // Least specific routes first, so file order cannot be what decides.
    let d = Deployment::new("shop")
        .proxy("GET /items/{rest+}", &u("/greedy/{rest}"))
        .proxy("GET /items/{id}", &u("/param/{id}"))
        .proxy("GET /items/special", &u("/literal"))
        .proxy("ANY /things", &u("/any"))
        .proxy("GET /things", &u("/get"));
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    assert_served(
        &get(gw.addr(), "/s/items/special").await,
        "B",
        "/literal",
        None,
    );
    assert_served(&get(gw.addr(), "/s/items/42").await, "B", "/param/42", None);
    assert_served(
        &get(gw.addr(), "/s/items/42/sub/x").await,
        "B",
        "/greedy/42/sub/x",
        None,
    );
    assert_served(&get(gw.addr(), "/s/things").await, "B", "/get", None);
    for method in [Method::POST, Method::DELETE, Method::PUT] {
        let r = get_with(gw.addr(), method.clone(), "/s/things", &[]).await;
        assert_served(&r, "B", "/any", None);
        assert_eq!(r.seen("method"), method.as_str(), "method forwarded");
    }
}

#[tokio::test]
async fn unknown_stage_and_unknown_route_are_404_json() {
    let be = Backend::start("B").await;
    let d = Deployment::new("shop").proxy("GET /orders", &format!("http://{}/orders", be.addr()));
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    assert_gateway_error(&get(gw.addr(), "/nostage/orders").await, 404, "Not Found");
    assert_gateway_error(&get(gw.addr(), "/s/nope").await, 404, "Not Found");
    assert_gateway_error(&get(gw.addr(), "/s/orders/1").await, 404, "Not Found");
    assert_eq!(be.requests(), 0, "nothing reached the backend");
}

#[tokio::test]
async fn wrong_method_is_405_json_with_allow() {
    let be = Backend::start("B").await;
    let u = format!("http://{}/orders", be.addr());
    let d = Deployment::new("shop")
        .proxy("GET /orders", &u)
        .proxy("POST /orders", &u);
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    let r = get_with(gw.addr(), Method::DELETE, "/s/orders", &[]).await;
    assert_gateway_error(&r, 405, "Method Not Allowed");
    let allow: BTreeSet<String> = r
        .header("allow")
        .expect("405 without Allow header")
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .collect();
    assert_eq!(
        allow,
        BTreeSet::from(["GET".to_string(), "POST".to_string()]),
        "Allow header"
    );
    assert_eq!(be.requests(), 0, "nothing reached the backend");
}

#[tokio::test]
async fn path_params_greedy_params_and_query_reach_the_backend() {
    let be = Backend::start("B").await;
    let u = |p: &str| format!("http://{}{p}", be.addr());
    let d = Deployment::new("shop")
        .proxy("GET /users/{id}/orders/{order}", &u("/u/{id}/o/{order}"))
        .proxy("ANY /files/{path+}", &u("/store/{path}"));
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    let r = get(
        gw.addr(),
        "/s/users/7/orders/abc%20d?x=1&y=a%2Fb&x=2&empty=",
    )
    .await;
    assert_served(&r, "B", "/u/7/o/abc%20d", Some("x=1&y=a%2Fb&x=2&empty="));

    let r = get(gw.addr(), "/s/files/a/b/c.txt?download=1").await;
    assert_served(&r, "B", "/store/a/b/c.txt", Some("download=1"));

    let r = get_with(gw.addr(), Method::PUT, "/s/files/one", &[]).await;
    assert_served(&r, "B", "/store/one", None);
    assert_eq!(r.seen("method"), "PUT");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_and_forwarded_headers_set() {
    let be = Backend::start("B").await;
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", be.addr()));
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    let r = get_with(
        gw.addr(),
        Method::GET,
        "/s/h",
        &[
            ("host", "shop.example.test"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "must not pass"),
            ("keep-alive", "timeout=5"),
            ("x-end-to-end", "kept"),
        ],
    )
    .await;
    assert_served(&r, "B", "/h", None);
    assert_eq!(r.seen_header("x-end-to-end").as_deref(), Some("kept"));
    assert_eq!(
        r.seen_header("x-hop"),
        None,
        "header named in Connection was forwarded"
    );
    assert_eq!(
        r.seen_header("keep-alive"),
        None,
        "keep-alive was forwarded"
    );
    if let Some(conn) = r.seen_header("connection") {
        assert!(
            !conn.contains("x-hop"),
            "client's Connection header forwarded: {conn}"
        );
    }
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(r.seen_header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        r.seen_header("x-forwarded-host").as_deref(),
        Some("shop.example.test")
    );

    // With an incoming X-Forwarded-For the client's address is still the last hop.
    let r = get_with(
        gw.addr(),
        Method::GET,
        "/s/h",
        &[("x-forwarded-for", "203.0.113.9")],
    )
    .await;
    let xff = r.seen_header("x-forwarded-for").expect("x-forwarded-for");
    let last = xff.rsplit(',').next().unwrap().trim();
    assert_eq!(last, "127.0.0.1", "x-forwarded-for {xff:?}");
}

#[tokio::test]
async fn every_response_has_a_request_id_shared_with_the_backend() {
    let be = Backend::start("B").await;
    let u = format!("http://{}/orders", be.addr());
    let d = Deployment::new("shop").proxy("GET /orders", &u);
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    let r1 = get(gw.addr(), "/s/orders").await;
    assert_eq!(r1.status, 200);
    let id1 = assert_request_id(&r1);
    assert_eq!(
        r1.seen_header("x-request-id"),
        Some(id1.clone()),
        "backend saw another id"
    );

    let r2 = get(gw.addr(), "/s/orders").await;
    let id2 = assert_request_id(&r2);
    assert_ne!(id1, id2, "two requests share an id");

    assert_request_id(&get(gw.addr(), "/nostage").await);
    assert_request_id(&get(gw.addr(), "/s/missing").await);
    assert_request_id(&get_with(gw.addr(), Method::POST, "/s/orders", &[]).await);
}

#[tokio::test]
async fn stage_variables_fill_uri_host_port_path_and_query() {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let d = Deployment::new("shop")
        .proxy(
            "GET /a",
            "http://127.0.0.1:${stageVariables.port}/v/${stageVariables.ver}/x?env=${stageVariables.env}",
        )
        .proxy("GET /b/{id}", "http://${stageVariables.hostport}/b/${stageVariables.ver}/{id}")
        .proxy("GET /c", "backend://svc:${stageVariables.alias}/c");
    let dir = ConfigDir::new();
    dir.set_backends(&[BackendSpec::new("svc")
        .version("v1", [a.addr()])
        .version("v2", [b.addr()])
        .alias("live", [("v1", 100)])]);
    dir.put_deployment("shop-1", &d);
    // One deployment, two stages: each resolves the URIs with its own variables.
    let stage = |be: &Backend, ver: &str, env: &str, alias: &str| {
        Stage::new("shop", "shop-1")
            .var("port", &be.addr().port().to_string())
            .var("hostport", &be.addr().to_string())
            .var("ver", ver)
            .var("env", env)
            .var("alias", alias)
    };
    dir.put_stage("one", &stage(&a, "v7", "test", "live"));
    dir.put_stage("two", &stage(&b, "v8", "prod", "v2"));
    let gw = Gateway::start(&dir).await;

    assert_served(
        &get(gw.addr(), "/one/a").await,
        "A",
        "/v/v7/x",
        Some("env=test"),
    );
    assert_served(
        &get(gw.addr(), "/two/a").await,
        "B",
        "/v/v8/x",
        Some("env=prod"),
    );
    assert_served(&get(gw.addr(), "/one/b/42").await, "A", "/b/v7/42", None);
    assert_served(&get(gw.addr(), "/two/b/42").await, "B", "/b/v8/42", None);
    assert_served(&get(gw.addr(), "/one/c").await, "A", "/c", None);
    assert_served(&get(gw.addr(), "/two/c").await, "B", "/c", None);
}

#[tokio::test]
async fn undefined_stage_variable_is_500_json() {
    let be = Backend::start("B").await;
    let d = Deployment::new("shop")
        .proxy(
            "GET /u",
            &format!("http://{}/u/${{stageVariables.nope}}", be.addr()),
        )
        .proxy("GET /h", "http://${stageVariables.missinghost}/h")
        .proxy("GET /ok", &format!("http://{}/ok", be.addr()));
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1").var("other", "x"));
    let gw = Gateway::start(&dir).await;

    assert_gateway_error(&get(gw.addr(), "/s/u").await, 500, "Internal server error");
    assert_gateway_error(&get(gw.addr(), "/s/h").await, 500, "Internal server error");
    // The rest of the stage serves normally.
    assert_served(&get(gw.addr(), "/s/ok").await, "B", "/ok", None);
    assert_eq!(be.requests(), 1, "only /ok reached the backend");
}

#[tokio::test]
async fn backend_down_is_502_json() {
    let down = dead_addr();
    let d = Deployment::new("shop")
        .proxy("GET /direct", &format!("http://{down}/x"))
        .proxy("GET /named", "backend://svc:live/x");
    let dir = ConfigDir::new();
    dir.set_backends(&[BackendSpec::new("svc")
        .version("v1", [down])
        .alias("live", [("v1", 1)])]);
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    assert_gateway_error(&get(gw.addr(), "/s/direct").await, 502, "Bad Gateway");
    assert_gateway_error(&get(gw.addr(), "/s/named").await, 502, "Bad Gateway");
}

#[tokio::test]
async fn backend_uri_selects_a_version_directly_or_through_an_alias() {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let d = Deployment::new("shop")
        .proxy("GET /live/{p+}", "backend://svc:live/{p}")
        .proxy("GET /next/{p+}", "backend://svc:next/{p}")
        .proxy("GET /pinned/{p+}", "backend://svc:v1/pinned/{p}");
    let dir = ConfigDir::new();
    dir.set_backends(&[BackendSpec::new("svc")
        .version("v1", [a.addr()])
        .version("v2", [b.addr()])
        .alias("live", [("v1", 100), ("v2", 0)])
        .alias("next", [("v2", 100)])]);
    dir.put_deployment("shop-1", &d);
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;

    for _ in 0..5 {
        assert_served(
            &get(gw.addr(), "/s/live/x?q=1").await,
            "A",
            "/x",
            Some("q=1"),
        );
        assert_served(&get(gw.addr(), "/s/next/y/z").await, "B", "/y/z", None);
        assert_served(&get(gw.addr(), "/s/pinned/k").await, "A", "/pinned/k", None);
    }
}

/// Upstream connections are pooled: 50 sequential requests from 50 separate client
/// connections reach the backend over far fewer connections (one, when nothing runs in
/// parallel), across a reload too, since the pool is keyed by the peer, not the snapshot.
#[tokio::test]
async fn upstream_connections_are_pooled_and_reused() {
    let a = Backend::start("A").await;
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", a.addr()));
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;
    for i in 0..25 {
        assert_served(
            &get(gw.addr(), &format!("/s/p{i}")).await,
            "A",
            &format!("/p{i}"),
            None,
        );
    }
    // A reload that keeps the same backend keeps its pooled connections.
    dir.put_stage("s", &Stage::new("shop", "shop-1").var("unused", "x"));
    common::eventually(
        "stage variable change served",
        std::time::Duration::from_secs(20),
        || async {
            gw.admin_get("/config")
                .await
                .is_some_and(|r| r.text().contains("unused"))
        },
    )
    .await;
    for i in 25..50 {
        assert_served(
            &get(gw.addr(), &format!("/s/p{i}")).await,
            "A",
            &format!("/p{i}"),
            None,
        );
    }
    assert_eq!(a.requests(), 50);
    assert!(
        a.connections() <= 3,
        "50 sequential requests used {} upstream connections",
        a.connections()
    );
}
