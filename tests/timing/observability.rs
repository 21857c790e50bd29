//! Shutdown against the clock: SIGTERM drains the request in flight and exits as soon as it is
//! answered, SIGTERM with nothing in flight and SIGINT exit at once; "at once" is an acceptance
//! criterion, less than a second (the rest of observability is in `tests/e2e/observability.rs`).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::common;
use crate::common::observability::shutdown_gateway;
use crate::common::{eventually, get, Backend, Client, Gateway, Reply};

/// Failure bound for waits that are not the thing measured.
const WAIT: Duration = Duration::from_secs(20);

/// The contract for "exits at once": measured, printed and asserted (scaled by
/// `common::patience`).
const EXIT_BOUND: Duration = Duration::from_secs(1);

/// Whether a new TCP connection to `addr` is refused (nothing listens any more).
async fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect(addr).await,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// Starts GET /s/slow on its own connection; the task returns the reply (or the transport
/// error) and when it arrived.
fn start_slow(addr: SocketAddr) -> tokio::task::JoinHandle<(Result<Reply, String>, Instant)> {
    tokio::spawn(async move {
        let mut client = Client::connect(addr).await;
        let r = client.get("/s/slow").await.map_err(|e| format!("{e:?}"));
        (r, Instant::now())
    })
}

/// Sends `kill -SIG` and waits for the exit: its status and how long after the signal it came,
/// printed with `what`.
async fn exit_after_signal(gw: &Gateway, sig: &str, what: &str) -> (ExitStatus, Duration) {
    let sent = Instant::now();
    gw.signal(sig);
    let status = gw.wait_exit(WAIT).await.expect("the gateway exits");
    let took = sent.elapsed();
    println!(
        "{what}: exited ({status}) {} ms after the signal",
        took.as_millis()
    );
    (status, took)
}

/// SIGTERM: the listener closes at once while a request is in flight, the request completes,
/// and the process exits with 0 as soon as it is answered, not after the grace period.
#[tokio::test]
async fn sigterm_drains_the_request_in_flight_then_exits_at_once() {
    let _serial = crate::serial().await;
    let backend = Backend::start("A").await;
    let (_dir, gw) = shutdown_gateway(&backend, &[("shutdown_grace_seconds", 10.into())]).await;
    let slow = start_slow(gw.addr());
    assert_eq!(backend.wait_held().await, "/slow");

    gw.signal("TERM");
    let took = eventually("new connections refused after SIGTERM", WAIT, || {
        refused(gw.addr())
    })
    .await;
    println!(
        "SIGTERM: new connections refused after {} ms",
        took.as_millis()
    );
    assert!(
        gw.is_running(),
        "the request in flight keeps the process alive"
    );

    backend.release();
    let (reply, answered_at) = common::within("the slow request answered", slow)
        .await
        .unwrap();
    let reply = reply.unwrap_or_else(|e| panic!("the request in flight failed: {e}"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.seen("path"), "/slow");
    let status = gw
        .wait_exit(WAIT)
        .await
        .expect("the gateway exits after its last request");
    let exit_after = answered_at.elapsed();
    println!(
        "SIGTERM: exited ({status}) {} ms after the last response arrived",
        exit_after.as_millis()
    );
    assert_eq!(status.code(), Some(0), "exit status {status}");
    crate::assert_under(
        exit_after,
        EXIT_BOUND,
        "exited (grace is 10 s) after the last response",
    );
}

/// SIGTERM with nothing in flight: exit 0 within a second.
#[tokio::test]
async fn sigterm_with_nothing_in_flight_exits_at_once() {
    let _serial = crate::serial().await;
    let backend = Backend::start("A").await;
    let (_dir, gw) = shutdown_gateway(&backend, &[]).await;
    assert_eq!(get(gw.addr(), "/s/x").await.status, 200);
    let (status, took) = exit_after_signal(&gw, "TERM", "SIGTERM, idle").await;
    assert_eq!(status.code(), Some(0), "exit status {status}");
    crate::assert_under(took, EXIT_BOUND, "exited");
}

/// SIGINT is the fast exit: within a second even with a request held at the backend.
#[tokio::test]
async fn sigint_exits_at_once_even_with_a_request_held() {
    let _serial = crate::serial().await;
    let backend = Backend::start("A").await;
    let (_dir, gw) = shutdown_gateway(&backend, &[]).await;
    let slow = start_slow(gw.addr());
    assert_eq!(backend.wait_held().await, "/slow");
    let (_, took) = exit_after_signal(&gw, "INT", "SIGINT, one request held").await;
    crate::assert_under(took, EXIT_BOUND, "exited");
    // The held request was cut: an error, or at least no 200.
    let (cut, _) = common::within("the held request ends", slow).await.unwrap();
    assert!(
        cut.as_ref().map_or(true, |r| r.status != 200),
        "SIGINT answered the held request: {cut:?}"
    );
    backend.release();
}
