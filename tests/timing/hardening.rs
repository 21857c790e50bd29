//! Edge hardening against the clock: an integration's `timeout_ms` answers 504 within bounds,
//! a normal request is answered promptly beside 200 stalled clients, and connections that stall
//! in their headers or sit idle after an answer are closed after their timeouts, not before
//! (the rest of hardening is in `tests/e2e/hardening.rs`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::hardening::{assert_gateway_error, catch_all, proxy, put_deployment, put_stage};
use crate::common::{dead_addr, get, patience, within, Backend, ConfigDir, Gateway};

// ---------------------------------------------------------------------------------------------
// Timeouts and dead backends.

/// An integration's `timeout_ms` bounds the wait for the backend: 504 after about 300 ms, not
/// the 29 s default. A backend address where nothing listens is 502.
#[tokio::test]
async fn integration_timeout_is_504_and_a_dead_backend_502() {
    let _serial = crate::serial().await;
    let be = Backend::start("A").await;
    let dead = dead_addr();
    let dir = ConfigDir::new();
    let mut slow = proxy("GET /slow", &format!("http://{}/slow", be.addr()));
    slow["integration"]["timeout_ms"] = json!(300);
    put_deployment(
        &dir,
        "shop-1",
        json!([slow, proxy("GET /dead", &format!("http://{dead}/x"))]),
    );
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;

    let t = Instant::now();
    let r = get(gw.addr(), "/s/slow").await;
    let took = t.elapsed();
    assert_gateway_error(&r, 504, "Endpoint request timed out");
    eprintln!("504 after {took:?}");
    assert_eq!(
        be.wait_held().await,
        "/slow",
        "the request reached the backend"
    );
    assert!(
        took >= Duration::from_millis(300),
        "504 after {took:?}, expected 300 ms .. 3 s"
    );
    crate::assert_under(took, Duration::from_secs(3), "504");

    assert_gateway_error(&get(gw.addr(), "/s/dead").await, 502, "Bad Gateway");
}

// ---------------------------------------------------------------------------------------------
// Slow clients.

/// Opens `n` connections that send a request line and one header, never the end of the
/// headers.
async fn half_open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = within("TCP connect", TcpStream::connect(addr))
            .await
            .unwrap();
        s.write_all(b"GET /s/x HTTP/1.1\r\nHost: a\r\n")
            .await
            .unwrap();
        conns.push(s);
    }
    conns
}

/// True once the gateway closed `s` (EOF or reset); false if it is still open after
/// [`patience`]`(wait)`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let wait = patience(wait);
    let mut b = [0u8; 1024];
    let start = Instant::now();
    loop {
        let left = wait.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, s.read(&mut b)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // Whatever it sends (a 408?), keep reading until it closes.
            Ok(Ok(_)) => {}
        }
    }
}

/// Backend A behind stage `s` of the catch-all deployment `shop-1` in `dir`, and the gateway
/// serving it.
async fn catch_all_gateway(dir: ConfigDir) -> (Backend, ConfigDir, Gateway) {
    let be = Backend::start("A").await;
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;
    (be, dir, gw)
}

#[tokio::test]
async fn slow_clients_do_not_starve_a_normal_request() {
    let _serial = crate::serial().await;
    let (be, _dir, gw) = catch_all_gateway(ConfigDir::new()).await;

    let mut slow = half_open(gw.addr(), 200).await;
    let t = Instant::now();
    let bound = patience(Duration::from_secs(2));
    let r = tokio::time::timeout(bound, get(gw.addr(), "/s/x"))
        .await
        .unwrap_or_else(|_| panic!("no answer within {bound:?} with 200 half-open connections"));
    assert_eq!(r.status, 200, "{}", r.text());
    eprintln!(
        "answered in {:?} beside 200 half-open connections",
        t.elapsed()
    );
    assert_eq!(
        be.requests(),
        1,
        "an unfinished request reached the backend"
    );
    // They are still open (pingora's header read timeout is 60 s): one check, no waiting.
    let still_open = !closed_within(&mut slow[0], Duration::from_millis(1)).await;
    eprintln!("half-open connections still open after the request: {still_open}");
}

/// How long the gateway keeps a connection whose headers never end: pingora reads request
/// headers with a 60 s timeout, so this test takes a minute of the timing lane.
#[tokio::test]
async fn half_open_connections_are_closed_after_the_header_read_timeout() {
    let _serial = crate::serial().await;
    let (_be, _dir, gw) = catch_all_gateway(ConfigDir::new()).await;

    let mut conns = half_open(gw.addr(), 5).await;
    let t = Instant::now();
    for s in &mut conns {
        assert!(
            closed_within(s, Duration::from_secs(90)).await,
            "a half-open connection still open after {:?}",
            patience(Duration::from_secs(90))
        );
    }
    let took = t.elapsed();
    eprintln!("half-open connections closed after {took:?}");
    assert!(took >= Duration::from_secs(50), "closed after {took:?}");
    crate::assert_under(took, Duration::from_secs(75), "closed");
}

/// `limits.idle_timeout_seconds`: a keep-alive connection that sends nothing after its answer is
/// closed after that long (measured: never before it, and well before pingora's 60 s default).
#[tokio::test]
async fn idle_keep_alive_connections_close_after_the_idle_timeout() {
    let _serial = crate::serial().await;
    let dir = ConfigDir::new();
    dir.set_limit("idle_timeout_seconds", 1);
    let (_be, _dir, gw) = catch_all_gateway(dir).await;

    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(b"GET /s/x HTTP/1.1\r\nHost: gw.test\r\n\r\n")
        .await
        .unwrap();
    // Read the whole answer (its Content-Length is known from the echo backend's JSON).
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    let answered = loop {
        let n = within("the answer", s.read(&mut b)).await.unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&b[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if body.len() >= len {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                break Instant::now();
            }
        }
    };
    assert!(
        closed_within(&mut s, Duration::from_secs(20)).await,
        "the idle connection stayed open"
    );
    let idle = answered.elapsed();
    eprintln!("idle keep-alive connection closed after {idle:?}");
    assert!(
        idle >= Duration::from_millis(900),
        "closed after {idle:?}, before the 1 s idle timeout"
    );
    crate::assert_under(idle, Duration::from_secs(20), "closed");
}
