//! End-to-end test harness for stagecraft.
//!
//! The tests drive the real `stagecraft` binary as a child process against a temporary
//! configuration directory, with in-process hyper backends and hyper clients on loopback:
//!
//! - [`ConfigDir`] writes `gateway.yaml`, `stages/`, `deployments/` (plain or Kubernetes
//!   ConfigMap layout) and knows the different ways editors replace files;
//! - [`Gateway`] starts `stagecraft run`, waits until it is ready, and kills it on drop;
//! - [`Backend`] is an echo server with hooks to hold, stream and observe bodies;
//! - [`Client`] is exactly one keep-alive connection, so a test can see it close;
//! - [`run_cli`] runs any other `stagecraft` command against the directory;
//! - [`hardening`], [`release`], [`observability`] and [`reload`] hold the fixtures of a topic
//!   that both its parallel tests (`tests/e2e/`) and its timed ones (`tests/timing/`) use.
//!
//! Every wait is a poll with a generous deadline that only bounds a failure; nothing
//! synchronises by sleeping. Every deadline and every wall-clock bound a test asserts goes
//! through [`patience`], so a slow machine can stretch them all with one variable.

// Both test binaries, tests/e2e and tests/timing, compile this module; each uses a subset of it.
#![allow(dead_code, unused_imports)]
#![allow(clippy::unwrap_used)]

mod backend;
pub mod browser;
mod cli;
mod client;
mod config;
mod gateway;
pub mod hardening;
pub mod observability;
mod redis;
pub mod release;
pub mod reload;
pub mod strict;
pub mod tls;
pub mod usage;
pub mod wire;

pub use backend::{Backend, UploadEvent};
pub use cli::{run_cli, run_cli_env, spawn_cli, spawn_cli_env, CliRun};
pub use client::{
    channel_body, full, get, get_with, read_reply, try_get, Body, ChannelBody, Client, Reply,
};
pub use config::{BackendSpec, ConfigDir, Deployment, Stage};
pub use gateway::Gateway;
pub use redis::RedisServer;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Upper bound for anything that should take milliseconds: only reached when something is broken.
/// Scaled by [`patience`] where it is used.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// `bound` multiplied by `STAGECRAFT_TEST_PATIENCE`, a positive decimal number (default 1).
///
/// Every wall-clock bound the tests assert ("served within 1 s", "exits within 1 s", "504 within
/// 3 s") and every deadline of a wait for a condition goes through this, so that a slow or busy
/// machine can run the suite with, say, `STAGECRAFT_TEST_PATIENCE=3` instead of failing on
/// time. Lower bounds ("not before the 1 s idle timeout") are not scaled: slowness cannot break
/// them. [`eventually`], [`within`] and the harness's own waits apply it themselves; a test
/// applies it to the bounds it asserts. A value that is not a positive number panics, naming it.
pub fn patience(bound: Duration) -> Duration {
    static FACTOR: OnceLock<f64> = OnceLock::new();
    let factor = *FACTOR.get_or_init(|| match std::env::var("STAGECRAFT_TEST_PATIENCE") {
        Err(_) => 1.0,
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => f,
            _ => panic!(
                "STAGECRAFT_TEST_PATIENCE={v:?}: expected a positive number such as 2 or 1.5"
            ),
        },
    });
    bound.mul_f64(factor)
}

/// How often [`eventually`] re-checks a condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Chunk size used by the streaming helpers (backend downloads, client uploads).
pub const CHUNK: usize = 64 * 1024;

/// A free loopback port: bind port 0, read the port, release it.
///
/// Another process may grab it before we use it; [`Gateway::start`] retries on such a clash.
pub fn reserve_port() -> u16 {
    reserve_ports(1)[0]
}

/// `n` distinct free loopback ports (all listeners are held until every port is known,
/// so the OS cannot hand out the same port twice), none of them handed out before by this
/// process: a released port (a "dead" backend's) must not come back as a gateway's listener.
pub fn reserve_ports(n: usize) -> Vec<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut listeners: Vec<TcpListener> = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        // A port given before stays bound here until the loop ends, so the OS picks another.
        if !given.contains(&port) {
            given.push(port);
            ports.push(port);
        }
        listeners.push(l);
    }
    ports
}

/// A loopback address where nothing listens (for "backend down" cases).
pub fn dead_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], reserve_port()))
}

/// Polls `check` every [`POLL_INTERVAL`] until it returns true and returns the time it took,
/// measured from the call. Panics with `what` after [`patience`]`(deadline)`.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = patience(deadline);
    let start = Instant::now();
    loop {
        // A single check must not hang past the deadline either (e.g. a stuck connection).
        let left = deadline.saturating_sub(start.elapsed());
        if let Ok(true) = tokio::time::timeout(left, check()).await {
            return start.elapsed();
        }
        if start.elapsed() >= deadline {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Which backend answered GET `path` on a new connection (`None`: no 200, or no connection).
pub async fn backend_at(addr: SocketAddr, path: &str) -> Option<String> {
    let r = try_get(addr, path).await?;
    if r.status != 200 {
        return None;
    }
    r.backend().map(str::to_string)
}

/// Polls until GET `path` is answered by `backend`; returns and prints the time it took, measured
/// from the call. Panics with `what` after 10 s (scaled by [`patience`]): that bound only stops a
/// failing test, the caller asserts its own bound on the time returned.
pub async fn served_by(addr: SocketAddr, path: &str, backend: &str, what: &str) -> Duration {
    let took = eventually(
        &format!("{what}: {path} answered by {backend}"),
        Duration::from_secs(10),
        || async move { backend_at(addr, path).await.as_deref() == Some(backend) },
    )
    .await;
    println!("{what}: served after {} ms", took.as_millis());
    took
}

/// Awaits `fut`, panicking with `what` if it takes longer than [`patience`]`(`[`DEADLINE`]`)`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    let deadline = patience(DEADLINE);
    match tokio::time::timeout(deadline, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {deadline:?}: {what}"),
    }
}

/// Deterministic test payload: byte `i` of a stream is `i % 251`. 251 is prime, so the
/// pattern never lines up with chunk boundaries and a lost, repeated or reordered chunk
/// changes the hash.
pub fn pattern(offset: usize, len: usize) -> Bytes {
    (offset..offset + len).map(|i| (i % 251) as u8).collect()
}

/// Lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// Lowercase hex sha256 of `pattern(0, len)`, computed chunk by chunk.
pub fn pattern_sha256(len: usize) -> String {
    let mut h = Sha256::new();
    let mut off = 0;
    while off < len {
        let n = CHUNK.min(len - off);
        h.update(pattern(off, n));
        off += n;
    }
    format!("{:x}", h.finalize())
}
