//! Edge hardening through the real gateway: throttling (GCRA token buckets per stage, per route
//! and by default from gateway.yaml), request limits (413, 414, 431), path normalisation, request
//! smuggling, connect-failure retries with passive ejection, active health checks and fault
//! injection. Integration timeouts (504), dead backends (502) and slow clients are measured
//! against the clock in `tests/timing/hardening.rs`.
//!
//! Where an HTTP client would tidy the input (dot segments, bad escapes, conflicting framing
//! headers, unfinished headers) the requests are written byte by byte on raw TCP sockets.

use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::hardening::{
    assert_gateway_error, catch_all, proxy, proxy_with, put_deployment, put_stage,
};
use common::wire::{dechunk, find};
use common::{
    dead_addr, eventually, get, patience, within, Backend, BackendSpec, ConfigDir, Gateway,
    DEADLINE, POLL_INTERVAL,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Checks.

/// One sample of `/metrics`; panics if the series is absent (a wrong name must not read as 0).
async fn metric(gw: &Gateway, name: &str, labels: &[(&str, &str)]) -> f64 {
    let r = gw
        .admin_get("/metrics")
        .await
        .expect("GET /metrics answers");
    assert_eq!(r.status, 200, "GET /metrics: {}", r.text());
    let text = r.text();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, l) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if n == name
            && labels
                .iter()
                .all(|(k, v)| l.split(',').any(|kv| kv == format!("{k}=\"{v}\"")))
        {
            return value.parse().unwrap();
        }
    }
    panic!("no sample {name}{labels:?} in /metrics:\n{text}")
}

async fn generation(gw: &Gateway) -> u64 {
    let r = gw.admin_get("/config").await.expect("GET /config answers");
    r.json()["generation"]
        .as_u64()
        .expect("generation in /config")
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 on TCP sockets.

/// One response as read off the wire.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// The path the echo backend saw.
    pub(crate) fn seen_path(&self) -> String {
        self.json()["path"].as_str().unwrap_or_default().to_string()
    }

    pub(crate) fn assert_gateway_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "content-type {ct:?} on a {status}"
        );
        assert_eq!(self.json(), json!({ "message": message }), "error body");
        assert!(
            self.header("x-request-id").is_some_and(|v| !v.is_empty()),
            "no x-request-id on a {status}"
        );
    }
}

/// Parses one complete response at the start of `buf`: `Some((response, bytes used))`.
/// `closed`: the peer closed the connection, which ends a body without framing.
fn parse_response(buf: &[u8], closed: bool) -> Option<(RawResponse, usize)> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end - 4]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let rest = &buf[head_end..];
    let (body, used) = if status < 200 || status == 204 || status == 304 {
        (Vec::new(), 0)
    } else if get("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        match dechunk(rest) {
            (data, Some(used)) => (data, used),
            (_, None) => return None,
        }
    } else if let Some(cl) = get("content-length") {
        let cl: usize = cl.parse().ok()?;
        if rest.len() < cl {
            return None;
        }
        (rest[..cl].to_vec(), cl)
    } else if closed {
        (rest.to_vec(), rest.len())
    } else {
        return None;
    };
    Some((
        RawResponse {
            status,
            headers,
            body,
        },
        head_end + used,
    ))
}

/// What happened on one raw connection.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) responses: Vec<RawResponse>,
    /// The gateway closed the connection (FIN or reset) within the deadline.
    pub(crate) closed: bool,
    /// Bytes after the last complete response.
    pub(crate) leftover: Vec<u8>,
}

/// Writes `request` on a fresh connection and reads until the gateway has sent `want`
/// complete responses (`Some`), or until it closes the connection (`None`: read everything).
/// [`patience`]`(wait)` bounds the whole read; running into it means the connection stayed open.
pub(crate) async fn raw(
    addr: SocketAddr,
    request: &[u8],
    want: Option<usize>,
    wait: Duration,
) -> Exchange {
    let wait = patience(wait);
    let mut s = within("TCP connect", TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_nodelay(true).unwrap();
    // The gateway may answer and close before reading everything: a failed write is not an
    // error here, what it sent back is the result.
    let _ = s.write_all(request).await;
    read_exchange(&mut s, want, wait).await
}

/// Reads from `s` until the gateway has sent `want` complete responses (`Some`) or closed the
/// connection; `wait` (already stretched by [`patience`]) bounds the whole read.
pub(crate) async fn read_exchange(
    s: &mut TcpStream,
    want: Option<usize>,
    wait: Duration,
) -> Exchange {
    let mut buf = Vec::new();
    let mut responses = Vec::new();
    let mut closed = false;
    let start = Instant::now();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if want.is_some_and(|w| responses.len() >= w) {
            break;
        }
        let left = wait.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => closed = true,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        while let Some((r, used)) = parse_response(&buf, closed) {
            responses.push(r);
            buf.drain(..used);
            if buf.is_empty() {
                break;
            }
        }
        if closed {
            break;
        }
    }
    Exchange {
        responses,
        closed,
        leftover: buf,
    }
}

/// One request on a fresh connection, its first response; panics if none comes.
pub(crate) async fn raw_one(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut x = raw(addr, request, Some(1), DEADLINE).await;
    assert!(
        !x.responses.is_empty(),
        "no response to {:?}; closed: {}, partial: {:?}",
        String::from_utf8_lossy(request),
        x.closed,
        String::from_utf8_lossy(&x.leftover)
    );
    x.responses.remove(0)
}

/// `GET TARGET` with just a Host header.
fn raw_get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: gw.test\r\n\r\n").into_bytes()
}

/// A TCP server that records every byte it receives: shows exactly what the gateway sent
/// upstream, including a request body cut short. It never finishes an answer: at most it sends
/// a fixed beginning of one once the request head has arrived.
struct Recorder {
    addr: SocketAddr,
    bytes: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<usize>>,
    /// Set when a connection ends (the gateway closed it).
    closed: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl Recorder {
    /// Sends `prefix` (the beginning of a response; empty: nothing) once a request head has
    /// arrived.
    async fn answering(prefix: &'static [u8]) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let (b, c, cl) = (bytes.clone(), connections.clone(), closed.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                *c.lock().unwrap() += 1;
                let (b, cl) = (b.clone(), cl.clone());
                tokio::spawn(async move {
                    let mut chunk = vec![0u8; 16 * 1024];
                    let mut answered = prefix.is_empty();
                    loop {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
                        }
                        if !answered && find(&b.lock().unwrap(), b"\r\n\r\n").is_some() {
                            answered = true;
                            if s.write_all(prefix).await.is_err() {
                                break;
                            }
                        }
                    }
                    cl.store(true, Ordering::SeqCst);
                });
            }
        });
        Recorder {
            addr,
            bytes,
            connections,
            closed,
            accept,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    /// The request head received (up to the blank line), lowercase.
    fn head(&self) -> Option<String> {
        let b = self.bytes();
        let end = find(&b, b"\r\n\r\n")?;
        Some(String::from_utf8_lossy(&b[..end]).to_ascii_lowercase())
    }

    /// Request body data received so far (de-chunked when the head says chunked).
    fn body_data(&self) -> usize {
        let b = self.bytes();
        let Some(end) = find(&b, b"\r\n\r\n") else {
            return 0;
        };
        let body = &b[end + 4..];
        if self
            .head()
            .is_some_and(|h| h.contains("transfer-encoding: chunked"))
        {
            dechunk(body).0.len()
        } else {
            body.len()
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Throttling.

/// Extra successes a bucket of `rate` per second may have refilled since `start`.
fn refill(start: Instant, rate: f64) -> usize {
    (start.elapsed().as_secs_f64() * rate).floor() as usize
}

/// One GET on a fresh connection: true when served (200), false when throttled. A 429 must be
/// the JSON error with a `Retry-After` of 1 ..= `max_retry_after` whole seconds.
async fn throttled_get(addr: SocketAddr, path: &str, max_retry_after: u64) -> bool {
    let r = get(addr, path).await;
    match r.status.as_u16() {
        200 => true,
        429 => {
            assert_gateway_error(&r, 429, "Too Many Requests");
            // AWS's THROTTLED type says so, and SDKs retry on it with backoff.
            assert_eq!(
                r.header("x-amzn-errortype"),
                Some("TooManyRequestsException"),
                "429 on {path}"
            );
            let ra: u64 = r
                .header("retry-after")
                .unwrap_or_else(|| panic!("429 without Retry-After on {path}"))
                .parse()
                .unwrap_or_else(|e| panic!("Retry-After on {path} is not whole seconds: {e}"));
            assert!(
                (1..=max_retry_after).contains(&ra),
                "Retry-After {ra} on {path}, expected 1..={max_retry_after}"
            );
            false
        }
        s => panic!(
            "GET {path}: status {s}, expected 200 or 429; body {}",
            r.text()
        ),
    }
}

/// Successes among `n` GETs sent back to back.
async fn served_of(addr: SocketAddr, path: &str, n: usize, max_retry_after: u64) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        ok += usize::from(throttled_get(addr, path, max_retry_after).await);
    }
    ok
}

/// `throttle: {rate: 1, burst: 5}`: a burst of 10 gets exactly 5 (plus what the rate refilled
/// while the burst ran), the rest 429 with `Retry-After: 1`; later the bucket has refilled by
/// the elapsed time. Counts are checked against bounds computed from measured instants, so a
/// slow machine moves the bounds instead of failing the test:
///
/// GCRA lets through `burst + floor(t * rate)` requests by time `t` after the first one, while
/// requests keep coming. The first take happens between `start` and the first response
/// (`first_done`), the last between the last send (`last_sent`) and the end, so the total is at
/// most `burst + floor((end - start) * rate)` and at least
/// `burst + floor((last_sent - first_done) * rate)` (capped by the requests sent).
#[tokio::test]
async fn stage_throttle_allows_the_burst_then_refills_at_the_rate() {
    const RATE: f64 = 1.0;
    const BURST: usize = 5;
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(
        &dir,
        "s",
        "shop-1",
        json!({"throttle": {"rate": RATE, "burst": BURST}}),
    );
    let gw = Gateway::start(&dir).await;
    let addr = gw.addr();

    let start = Instant::now();
    let mut first_done = None;
    let mut burst_ok = 0;
    for _ in 0..10 {
        burst_ok += usize::from(throttled_get(addr, "/s/x", 1).await);
        first_done.get_or_insert_with(Instant::now);
    }
    let first_done = first_done.unwrap();
    let burst_extra = refill(start, RATE);
    assert!(
        (BURST..=BURST + burst_extra).contains(&burst_ok),
        "burst of 10: {burst_ok} served, expected {BURST}..={} ({:?} elapsed)",
        BURST + burst_extra,
        start.elapsed()
    );

    // Let the bucket refill: poll the clock until 2.2 s have passed since the burst started.
    while start.elapsed() < Duration::from_millis(2200) {
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let mut later_ok = 0;
    let mut last_sent = Instant::now();
    for _ in 0..10 {
        last_sent = Instant::now();
        later_ok += usize::from(throttled_get(addr, "/s/x", 1).await);
    }
    let end = Instant::now();
    let total = burst_ok + later_ok;
    eprintln!(
        "served {burst_ok} of the burst, {later_ok} after the pause; {:?} in all",
        end - start
    );
    let most = BURST + ((end - start).as_secs_f64() * RATE).floor() as usize;
    let least = (BURST + ((last_sent - first_done).as_secs_f64() * RATE).floor() as usize).min(20);
    assert!(
        (least..=most).contains(&total),
        "{total} served over the test ({burst_ok} in the burst, {later_ok} after the pause), \
         expected {least}..={most}; {:?} from the start to the end, {:?} from the first \
         answer to the last send",
        end - start,
        last_sent - first_done
    );
    assert!(
        later_ok >= 1 || (last_sent - first_done) < Duration::from_secs(1),
        "the bucket did not refill after {:?}",
        last_sent - first_done
    );

    assert_eq!(
        metric(&gw, "stagecraft_throttled_total", &[("stage", "s")]).await,
        (20 - total) as f64,
        "stagecraft_throttled_total counts the 429s"
    );
    assert_eq!(
        metric(
            &gw,
            "stagecraft_gateway_responses_total",
            &[("stage", "s"), ("type", "THROTTLED")]
        )
        .await,
        (20 - total) as f64,
        "each 429 is a THROTTLED gateway response"
    );
    assert_eq!(
        be.requests(),
        total,
        "only served requests reach the backend"
    );
}

/// A route with its own `throttle:` has its own bucket, untouched by the stage's; routes
/// without one share the stage's bucket. Rates of one token per 100 s make refills irrelevant
/// (still allowed for, from the measured time).
#[tokio::test]
async fn a_route_throttle_overrides_the_stage_with_its_own_bucket() {
    const RATE: f64 = 0.01;
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    let uri = format!("http://{}/x", be.addr());
    put_deployment(
        &dir,
        "shop-1",
        json!([
            proxy_with(
                "GET /own",
                &uri,
                "throttle",
                json!({"rate": RATE, "burst": 4})
            ),
            proxy("GET /shared", &uri),
            proxy("GET /also", &uri),
        ]),
    );
    put_stage(
        &dir,
        "s",
        "shop-1",
        json!({"throttle": {"rate": RATE, "burst": 2}}),
    );
    let gw = Gateway::start(&dir).await;
    let addr = gw.addr();
    let start = Instant::now();

    let shared = served_of(addr, "/s/shared", 6, 100).await;
    assert!(
        (2..=2 + refill(start, RATE)).contains(&shared),
        "/shared: {shared} of 6 served, expected the stage's burst of 2"
    );
    // /also has no throttle of its own: the stage's bucket, already empty.
    let also = served_of(addr, "/s/also", 2, 100).await;
    assert!(
        also <= refill(start, RATE),
        "/also: {also} served from the stage's empty bucket"
    );
    // /own: its own bucket of 4, although the stage's is empty.
    let own = served_of(addr, "/s/own", 6, 100).await;
    assert!(
        (4..=4 + refill(start, RATE)).contains(&own),
        "/own: {own} of 6 served, expected the route's burst of 4"
    );
    // Using the route's bucket did not refill the stage's.
    let again = served_of(addr, "/s/shared", 2, 100).await;
    assert!(
        again <= refill(start, RATE),
        "/shared served {again} again after /own"
    );
    let refused = (6 - shared) + (2 - also) + (6 - own) + (2 - again);
    assert_eq!(
        metric(&gw, "stagecraft_throttled_total", &[("stage", "s")]).await,
        refused as f64,
        "stagecraft_throttled_total counts the route's 429s and the stage's"
    );
}

/// gateway.yaml `throttle:` is the default of every stage without one, each stage with its own
/// bucket; a stage's own `throttle:` replaces it.
#[tokio::test]
async fn the_gateway_throttle_applies_to_stages_without_one() {
    const RATE: f64 = 0.01;
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "a", "shop-1", json!({}));
    put_stage(&dir, "b", "shop-1", json!({}));
    put_stage(
        &dir,
        "c",
        "shop-1",
        json!({"throttle": {"rate": RATE, "burst": 1}}),
    );
    dir.set_gateway_key("throttle", json!({"rate": RATE, "burst": 3}));
    let gw = Gateway::start(&dir).await;
    let addr = gw.addr();
    let start = Instant::now();

    for stage in ["a", "b"] {
        let ok = served_of(addr, &format!("/{stage}/x"), 5, 100).await;
        assert!(
            (3..=3 + refill(start, RATE)).contains(&ok),
            "stage {stage}: {ok} of 5 served, expected the default burst of 3 (its own bucket)"
        );
    }
    let ok = served_of(addr, "/c/x", 3, 100).await;
    assert!(
        (1..=1 + refill(start, RATE)).contains(&ok),
        "stage c: {ok} of 3 served, expected its own burst of 1"
    );
    for (stage, refused) in [("a", 2.0), ("b", 2.0), ("c", 2.0)] {
        let n = metric(&gw, "stagecraft_throttled_total", &[("stage", stage)]).await;
        assert!(
            n <= refused && n >= refused - refill(start, RATE) as f64,
            "stagecraft_throttled_total{{stage={stage:?}}} = {n}, expected {refused}"
        );
    }
}

/// A reload that leaves a throttle as it was keeps its bucket (no fresh burst); one that
/// changes the throttle starts a new bucket.
#[tokio::test]
async fn a_reload_does_not_refill_an_unchanged_bucket() {
    const RATE: f64 = 0.01;
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    let stage = |v: &str, burst: u64| json!({"variables": {"v": v}, "throttle": {"rate": RATE, "burst": burst}});
    put_stage(&dir, "s", "shop-1", stage("one", 2));
    let gw = Gateway::start(&dir).await;
    let addr = gw.addr();
    let start = Instant::now();

    let ok = served_of(addr, "/s/x", 3, 100).await;
    assert!(
        (2..=2 + refill(start, RATE)).contains(&ok),
        "{ok} of 3 served"
    );

    // An unrelated change: a stage variable.
    let g1 = generation(&gw).await;
    put_stage(&dir, "s", "shop-1", stage("two", 2));
    eventually("the reload with the new variable", DEADLINE, || async {
        generation(&gw).await > g1
    })
    .await;
    let cfg = gw.admin_get("/config").await.unwrap().json();
    assert_eq!(
        cfg["stages"][0]["variables"]["v"], "two",
        "the new variable is served: {cfg}"
    );
    assert!(
        !throttled_get(addr, "/s/x", 100).await || refill(start, RATE) > 0,
        "the reload refilled the bucket: a request was served right after it"
    );

    // A changed throttle is a new bucket with its full burst.
    let g2 = generation(&gw).await;
    put_stage(&dir, "s", "shop-1", stage("two", 3));
    eventually("the reload with the new throttle", DEADLINE, || async {
        generation(&gw).await > g2
    })
    .await;
    let ok = served_of(addr, "/s/x", 4, 100).await;
    assert!(
        (3..=3 + refill(start, RATE)).contains(&ok),
        "{ok} of 4 served after the throttle changed, expected the new burst of 3"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Request limits: 413, 414, 431.

/// A `Content-Length` above `max_body_bytes` is refused before anything reaches the backend;
/// exactly the limit passes.
#[tokio::test]
async fn a_declared_body_over_the_limit_is_413_without_reaching_the_backend() {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "s", "shop-1", json!({}));
    dir.set_limit("max_body_bytes", 1000);
    let gw = Gateway::start(&dir).await;

    let post = |len: usize| {
        let mut req =
            format!("POST /s/echo-body HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {len}\r\n\r\n")
                .into_bytes();
        req.extend(std::iter::repeat_n(b'x', len));
        req
    };
    let r = raw_one(gw.addr(), &post(1001)).await;
    r.assert_gateway_error(413, "Request Too Large");
    assert_eq!(be.requests(), 0, "the backend saw the 413 request");

    let r = raw_one(gw.addr(), &post(1000)).await;
    assert_eq!(r.status, 200, "exactly the limit: {}", r.text());
    assert_eq!(r.json()["body_len"], 1000);
}

const BODY_LIMIT: usize = 1000;
const BODY_CHUNK: usize = 300;

/// Streams a chunked body to `/s/up` on a recorder backend (answering with `prefix`): three
/// chunks of 300 bytes, checks they reach the backend before the body is complete, then two
/// more (1500 in all, over the limit of 1000) and the end of the body. Returns what the client
/// read after that (and whether the gateway closed the connection), once the gateway's answer
/// is complete or the connection closed; and the recorder, once the upstream connection closed.
async fn stream_past_the_limit(prefix: &'static [u8]) -> (Exchange, Recorder, Gateway) {
    let rec = Recorder::answering(prefix).await;
    let dir = ConfigDir::new();
    put_deployment(
        &dir,
        "shop-1",
        json!([proxy("POST /up", &format!("http://{}/up", rec.addr))]),
    );
    put_stage(&dir, "s", "shop-1", json!({}));
    dir.set_limit("max_body_bytes", BODY_LIMIT as u64);
    let gw = Gateway::start(&dir).await;

    let chunk = format!("{BODY_CHUNK:x}\r\n{}\r\n", "y".repeat(BODY_CHUNK));
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut first =
        b"POST /s/up HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        first.extend_from_slice(chunk.as_bytes());
    }
    s.write_all(&first).await.unwrap();
    // Streaming: 900 bytes are at the backend before the body is complete.
    eventually("the first 900 bytes at the backend", DEADLINE, || async {
        rec.body_data() >= 3 * BODY_CHUNK
    })
    .await;
    let head = rec.head().unwrap();
    assert!(
        head.starts_with("post /up http/1.1"),
        "upstream request head: {head}"
    );
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 16 * 1024];
    if !prefix.is_empty() {
        // The answer has started: wait until the client has its beginning.
        within("the beginning of the answer at the client", async {
            while buf.len() < prefix.len() {
                match s.read(&mut tmp).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
        })
        .await;
    }

    let mut rest = Vec::new();
    for _ in 0..2 {
        rest.extend_from_slice(chunk.as_bytes());
    }
    rest.extend_from_slice(b"0\r\n\r\n");
    let _ = s.write_all(&rest).await;
    let closed = within("the answer to the oversized body", async {
        loop {
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
            if prefix.is_empty() && parse_response(&buf, false).is_some() {
                return false;
            }
        }
    })
    .await;
    let mut responses = Vec::new();
    if let Some((r, used)) = parse_response(&buf, closed) {
        responses.push(r);
        buf.drain(..used);
    }

    // The upstream request is abandoned: its connection closes.
    eventually("the upstream connection closed", DEADLINE, || async {
        rec.closed.load(Ordering::SeqCst)
    })
    .await;
    assert_eq!(
        *rec.connections.lock().unwrap(),
        1,
        "one upstream connection"
    );
    let x = Exchange {
        responses,
        closed,
        leftover: buf,
    };
    (x, rec, gw)
}

/// The backend received the first chunks, and at most the limit plus the chunk being read.
fn assert_cut_at_the_limit(rec: &Recorder) {
    let sent = rec.body_data();
    eprintln!("the backend received {sent} body bytes");
    assert!(
        (3 * BODY_CHUNK..=BODY_LIMIT + BODY_CHUNK).contains(&sent),
        "the backend received {sent} body bytes, expected at most {} (limit + one chunk)",
        BODY_LIMIT + BODY_CHUNK
    );
}

/// A chunked body that grows past `max_body_bytes` while it streams, before the backend has
/// answered: the first chunks reach the backend as they come, the one that crosses the limit
/// does not; the client gets the 413 and the upstream connection is closed.
#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_413_mid_stream() {
    let (x, rec, _gw) = stream_past_the_limit(b"").await;
    let reply = x.responses.first().unwrap_or_else(|| {
        panic!(
            "no answer (closed: {}); got {:?}",
            x.closed,
            String::from_utf8_lossy(&x.leftover)
        )
    });
    reply.assert_gateway_error(413, "Request Too Large");
    assert_cut_at_the_limit(&rec);
}

/// The same when the backend has already begun its answer (a status line, headers and a
/// first body chunk): a 413 can no longer be sent, so the gateway closes the client's
/// connection with the answer incomplete (no last chunk: the client cannot take it for a
/// whole answer) and closes the upstream connection.
#[tokio::test]
async fn a_body_past_the_limit_after_the_answer_began_closes_the_connection() {
    const BEGUN: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    let (x, rec, _gw) = stream_past_the_limit(BEGUN).await;
    assert!(x.closed, "the client connection stayed open");
    assert!(
        x.responses.is_empty(),
        "the client got a complete answer: {:?}",
        x.responses
    );
    let text = String::from_utf8_lossy(&x.leftover).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the client got the beginning of the answer: {text:?}"
    );
    let body = &x.leftover[find(&x.leftover, b"\r\n\r\n").unwrap() + 4..];
    let (data, end) = dechunk(body);
    assert_eq!(data, b"hello", "the body the client got: {text:?}");
    assert_eq!(end, None, "the body was terminated: {text:?}");
    assert_cut_at_the_limit(&rec);
}

/// `max_url_bytes` (path and query) -> 414; `max_headers` and `max_header_bytes` (names and
/// values of all headers) -> 431; exactly at each limit passes. None of the refused requests
/// reaches the backend.
#[tokio::test]
async fn long_urls_are_414_and_large_or_many_headers_431() {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "s", "shop-1", json!({}));
    dir.set_limit("max_url_bytes", 1000);
    dir.set_limit("max_headers", 20);
    dir.set_limit("max_header_bytes", 2000);
    let gw = Gateway::start(&dir).await;
    let addr = gw.addr();

    // URL: "/s/" + 997 = 1000 bytes passes, 1001 does not; the query counts too.
    let at = format!("/s/{}", "a".repeat(997));
    assert_eq!(raw_one(addr, &raw_get(&at)).await.status, 200);
    let before = be.requests();
    let over = format!("/s/{}", "a".repeat(998));
    raw_one(addr, &raw_get(&over))
        .await
        .assert_gateway_error(414, "Request-URI Too Long");
    let over_q = format!("/s/x?q={}", "b".repeat(1001 - "/s/x?q=".len()));
    raw_one(addr, &raw_get(&over_q))
        .await
        .assert_gateway_error(414, "Request-URI Too Long");
    assert_eq!(be.requests(), before, "a 414 request reached the backend");

    // Header count: Host plus n more.
    let with_headers = |n: usize| {
        let mut req = String::from("GET /s/x HTTP/1.1\r\nHost: gw.test\r\n");
        for i in 0..n {
            req.push_str(&format!("x-h{i}: v\r\n"));
        }
        req.push_str("\r\n");
        req.into_bytes()
    };
    assert_eq!(
        raw_one(addr, &with_headers(19)).await.status,
        200,
        "20 headers"
    );
    let before = be.requests();
    raw_one(addr, &with_headers(20))
        .await
        .assert_gateway_error(431, "Request Header Fields Too Large");

    // Header bytes: "host" + "gw.test" (11) + "x-big" (5) + value.
    let big = |n: usize| {
        format!(
            "GET /s/x HTTP/1.1\r\nHost: gw.test\r\nx-big: {}\r\n\r\n",
            "z".repeat(n)
        )
        .into_bytes()
    };
    raw_one(addr, &big(2000 - 16 + 1))
        .await
        .assert_gateway_error(431, "Request Header Fields Too Large");
    assert_eq!(be.requests(), before, "a 431 request reached the backend");
    let r = raw_one(addr, &big(2000 - 16)).await;
    assert_eq!(r.status, 200, "exactly 2000 header bytes: {}", r.text());
}

// ---------------------------------------------------------------------------------------------
// 4. Path safety.

/// Dot segments (plain and percent-encoded) and empty segments are resolved before routing:
/// the backend never sees `..`; a bad escape is 400; an encoded slash stays encoded; `..`
/// cannot climb out of the stage.
#[tokio::test]
async fn paths_are_normalised_before_routing() {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    let mut routes = catch_all(be.addr());
    routes.as_array_mut().unwrap().push(proxy(
        "GET /items/{id}",
        &format!("http://{}/items/{{id}}", be.addr()),
    ));
    put_deployment(&dir, "shop-1", routes);
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;
    let addr = gw.addr();

    for target in [
        "/s/a/../b",
        "/s/a/%2e%2e/b",
        "/s/a/%2E%2e/b",
        "//s//b",
        "/s/./b",
        "/s/a/b/../../b",
        "/s/%2e/b",
    ] {
        let r = raw_one(addr, &raw_get(target)).await;
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(r.seen_path(), "/b", "{target} at the backend");
    }
    // The query is kept as sent.
    let r = raw_one(addr, &raw_get("/s/a/../b?x=../y")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.seen_path(), "/b");
    assert_eq!(r.json()["query"], "x=../y");

    let before = be.requests();
    for target in ["/s/a%zz", "/s/a%2", "/s/a%"] {
        raw_one(addr, &raw_get(target))
            .await
            .assert_gateway_error(400, "Bad Request");
    }
    assert_eq!(be.requests(), before, "a bad escape reached the backend");

    let r = raw_one(addr, &raw_get("/s/items/a%2Fb")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.seen_path(), "/items/a%2Fb", "the encoded slash stays");

    for target in [
        "/s/../../etc/passwd",
        "/s/x/../../etc/passwd",
        "/s/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let r = raw_one(addr, &raw_get(target)).await;
        match r.status {
            404 => r.assert_gateway_error(404, "Not Found"),
            200 => assert!(!r.seen_path().contains(".."), "{target}: {}", r.seen_path()),
            s => panic!("{target}: status {s}: {}", r.text()),
        }
    }
    let seen = be.seen_requests();
    assert!(
        seen.iter().all(|p| {
            let path = p.split('?').next().unwrap_or("").to_ascii_lowercase();
            !path.contains("..") && !path.contains("%2e") && !path.contains("//")
        }),
        "the backend saw a dot segment or an empty segment: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Request smuggling. Each case on a fresh connection, each followed by a second request
// hidden where one reading of the framing would see a body and another a new request.

/// What the gateway did with one ambiguous request: answered 400 or closed the connection,
/// never executed the smuggled request and, strictly, forwarded nothing at all.
///
/// "Nothing forwarded" is checked without waiting: a sentinel request sent after the answer
/// reaches the backend on a new upstream connection, and the backend accepts connections in
/// order, so once the sentinel is answered any connection the gateway opened for the ambiguous
/// request (before it answered) has been counted.
async fn assert_refused_and_nothing_forwarded(case: &str, request: &[u8]) {
    assert_refused(case, request, Forwarding::Nothing).await
}

/// How much of a refused request may reach the backend.
#[derive(PartialEq)]
pub(crate) enum Forwarding {
    Nothing,
    /// A streaming proxy sends the head before it reads the body, so a body that turns out to be
    /// malformed is found after the head went upstream: the head may arrive (and the upstream
    /// connection is then abandoned), but nothing the client put after the bad framing may.
    HeadOnly,
}

pub(crate) async fn assert_refused(case: &str, request: &[u8], forwarding: Forwarding) {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;

    let x = raw(gw.addr(), request, None, Duration::from_secs(5)).await;
    let statuses: Vec<u16> = x.responses.iter().map(|r| r.status).collect();
    let sentinel = get(gw.addr(), "/s/sentinel").await;
    assert_eq!(sentinel.status, 200, "sentinel: {}", sentinel.text());
    let upstream_connections = be.connections() - 1;
    // What the backend made of it, for the report (only waits when something was forwarded).
    if upstream_connections > 0 {
        let _ = tokio::time::timeout(patience(Duration::from_secs(2)), async {
            while be.requests() < 2 {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
    }
    let seen: Vec<String> = be
        .seen_requests()
        .into_iter()
        .filter(|p| !p.ends_with("/sentinel"))
        .collect();
    eprintln!(
        "{case}: responses {statuses:?}, connection closed: {}, upstream connections opened: \
         {upstream_connections}, backend saw {seen:?}, first response: {:?}",
        x.closed,
        x.responses.first().map(|r| (&r.headers, r.text()))
    );
    // Never: the smuggled request executed, or a second answer on this connection.
    assert!(
        !seen.iter().any(|p| p.contains("smuggled")),
        "{case}: the smuggled request reached the backend: {seen:?}"
    );
    assert!(
        statuses.len() <= 1,
        "{case}: {} answers on one connection: {statuses:?}",
        statuses.len()
    );
    assert!(
        x.closed,
        "{case}: the connection stayed open after an ambiguous request"
    );
    // Strictly: 400 or just closed, and nothing reached the backend.
    assert!(
        statuses.iter().all(|s| *s == 400),
        "{case}: answered {statuses:?}, expected 400 or a closed connection; backend saw {seen:?}"
    );
    if forwarding == Forwarding::Nothing {
        assert!(
            upstream_connections == 0 && seen.is_empty(),
            "{case}: forwarded: the gateway opened {upstream_connections} upstream connection(s); \
             the backend saw {seen:?}"
        );
    } else {
        assert!(
            upstream_connections <= 1 && seen.len() <= 1,
            "{case}: more than the head was forwarded: {upstream_connections} upstream connection(s); \
             the backend saw {seen:?}"
        );
    }
}

pub(crate) const SMUGGLED: &str = "GET /s/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n";

/// HTTP/1.1 without `Host` (RFC 9112 3.2) and a backslash in the request target are 400 and
/// reach no backend; a `Content-Length` list of equal values, or the field repeated with equal
/// values, goes upstream as one `Content-Length` (RFC 9110 8.6), so a strict origin gets what
/// the gateway accepted.
#[tokio::test]
async fn missing_host_backslashes_and_content_length_lists() {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;
    for req in [
        "GET /s/x HTTP/1.1\r\n\r\n",
        "GET /s/x\\..\\..\\items HTTP/1.1\r\nHost: gw.test\r\n\r\n",
    ] {
        raw_one(gw.addr(), req.as_bytes())
            .await
            .assert_gateway_error(400, "Bad Request");
    }
    assert_eq!(be.requests(), 0, "refused requests reached the backend");
    for lengths in [
        "Content-Length: 5, 5",
        "Content-Length: 5\r\nContent-Length: 5",
    ] {
        let req = format!("POST /s/echo-body HTTP/1.1\r\nHost: gw.test\r\n{lengths}\r\n\r\nhello");
        let r = raw_one(gw.addr(), req.as_bytes()).await;
        assert_eq!(r.status, 200, "{lengths}: {}", r.text());
        let seen = r.json();
        assert_eq!(seen["headers"]["content-length"], "5", "{lengths}");
        assert_eq!(seen["body"], "hello", "{lengths}");
    }
}

/// CL.TE: by `Content-Length` the body runs over the smuggled request, by chunked framing the
/// body ends before it.
#[tokio::test]
async fn smuggling_content_length_with_transfer_encoding() {
    let body = format!("0\r\n\r\n{SMUGGLED}");
    let req = format!(
        "POST /s/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
        body.len()
    );
    assert_refused_and_nothing_forwarded("Content-Length + Transfer-Encoding", req.as_bytes())
        .await;
}

#[tokio::test]
async fn smuggling_two_different_content_lengths() {
    let req = format!(
        "POST /s/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nContent-Length: {}\r\n\r\nhello{SMUGGLED}",
        5 + SMUGGLED.len()
    );
    assert_refused_and_nothing_forwarded("two Content-Length values", req.as_bytes()).await;
}

#[tokio::test]
async fn smuggling_content_length_not_a_number() {
    let req =
        format!("POST /s/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: abc\r\n\r\n{SMUGGLED}");
    assert_refused_and_nothing_forwarded("Content-Length: abc", req.as_bytes()).await;
}

#[tokio::test]
async fn smuggling_bad_chunk_size() {
    let req = format!(
        "POST /s/x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n{SMUGGLED}"
    );
    // The head is forwarded before the body is read (uploads stream); the malformed chunk is
    // found then: 400, both connections closed, the smuggled request never executed.
    assert_refused("bad chunk size", req.as_bytes(), Forwarding::HeadOnly).await;
}

/// The control: well-framed chunked requests are forwarded whole, and the connection stays
/// usable for the next one.
#[tokio::test]
async fn a_well_framed_chunked_request_is_forwarded_whole() {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;

    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    let req = b"POST /s/echo-body HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 16 * 1024];
    for i in 0..2 {
        s.write_all(req).await.unwrap();
        let r = within("the answer to a chunked request", async {
            loop {
                let closed = match s.read(&mut tmp).await {
                    Ok(0) | Err(_) => true,
                    Ok(n) => {
                        buf.extend_from_slice(&tmp[..n]);
                        false
                    }
                };
                if let Some((r, used)) = parse_response(&buf, closed) {
                    buf.drain(..used);
                    return r;
                }
                assert!(!closed, "request {i}: closed without an answer");
            }
        })
        .await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.json()["body"], "hello world", "request {i}");
    }
    assert_eq!(be.requests(), 2);
}

// ---------------------------------------------------------------------------------------------
// 6. Connect failures: retried on another target of the same version; the dead target is
// ejected for 10 s, so it costs one failure, not one per round-robin turn.

/// At most one connect failure per 10 s ejection of the dead target, plus the first.
fn failure_bound(since: Instant) -> f64 {
    (1 + since.elapsed().as_secs() / 10) as f64
}

#[tokio::test]
async fn a_dead_target_is_retried_on_the_next_and_then_skipped() {
    let a = Backend::start("A").await;
    let dir = ConfigDir::new();
    // The dead target first: the first request goes there.
    dir.set_backends(&[BackendSpec::new("pool").version("v1", [dead_addr(), a.addr()])]);
    put_deployment(
        &dir,
        "shop-1",
        json!([proxy("ANY /{proxy+}", "backend://pool:v1/{proxy}")]),
    );
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;
    let start = Instant::now();

    for i in 0..50 {
        let r = get(gw.addr(), "/s/x").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.backend(), Some("A"), "request {i}");
    }
    assert_eq!(a.requests(), 50);
    let failures = metric(&gw, "stagecraft_upstream_connect_failures_total", &[]).await;
    assert!(
        failures >= 1.0 && failures <= failure_bound(start),
        "stagecraft_upstream_connect_failures_total = {failures}, expected 1..={} \
         (the dead target is skipped after its first failure)",
        failure_bound(start)
    );
}

/// Retries stay in the version the alias picked: v2 (weight 0) is never used, even when v1's
/// first target is dead.
#[tokio::test]
async fn retries_never_move_to_another_version() {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let dir = ConfigDir::new();
    dir.set_backends(&[BackendSpec::new("pool")
        .version("v1", [dead_addr(), a.addr()])
        .version("v2", [b.addr()])
        .alias("live", [("v1", 100), ("v2", 0)])]);
    put_deployment(
        &dir,
        "shop-1",
        json!([proxy("ANY /{proxy+}", "backend://pool:live/{proxy}")]),
    );
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;
    let start = Instant::now();

    for i in 0..50 {
        let r = get(gw.addr(), "/s/x").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.backend(), Some("A"), "request {i}");
    }
    assert_eq!(b.requests(), 0, "the weight-0 version got requests");
    let failures = metric(&gw, "stagecraft_upstream_connect_failures_total", &[]).await;
    assert!(
        failures >= 1.0 && failures <= failure_bound(start),
        "stagecraft_upstream_connect_failures_total = {failures}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Active health checks.

#[tokio::test]
async fn active_health_checks_take_a_target_out_and_put_it_back() {
    const WAIT: Duration = Duration::from_secs(10);
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let dir = ConfigDir::new();
    dir.set_gateway_key(
        "backends",
        json!({"pool": {"versions": {"v1": {
            "targets": [a.addr().to_string(), b.addr().to_string()],
            "health_check": {"path": "/health", "interval_ms": 100},
        }}}}),
    );
    put_deployment(
        &dir,
        "shop-1",
        json!([proxy("ANY /{proxy+}", "backend://pool:v1/{proxy}")]),
    );
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;
    let addr = gw.addr();
    let answered = |n: usize| async move {
        let mut names = Vec::new();
        for _ in 0..n {
            let r = get(addr, "/s/x").await;
            assert_eq!(r.status, 200, "{}", r.text());
            names.push(r.backend().unwrap_or_default().to_string());
        }
        names
    };

    eventually("both targets serve", WAIT, || async {
        let names = answered(4).await;
        names.iter().any(|n| n == "A") && names.iter().any(|n| n == "B")
    })
    .await;
    eventually("the probes reach A", WAIT, || async {
        a.seen_requests().iter().any(|p| p == "GET /health")
    })
    .await;

    a.set_health(false);
    let out = eventually("A taken out: 10 requests in a row on B", WAIT, || async {
        answered(10).await.iter().all(|n| n == "B")
    })
    .await;

    a.set_health(true);
    let back = eventually("A put back: it serves again", WAIT, || async {
        answered(10).await.iter().any(|n| n == "A")
    })
    .await;
    eprintln!("taken out after {out:?}, put back after {back:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. Fault injection.

/// Deployment with a route per fault, served by stage `s` (no fault of its own) and stage `f`
/// (a stage-level abort with 418).
async fn fault_gateway() -> (Backend, ConfigDir, Gateway) {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    let uri = format!("http://{}/x", be.addr());
    let abort = |percent: f64| json!({"abort_status": 503, "abort_percent": percent});
    put_deployment(
        &dir,
        "shop-1",
        json!([
            proxy_with("GET /abort", &uri, "fault", abort(100.0)),
            proxy_with("GET /half", &uri, "fault", abort(50.0)),
            proxy_with("GET /optout", &uri, "fault", abort(0.0)),
            proxy_with(
                "GET /delayed",
                &uri,
                "fault",
                json!({"delay_ms": 200, "delay_percent": 100.0})
            ),
            proxy("GET /plain", &uri),
        ]),
    );
    put_stage(&dir, "s", "shop-1", json!({}));
    put_stage(
        &dir,
        "f",
        "shop-1",
        json!({"fault": {"abort_status": 418, "abort_percent": 100.0}}),
    );
    let gw = Gateway::start(&dir).await;
    (be, dir, gw)
}

#[tokio::test]
async fn a_full_abort_answers_the_status_without_calling_the_backend() {
    let (be, _dir, gw) = fault_gateway().await;
    for _ in 0..20 {
        assert_gateway_error(&get(gw.addr(), "/s/abort").await, 503, "Fault injected");
    }
    assert_eq!(be.requests(), 0, "an aborted request reached the backend");
}

#[tokio::test]
async fn a_half_abort_hits_about_half_of_the_requests() {
    let (be, _dir, gw) = fault_gateway().await;
    let mut aborted = 0;
    for _ in 0..400 {
        let r = get(gw.addr(), "/s/half").await;
        match r.status.as_u16() {
            503 => {
                assert_gateway_error(&r, 503, "Fault injected");
                aborted += 1;
            }
            200 => assert_eq!(r.backend(), Some("A")),
            s => panic!("status {s}: {}", r.text()),
        }
    }
    // 50 % +- 10 % of 400: 4 standard deviations of the binomial.
    assert!(
        (160..=240).contains(&aborted),
        "{aborted} of 400 aborted, expected 160..=240"
    );
    assert_eq!(
        be.requests(),
        400 - aborted,
        "only the others reach the backend"
    );
}

#[tokio::test]
async fn a_delay_holds_every_request_at_least_that_long() {
    let (be, _dir, gw) = fault_gateway().await;
    for _ in 0..3 {
        let t = Instant::now();
        let r = get(gw.addr(), "/s/delayed").await;
        let took = t.elapsed();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            took >= Duration::from_millis(200),
            "answered after {took:?}"
        );
    }
    assert_eq!(be.requests(), 3);
}

#[tokio::test]
async fn a_stage_fault_applies_to_routes_without_their_own() {
    let (be, _dir, gw) = fault_gateway().await;
    let addr = gw.addr();
    // Stage f aborts with 418 where the route has no fault...
    assert_gateway_error(&get(addr, "/f/plain").await, 418, "Fault injected");
    assert_eq!(be.requests(), 0);
    // ... but a route's own fault replaces the stage's: abort_percent 0 never aborts,
    assert_eq!(get(addr, "/f/optout").await.status, 200);
    // and the route's 503 wins over the stage's 418.
    assert_gateway_error(&get(addr, "/f/abort").await, 503, "Fault injected");
    // Stage s has no fault: the same route is served.
    assert_eq!(get(addr, "/s/plain").await.status, 200);
    assert_eq!(be.requests(), 2);
}
