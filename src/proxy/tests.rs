//! Unit tests of the pipeline's steps on compiled snapshots: `decide` (stage precedence,
//! canary and sticky, 404/405, throttle, fault) and admit on a real pingora session over an
//! in-memory connection (400, 413, 414, 431 and the bytes the writer puts on the wire).

#![allow(clippy::unwrap_used)]

use super::admit;
use super::context::{Labels, RequestCtx};
use super::respond::{self, GatewayError, Refusal};
use super::route::{decide, Decision};
use crate::config::{self, SourceSet};
use crate::snapshot::load::load_sources;
use crate::snapshot::{Carried, Snapshot};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A snapshot compiled from files given as (relative path, YAML).
fn snapshot(files: &[(&str, &str)]) -> Arc<Snapshot> {
    let sources = SourceSet::in_memory(files);
    match load_sources(&sources, &Carried::default(), 1) {
        Ok(loaded) => Arc::new(loaded.snapshot),
        Err(rejected) => panic!("{}", config::Problems::from(rejected)),
    }
}

const GATEWAY: &str = "listen: [\"127.0.0.1:1\"]\nlimits: { max_body_bytes: 100, max_url_bytes: 64, max_headers: 8, max_header_bytes: 256 }\n";

fn deployment(routes: &[&str]) -> String {
    let mut out = String::from("api: shop\nroutes:\n");
    for r in routes {
        out.push_str(&format!(
            "  - route: \"{r}\"\n    integration: {{ type: mock, request_templates: {{ application/json: '{{\"statusCode\": 200}}' }}, responses: [{{ status: 200 }}] }}\n"
        ));
    }
    out
}

fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHeader {
    let mut r = RequestHeader::build(method, path.as_bytes(), None).unwrap();
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).unwrap();
    }
    r
}

/// What `decide` did with a request: `stage deployment status-or-"call"`.
fn outcome(s: &Snapshot, r: &RequestHeader) -> String {
    let mut labels = Labels::default();
    let (routed, _) = decide(s, r, &mut labels);
    let what = match routed.decision {
        Decision::Forward(_) => "forward".to_string(),
        Decision::Buffered(_) => "call".to_string(),
        Decision::Preflight => "preflight".to_string(),
        Decision::Refuse(r) => r.error.status().to_string(),
    };
    format!(
        "{} {} {what}",
        labels.stage.as_deref().unwrap_or("-"),
        labels.deployment.as_deref().unwrap_or("-")
    )
}

#[test]
fn stages_are_chosen_by_host_then_longest_base_path() {
    let d = deployment(&["GET /x"]);
    let s = snapshot(&[
        ("gateway.yaml", GATEWAY),
        ("deployments/d1.yaml", &d),
        ("deployments/d2.yaml", &d),
        ("deployments/d3.yaml", &d),
        ("stages/prod.yaml", "api: shop\ndeployment: d1\n"),
        (
            "stages/deep.yaml",
            "api: shop\ndeployment: d2\nbase_path: /prod/deep\n",
        ),
        (
            "stages/hosted.yaml",
            "api: shop\ndeployment: d3\nbase_path: /prod\nhost: api.example.com\n",
        ),
    ]);
    assert_eq!(outcome(&s, &req("GET", "/prod/x", &[])), "prod d1 call");
    assert_eq!(
        outcome(&s, &req("GET", "/prod/deep/x", &[])),
        "deep d2 call"
    );
    // Whole segments only: /production is not under /prod.
    assert_eq!(outcome(&s, &req("GET", "/production/x", &[])), "- - 404");
    // A stage bound to the host beats an any-host stage with the same base path; case and port
    // of the host do not matter.
    let host = [("host", "API.example.com:8443")];
    assert_eq!(outcome(&s, &req("GET", "/prod/x", &host)), "hosted d3 call");
}

#[test]
fn routes_answer_404_and_405_with_allow() {
    let d = deployment(&["GET /orders/{id}", "DELETE /orders/{id}"]);
    let s = snapshot(&[
        ("gateway.yaml", GATEWAY),
        ("deployments/d1.yaml", &d),
        ("stages/prod.yaml", "api: shop\ndeployment: d1\n"),
    ]);
    assert_eq!(
        outcome(&s, &req("GET", "/prod/orders/1", &[])),
        "prod d1 call"
    );
    assert_eq!(outcome(&s, &req("GET", "/prod/nope", &[])), "prod d1 404");
    let mut labels = Labels::default();
    let (routed, _) = decide(&s, &req("POST", "/prod/orders/1", &[]), &mut labels);
    let Decision::Refuse(Refusal {
        error: GatewayError::MethodNotAllowed,
        header: Some((name, allow)),
        ..
    }) = routed.decision
    else {
        panic!("not a 405 with a header");
    };
    assert_eq!(name, http::header::ALLOW);
    assert!(allow.contains("GET") && allow.contains("DELETE"), "{allow}");
    assert_eq!(labels.resource_path, None);
}

#[test]
fn canaries_take_their_percent_and_sticky_keys_stay_on_one_side() {
    let d = deployment(&["GET /x"]);
    let files = |canary: &str| {
        vec![
            ("gateway.yaml".to_string(), GATEWAY.to_string()),
            ("deployments/d1.yaml".to_string(), d.clone()),
            ("deployments/d2.yaml".to_string(), d.clone()),
            (
                "stages/prod.yaml".to_string(),
                format!("api: shop\ndeployment: d1\ncanary: {canary}\n"),
            ),
        ]
    };
    let build = |canary: &str| {
        let f = files(canary);
        let refs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        snapshot(&refs)
    };
    let all = build("{ deployment: d2, percent: 100 }");
    let none = build("{ deployment: d2, percent: 0 }");
    for _ in 0..50 {
        assert_eq!(outcome(&all, &req("GET", "/prod/x", &[])), "prod d2 call");
        assert_eq!(outcome(&none, &req("GET", "/prod/x", &[])), "prod d1 call");
    }
    let mut labels = Labels::default();
    decide(&all, &req("GET", "/prod/x", &[]), &mut labels);
    assert!(labels.canary);
    // Sticky at 50%: each user always lands on the same side, and both sides get users.
    let sticky = build("{ deployment: d2, percent: 50, sticky: \"header:x-user\" }");
    let mut sides = std::collections::BTreeSet::new();
    for user in 0..64 {
        let u = user.to_string();
        let r = req("GET", "/prod/x", &[("x-user", &u)]);
        let first = outcome(&sticky, &r);
        for _ in 0..5 {
            assert_eq!(outcome(&sticky, &r), first, "user {u}");
        }
        sides.insert(first);
    }
    assert_eq!(sides.len(), 2, "{sides:?}");
}

#[test]
fn throttle_refuses_with_retry_after_and_faults_abort() {
    let d = deployment(&["GET /x"]);
    let s = snapshot(&[
        ("gateway.yaml", GATEWAY),
        ("deployments/d1.yaml", &d),
        (
            "stages/unit-throttled.yaml",
            "api: shop\ndeployment: d1\nthrottle: { rate: 1, burst: 1 }\n",
        ),
        (
            "stages/unit-faulty.yaml",
            "api: shop\ndeployment: d1\nfault: { abort_status: 503 }\n",
        ),
    ]);
    let r = req("GET", "/unit-throttled/x", &[]);
    assert_eq!(outcome(&s, &r), "unit-throttled d1 call");
    let mut labels = Labels::default();
    let (routed, _) = decide(&s, &r, &mut labels);
    let Decision::Refuse(Refusal {
        error: GatewayError::TooManyRequests,
        header: Some((name, secs)),
        ..
    }) = routed.decision
    else {
        panic!("not a 429");
    };
    assert_eq!(name, http::header::RETRY_AFTER);
    assert_eq!(secs, "1");
    assert_eq!(
        outcome(&s, &req("GET", "/unit-faulty/x", &[])),
        "unit-faulty d1 503"
    );
}

/// Sends `raw` on an in-memory connection, runs admit (and the writer for a refusal) on the
/// gateway's side, and returns admit's verdict and what the client read.
async fn admit_raw(raw: &[u8]) -> (Result<(), admit::Refused>, String) {
    let s = snapshot(&[
        ("gateway.yaml", GATEWAY),
        ("deployments/d1.yaml", &deployment(&["GET /x"])),
        ("stages/prod.yaml", "api: shop\ndeployment: d1\n"),
    ]);
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    client.write_all(raw).await.unwrap();
    let mut session = Session::new_h1(Box::new(server));
    assert!(session.read_request().await.unwrap(), "a request head");
    let ctx = RequestCtx::new(s.clone(), crate::shutdown::InFlight::default().enter());
    let verdict = admit::admit(&mut session, &s.limits);
    if let Err(r) = &verdict {
        session.set_keepalive(None);
        respond::refuse(&mut session, &ctx, r.error.into())
            .await
            .unwrap();
        session.downstream_session.finish_body().await.unwrap();
    }
    drop(session);
    let mut out = Vec::new();
    client.read_to_end(&mut out).await.unwrap();
    (verdict, String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn admit_refuses_on_a_real_session() {
    let cases: [(&[u8], u16); 4] = [
        (
            b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n",
            413,
        ),
        (
            b"GET /prod/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx HTTP/1.1\r\nHost: a\r\n\r\n",
            414,
        ),
        (
            b"GET /prod/x HTTP/1.1\r\nHost: a\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\nh: 1\r\n\r\n",
            431,
        ),
    ];
    for (raw, status) in cases {
        let (verdict, wire) = admit_raw(raw).await;
        let refused = verdict.expect_err("refused");
        assert_eq!(refused.error.status(), status);
        assert!(
            wire.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {wire}"
        );
        let body = wire.split("\r\n\r\n").nth(1).unwrap_or("");
        assert_eq!(body, refused.error.body(), "{wire}");
        let lower = wire.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("content-length: {}\r\n", body.len())),
            "{wire}"
        );
        assert!(lower.contains("x-request-id:"), "{wire}");
        assert!(lower.contains("connection: close"), "{wire}");
    }
    let (ok, wire) = admit_raw(b"GET /prod/./x HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(ok.is_ok());
    assert!(wire.is_empty(), "{wire}");
}

/// Issue 14's framing defects at admit, with the raw bytes that showed them: an HTTP/1.1
/// request without `Host`, a backslash path, and `Content-Length` lists. (Two `Host` fields,
/// and differing `Content-Length` values, pingora refuses itself before any filter runs.)
#[tokio::test]
async fn admit_refuses_missing_host_backslashes_and_ambiguous_lengths() {
    for raw in [
        &b"GET /prod/x HTTP/1.1\r\n\r\n"[..],
        b"GET /prod/x\\..\\..\\items HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let (verdict, wire) = admit_raw(raw).await;
        let refused = verdict.expect_err("refused");
        assert_eq!(
            refused.error,
            GatewayError::BadRequest,
            "{}",
            String::from_utf8_lossy(raw)
        );
        assert!(wire.starts_with("HTTP/1.1 400 "), "{wire}");
    }
    // HTTP/1.0 may omit Host.
    let (ok, _) = admit_raw(b"GET /prod/x HTTP/1.0\r\n\r\n").await;
    assert!(ok.is_ok());
}

/// Counts the allocations of the current thread, for the allocation-free claims below.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            COUNT.with(|c| c.set(c.get() + 1));
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations made by `f` on this thread.
    pub fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
        let before = COUNT.with(Cell::get);
        let out = f();
        (out, COUNT.with(Cell::get) - before)
    }
}

/// The forwarding headers go into pingora's case-preserving head by their ready, static names:
/// neither the name nor its case is parsed or copied (patches/pingora-http/0001), where the
/// generic insert parses and copies each custom name.
#[test]
fn forwarding_header_names_cost_no_allocation() {
    use http::header::{HeaderName, HeaderValue};
    static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    let new_head = || {
        let mut h = pingora::http::RequestHeader::build("GET", b"/", Some(8)).unwrap();
        h.insert_header("x-warm", "1").unwrap();
        h
    };
    let value = HeaderValue::from_static("http");
    let mut named = new_head();
    let (r, n) = counting::allocations(|| {
        named.insert_header_named(&X_FORWARDED_PROTO, "x-forwarded-proto", value.clone())
    });
    r.unwrap();
    assert_eq!(n, 0, "{n} allocations for a ready name");
    let mut generic = new_head();
    let (r, m) =
        counting::allocations(|| generic.insert_header("x-forwarded-proto", value.clone()));
    r.unwrap();
    assert!(m > 0, "the generic insert parses and copies the name");
    // The same head either way: the name, its case on the wire, the value.
    let wire = |h: &pingora::http::RequestHeader| {
        let mut out = bytes::BytesMut::new();
        h.header_to_h1_wire(&mut out);
        out
    };
    assert_eq!(wire(&named), wire(&generic));
    assert!(String::from_utf8_lossy(&wire(&named)).contains("x-forwarded-proto: http"));
}

/// Routing a proxied request whose route has no `request_parameters` allocates only the
/// upstream path it sends; the mapping machinery costs such a route nothing.
#[test]
fn a_proxied_route_without_mappings_allocates_only_its_upstream_path() {
    let s = snapshot(&[
        ("gateway.yaml", GATEWAY),
        (
            "deployments/d1.yaml",
            "api: shop\nroutes:\n  - route: \"GET /orders/{id}\"\n    integration: { type: http_proxy, uri: \"http://127.0.0.1:9/orders/{id}\" }\n",
        ),
        ("stages/prod.yaml", "api: shop\ndeployment: d1\n"),
    ]);
    let r = req("GET", "/prod/orders/42?x=1", &[]);
    let mut labels = Labels::default();
    decide(&s, &r, &mut labels); // warm: the first pick may initialise lazily
    let ((routed, mapping), n) = counting::allocations(|| decide(&s, &r, &mut labels));
    let Decision::Forward(f) = routed.decision else {
        panic!("not forwarded");
    };
    assert!(mapping.is_none());
    assert_eq!(f.path, "/orders/42?x=1");
    assert!(f.headers.is_empty());
    // The router's segment and capture lists, and the upstream path string (exactly sized, so
    // the `Uri` takes it over without another allocation).
    assert!(n <= 3, "{n} allocations");
}
