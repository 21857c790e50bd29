//! The request path as one pipeline: where the integrations used to disagree, they now agree.
//! - `$context.protocol` is the same in a template, a parameter mapping and the access log,
//!   over HTTP/1.1 and HTTP/2;
//! - a greedy path parameter keeps its slashes whether the URI substitutes it directly or
//!   through `request_parameters`;
//! - `X-Forwarded-For`, `-Host` and `-Proto` reach the backend the same way for `http_proxy`,
//!   `http` and function integrations;
//! - a mapped header value that cannot be a header value is the client's 400, not a 500.

use crate::common;

use bytes::Bytes;
use common::tls::{client_config, https_request, TestCa, TlsGateway};
use common::{eventually, get, get_with, Backend, ConfigDir, Gateway, DEADLINE};
use http::{Method, StatusCode, Version};

/// admin on ports[0], plain HTTP on ports[1], TLS on ports[2] with certs/gateway.{crt,key}.
fn two_listeners(p: &[u16]) -> String {
    format!(
        "admin: \"127.0.0.1:{}\"\nthreads: 2\nlisten:\n  - \"127.0.0.1:{}\"\n  - addr: \"127.0.0.1:{}\"\n    tls:\n      cert: certs/gateway.crt\n      key: certs/gateway.key\n",
        p[0], p[1], p[2]
    )
}

/// A mock that shows `$context.protocol` in its template and in a header mapping, and a proxy
/// route that maps it to a header for the backend.
fn protocol_routes(backend: std::net::SocketAddr) -> String {
    format!(
        r#"api: shop
routes:
  - route: "GET /tpl"
    integration:
      type: mock
      request_templates: {{ application/json: '{{"statusCode": 200}}' }}
      responses:
        - status: 200
          headers: {{ x-proto: "context.protocol" }}
          templates: {{ application/json: '{{"proto": "$context.protocol"}}' }}
  - route: "GET /fwd"
    integration:
      type: http_proxy
      uri: "http://{backend}/fwd"
      request_parameters:
        integration.request.header.x-proto: "context.protocol"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_protocol_is_one_fact_for_templates_mappings_and_the_access_log() {
    let ca = TestCa::new("stagecraft test CA");
    let dir = ConfigDir::new();
    ca.leaf(&["localhost", "127.0.0.1"])
        .write(&dir.path().join("certs"), "gateway");
    let backend = Backend::start("B").await;
    let log = dir.path().join("access.log");
    dir.write("deployments/d1.yaml", &protocol_routes(backend.addr()));
    dir.write(
        "stages/prod.yaml",
        &format!(
            "api: shop\ndeployment: d1\naccess_log:\n  format: '$context.requestId $context.protocol $context.path'\n  path: {:?}\n",
            log.to_str().unwrap()
        ),
    );
    let gw = TlsGateway::start(&dir, 3, two_listeners).await;
    let tls = gw.addr(2);
    let authority = format!("localhost:{}", tls.port());
    let ca_pem = ca.pem();

    let mut seen = Vec::new();
    for (alpn, version, want) in [
        (&[&b"h2"[..], b"http/1.1"][..], Version::HTTP_2, "HTTP/2.0"),
        (&[&b"http/1.1"[..]][..], Version::HTTP_11, "HTTP/1.1"),
    ] {
        let call = |path: &'static str| {
            https_request(
                tls,
                "localhost",
                client_config(&ca_pem, alpn),
                Method::GET,
                &authority,
                path,
                Bytes::new(),
            )
        };
        let tpl = call("/prod/tpl").await.unwrap();
        assert_eq!(tpl.version, version);
        assert_eq!(tpl.reply.status, StatusCode::OK, "{}", tpl.reply.text());
        assert_eq!(tpl.reply.json()["proto"], want, "template");
        assert_eq!(tpl.reply.header("x-proto"), Some(want), "response mapping");
        let fwd = call("/prod/fwd").await.unwrap();
        assert_eq!(fwd.reply.status, StatusCode::OK, "{}", fwd.reply.text());
        assert_eq!(
            fwd.reply.seen_header("x-proto").as_deref(),
            Some(want),
            "request mapping"
        );
        for r in [&tpl, &fwd] {
            let id = r.reply.header("x-request-id").unwrap().to_string();
            seen.push((id, want));
        }
    }
    // The access log says the same for each request.
    eventually("four access-log lines", DEADLINE, || async {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() >= 4)
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    for (id, want) in seen {
        let line = text
            .lines()
            .find(|l| l.starts_with(&id))
            .unwrap_or_else(|| panic!("no line for {id} in {text}"));
        assert_eq!(line.split(' ').nth(1), Some(want), "{line}");
    }
}

/// A gateway serving stage `prod` of a deployment with these routes.
async fn serve(routes: &str) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    dir.write(
        "deployments/d1.yaml",
        &format!("api: shop\nroutes:{routes}"),
    );
    dir.write("stages/prod.yaml", "api: shop\ndeployment: d1\n");
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_parameter_keeps_its_slashes_mapped_or_not() {
    let backend = Backend::start("B").await;
    let b = backend.addr();
    let (_dir, gw) = serve(&format!(
        r#"
  - route: "ANY /direct/{{proxy+}}"
    integration: {{ type: http_proxy, uri: "http://{b}/alb/{{proxy}}" }}
  - route: "ANY /mapped/{{proxy+}}"
    integration:
      type: http_proxy
      uri: "http://{b}/alb/{{proxy}}"
      request_parameters:
        integration.request.path.proxy: method.request.path.proxy
  - route: "GET /one/{{id}}"
    integration:
      type: http_proxy
      uri: "http://{b}/one/{{id}}"
      request_parameters:
        integration.request.path.id: method.request.header.x-id
  - route: "GET /http/{{proxy+}}"
    integration:
      type: http
      uri: "http://{b}/alb/{{proxy}}"
      request_parameters:
        integration.request.path.proxy: method.request.path.proxy
"#
    ))
    .await;

    for (path, want) in [
        ("/prod/direct/a/b", "/alb/a/b"),
        ("/prod/mapped/a/b", "/alb/a/b"),
        ("/prod/direct/a%20b/c", "/alb/a%20b/c"),
        ("/prod/mapped/a%20b/c", "/alb/a%20b/c"),
        ("/prod/mapped/x/y/z?q=1", "/alb/x/y/z"),
        ("/prod/http/a/b", "/alb/a/b"),
    ] {
        let r = get(gw.addr(), path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(r.seen("path"), want, "{path}");
    }
    // A value mapped onto a one-segment parameter cannot add segments.
    let r = get_with(gw.addr(), Method::GET, "/prod/one/1", &[("x-id", "a/b")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.seen("path"), "/one/a%2Fb");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_the_same_for_every_integration() {
    let backend = Backend::start("B").await;
    let b = backend.addr();
    let (_dir, gw) = serve(&format!(
        r#"
  - route: "GET /proxy"
    integration: {{ type: http_proxy, uri: "http://{b}/proxy" }}
  - route: "GET /http"
    integration: {{ type: http, uri: "http://{b}/http" }}
  - route: "GET /function"
    integration: {{ type: aws, uri: "http://{b}/2015-03-31/functions/f/invocations" }}
"#
    ))
    .await;
    let host = format!("api.example.com:{}", gw.addr().port());
    for path in ["/prod/proxy", "/prod/http", "/prod/function"] {
        // Without a list of its own, the client is the list.
        let r = get_with(gw.addr(), Method::GET, path, &[("host", &host)]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(
            r.seen_header("x-forwarded-for").as_deref(),
            Some("127.0.0.1"),
            "{path}"
        );
        assert_eq!(
            r.seen_header("x-forwarded-host").as_deref(),
            Some(host.as_str()),
            "{path}"
        );
        assert_eq!(
            r.seen_header("x-forwarded-proto").as_deref(),
            Some("http"),
            "{path}"
        );
        assert_eq!(
            r.seen_header("x-request-id").as_deref(),
            r.header("x-request-id"),
            "{path}"
        );
        // A client's own list is kept and the client appended, as nginx and Envoy do.
        let r = get_with(
            gw.addr(),
            Method::GET,
            path,
            &[("host", &host), ("x-forwarded-for", "203.0.113.9")],
        )
        .await;
        assert_eq!(
            r.seen_header("x-forwarded-for").as_deref(),
            Some("203.0.113.9, 127.0.0.1"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_header_that_cannot_be_a_header_is_a_400() {
    let backend = Backend::start("B").await;
    let b = backend.addr();
    let (_dir, gw) = serve(&format!(
        r#"
  - route: "GET /hdr/{{v}}"
    integration:
      type: http_proxy
      uri: "http://{b}/hdr"
      request_parameters:
        integration.request.header.x-v: method.request.path.v
  - route: "GET /h/{{v}}"
    integration:
      type: http
      uri: "http://{b}/h"
      request_parameters:
        integration.request.header.x-v: method.request.path.v
"#
    ))
    .await;
    for path in [
        "/prod/hdr/a%0d%0aTransfer-Encoding:%20chunked",
        "/prod/h/a%0d%0aTransfer-Encoding:%20chunked",
    ] {
        let r = get(gw.addr(), path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text());
        assert_eq!(r.json()["message"], "Bad Request");
    }
    assert_eq!(backend.requests(), 0, "nothing reached the backend");
    let r = get(gw.addr(), "/prod/hdr/fine").await;
    assert_eq!(r.seen_header("x-v").as_deref(), Some("fine"));
}
