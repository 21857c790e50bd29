//! TLS end to end: HTTPS and HTTP/2 (ALPN) through a TLS listener next to a plain one,
//! `x-forwarded-proto`, certificate reload, `https://` integrations and TLS backend versions
//! verified against `upstream_tls.ca`, and what `validate` says about TLS files.
//!
//! Certificates come from a throwaway CA made with rcgen at test time (common/tls.rs).

use crate::common;

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use common::tls::{
    client_config, handshake, https_request, localhost_ip, HttpsBackend, TestCa, TlsGateway,
};
use common::{eventually, get, run_cli, Backend, ConfigDir, Deployment, Stage, DEADLINE};
use http::{Method, StatusCode, Version};

const H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
const H1: &[&[u8]] = &[b"http/1.1"];

/// admin on ports[0], plain HTTP on ports[1], TLS on ports[2] with certs/gateway.{crt,key}.
fn two_listeners(p: &[u16]) -> String {
    format!(
        "admin: \"127.0.0.1:{}\"\nthreads: 2\nlisten:\n  - \"127.0.0.1:{}\"\n  - addr: \"127.0.0.1:{}\"\n    tls:\n      cert: certs/gateway.crt\n      key: certs/gateway.key\n",
        p[0], p[1], p[2]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_http2_through_a_tls_listener_next_to_a_plain_one() {
    let ca = TestCa::new("stagecraft test CA");
    let dir = ConfigDir::new();
    ca.leaf(&["api.test", "localhost", "127.0.0.1"])
        .write(&dir.path().join("certs"), "gateway");
    let backend = Backend::start("plain").await;
    dir.put_deployment("d1", &Deployment::catch_all("shop", backend.addr()));
    dir.put_stage("prod", &Stage::new("shop", "d1").base_path("/prod"));
    dir.put_stage(
        "hosted",
        &Stage::new("shop", "d1").base_path("/h").host("api.test"),
    );
    let gw = TlsGateway::start(&dir, 3, two_listeners).await;
    let tls = gw.addr(2);
    let authority = format!("localhost:{}", tls.port());
    let ca_pem = ca.pem();

    // HTTP/1.1 over TLS (the client offers only http/1.1).
    let r = https_request(
        tls,
        "localhost",
        client_config(&ca_pem, H1),
        Method::GET,
        &authority,
        "/prod/hello",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.reply.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.reply.seen("path"), "/hello");
    assert_eq!(
        r.reply.seen_header("x-forwarded-proto").as_deref(),
        Some("https")
    );

    // No ALPN at all: HTTP/1.1.
    let r = https_request(
        tls,
        "localhost",
        client_config(&ca_pem, &[]),
        Method::GET,
        &authority,
        "/prod/hello",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.reply.status, StatusCode::OK);

    // HTTP/2, negotiated by ALPN and served.
    let r = https_request(
        tls,
        "localhost",
        client_config(&ca_pem, H2_H1),
        Method::GET,
        &authority,
        "/prod/hello?x=1",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.reply.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.reply.seen("path"), "/hello");
    assert_eq!(r.reply.seen("query"), "x=1");
    assert_eq!(
        r.reply.seen_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(
        r.reply.seen_header("x-forwarded-host").as_deref(),
        Some(authority.as_str())
    );
    assert!(r.reply.header("x-request-id").is_some());

    // HTTP/2 has no Host header: the stage bound to a host is found by :authority.
    let hosted = format!("api.test:{}", tls.port());
    let r = https_request(
        tls,
        "api.test",
        client_config(&ca_pem, H2_H1),
        Method::GET,
        &hosted,
        "/h/x",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.reply.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.reply.seen("path"), "/x");

    // A request body over HTTP/2 reaches the (HTTP/1.1) backend whole.
    let r = https_request(
        tls,
        "localhost",
        client_config(&ca_pem, H2_H1),
        Method::POST,
        &authority,
        "/prod/echo-body",
        Bytes::from_static(b"hello over h2"),
    )
    .await
    .unwrap();
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.reply.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.reply.json()["body"], "hello over h2");

    // Gateway errors over HTTP/2 keep their JSON shape.
    let r = https_request(
        tls,
        "localhost",
        client_config(&ca_pem, H2_H1),
        Method::GET,
        &authority,
        "/nowhere",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.reply.status, StatusCode::NOT_FOUND);
    assert_eq!(r.reply.json()["message"], "Not Found");

    // The plain listener keeps working beside the TLS one, and says http.
    let r = get(gw.addr(1), "/prod/hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.seen_header("x-forwarded-proto").as_deref(), Some("http"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_listener_certificate_is_served_without_a_restart() {
    let ca = TestCa::new("stagecraft test CA");
    let dir = ConfigDir::new();
    let certs = dir.path().join("certs");
    let first = ca.leaf(&["localhost"]);
    first.write(&certs, "gateway");
    let backend = Backend::start("plain").await;
    dir.put_deployment("d1", &Deployment::catch_all("shop", backend.addr()));
    dir.put_stage("prod", &Stage::new("shop", "d1").base_path("/prod"));
    let gw = TlsGateway::start(&dir, 3, two_listeners).await;
    let tls = gw.addr(2);
    let cfg = client_config(&ca.pem(), H2_H1);

    let (leaf, _) = handshake(tls, "localhost", cfg.clone()).await.unwrap();
    assert_eq!(leaf, first.leaf_der());

    // Renewed: the new pair is served to new connections.
    let second = ca.leaf(&["localhost"]);
    second.write(&certs, "gateway");
    eventually("the renewed certificate is served", DEADLINE, || {
        let cfg = cfg.clone();
        let want = second.leaf_der();
        async move {
            handshake(tls, "localhost", cfg)
                .await
                .is_ok_and(|(l, _)| l == want)
        }
    })
    .await;

    // A broken file is reported and the last good certificate stays.
    std::fs::write(certs.join("gateway.crt"), "not a certificate\n").unwrap();
    eventually("the broken certificate is reported", DEADLINE, || {
        let logs = gw.logs();
        async move { logs.contains("listener certificate not reloaded") }
    })
    .await;
    let (leaf, _) = handshake(tls, "localhost", cfg.clone()).await.unwrap();
    assert_eq!(leaf, second.leaf_der());
    let r = https_request(
        tls,
        "localhost",
        cfg,
        Method::GET,
        "localhost",
        "/prod/a",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.reply.status, StatusCode::OK);
}

/// `host:port` for a URI or target: IPv6 in brackets.
fn hostport(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", a.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstreams_are_verified_against_the_configured_ca() {
    let ca = TestCa::new("backend CA");
    let stranger = TestCa::new("a CA nobody trusts");
    let ip = localhost_ip();
    let good = HttpsBackend::start("good", ip, &ca.leaf(&["localhost"])).await;
    let untrusted = HttpsBackend::start("untrusted", ip, &stranger.leaf(&["localhost"])).await;
    let (gp, up) = (good.addr().port(), untrusted.addr().port());

    let dir = ConfigDir::new();
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/ca.pem"), ca.pem()).unwrap();
    let dep = Deployment::new("shop")
        .proxy("GET /named", &format!("https://localhost:{gp}/named"))
        .proxy(
            "GET /by-ip",
            &format!("https://{}/by-ip", hostport(good.addr())),
        )
        .proxy(
            "GET /untrusted",
            &format!("https://localhost:{up}/untrusted"),
        )
        .proxy("GET /backend", "backend://tlsb:v1/backend")
        .proxy("GET /unverified", "backend://tlsb:insecure/unverified")
        .proxy("GET /strict", "backend://tlsb:strict/strict");
    dir.put_deployment("d1", &dep);
    dir.put_stage("prod", &Stage::new("shop", "d1").base_path("/prod"));
    let backends = format!(
        "backends:\n  tlsb:\n    versions:\n      v1: {{targets: [\"localhost:{gp}\"], tls: true}}\n      insecure: {{targets: [\"localhost:{up}\"], tls: {{verify: false}}}}\n      strict: {{targets: [\"localhost:{up}\"], tls: true}}\n"
    );
    let yaml = |p: &[u16], trust: bool| {
        let mut y = format!(
            "admin: \"127.0.0.1:{}\"\nthreads: 2\nlisten: [\"127.0.0.1:{}\"]\n{backends}",
            p[0], p[1]
        );
        if trust {
            y.push_str("upstream_tls:\n  ca: certs/ca.pem\n");
        }
        y
    };
    let gw = TlsGateway::start(&dir, 2, |p| yaml(p, true)).await;
    let plain = gw.addr(1);

    // https:// with the CA configured: verified, SNI = the URI's host.
    let r = get(plain, "/prod/named").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.backend(), Some("good"));
    let seen = good.seen();
    let last = seen.last().unwrap();
    assert_eq!(last.sni.as_deref(), Some("localhost"));
    assert_eq!(last.path, "/named");
    assert_eq!(
        last.headers.get("host").map(String::as_str),
        Some(format!("localhost:{gp}").as_str())
    );

    // The certificate names localhost, not the address: the host name check fails.
    assert_eq!(
        get(plain, "/prod/by-ip").await.status,
        StatusCode::BAD_GATEWAY
    );
    // A certificate from a CA nobody configured.
    assert_eq!(
        get(plain, "/prod/untrusted").await.status,
        StatusCode::BAD_GATEWAY
    );

    // backend:// versions with `tls`.
    let r = get(plain, "/prod/backend").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.backend(), Some("good"));
    let r = get(plain, "/prod/unverified").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.backend(), Some("untrusted"));
    assert_eq!(
        get(plain, "/prod/strict").await.status,
        StatusCode::BAD_GATEWAY
    );

    // Without the CA (a reload), the same backend is refused: only the system's roots remain.
    let ports = gw.ports.clone();
    let tmp = dir.path().join(".gateway.yaml.tmp");
    std::fs::write(&tmp, yaml(&ports, false)).unwrap();
    std::fs::rename(&tmp, dir.path().join("gateway.yaml")).unwrap();
    eventually(
        "https://localhost is refused without the CA",
        DEADLINE,
        || async move { get(plain, "/prod/named").await.status == StatusCode::BAD_GATEWAY },
    )
    .await;
    assert_eq!(
        get(plain, "/prod/backend").await.status,
        StatusCode::BAD_GATEWAY
    );
    // verify: false does not care.
    assert_eq!(get(plain, "/prod/unverified").await.status, StatusCode::OK);
}

#[test]
fn validate_names_the_line_and_the_file_of_tls_problems() {
    let ca = TestCa::new("stagecraft test CA");
    let dir = ConfigDir::new();
    let certs = dir.path().join("certs");
    ca.leaf(&["localhost"]).write(&certs, "good");
    ca.leaf(&["localhost"]).write(&certs, "other");
    std::fs::write(certs.join("junk.pem"), "hello\n").unwrap();
    let gateway = "\
listen:
  - \"127.0.0.1:18080\"
  - addr: \"127.0.0.1:18443\"
    tls:
      cert: certs/missing.crt
      key: certs/good.key
  - addr: \"127.0.0.1:18444\"
    tls:
      cert: certs/good.crt
      key: certs/other.key
  - addr: \"127.0.0.1:18445\"
    tls: {cert: certs/good.crt, key: certs/junk.pem}
  - addr: \"127.0.0.1:18446\"
    tls: {cert: certs/good.crt, key: certs/good.key}
upstream_tls:
  ca: certs/good.key
backends:
  b:
    versions:
      v1: {targets: [\"127.0.0.1:9443\"], tls: {verify: false}}
";
    std::fs::write(dir.path().join("gateway.yaml"), gateway).unwrap();
    let (code, out, err) = run_cli(dir.path(), &["validate"]);
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    let has = |line: &str, what: &str| {
        assert!(
            all.lines().any(|l| l.starts_with(line) && l.contains(what)),
            "expected a line starting {line:?} containing {what:?} in:\n{all}"
        );
    };
    has(
        "error: gateway.yaml:5: TLS listener 127.0.0.1:18443:",
        "certs/missing.crt",
    );
    has(
        "error: gateway.yaml:10: TLS listener 127.0.0.1:18444:",
        "does not belong to the certificate",
    );
    has(
        "error: gateway.yaml:12: TLS listener 127.0.0.1:18445:",
        "no private key",
    );
    has("error: gateway.yaml:16: upstream_tls.ca:", "no certificate");
    has("warning: gateway.yaml:20:", "not verified");
    assert!(!all.contains("18446"), "the good listener is fine:\n{all}");

    // The shape of an entry is checked with its line too.
    let gateway = "listen:\n  - \"127.0.0.1:18080\"\n  - addr: \"127.0.0.1:18443\"\n    tls: {cert: a.crt, key: a.key, chain: b.crt}\n";
    std::fs::write(dir.path().join("gateway.yaml"), gateway).unwrap();
    let (code, out, err) = run_cli(dir.path(), &["validate"]);
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    assert!(
        all.contains("error: gateway.yaml:4:") && all.contains("chain"),
        "{all}"
    );

    // Addresses keep the line of their entry, string or mapping.
    let gateway = "listen:\n  - \"127.0.0.1:18080\"\n  - addr: nope\n  - \"127.0.0.1:18080\"\n";
    std::fs::write(dir.path().join("gateway.yaml"), gateway).unwrap();
    let (code, out, err) = run_cli(dir.path(), &["validate"]);
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    assert!(
        all.contains("error: gateway.yaml:3: invalid listen address \"nope\""),
        "{all}"
    );
    assert!(
        all.contains(
            "error: gateway.yaml:4: listen address \"127.0.0.1:18080\" is already on line 2"
        ),
        "{all}"
    );
}
