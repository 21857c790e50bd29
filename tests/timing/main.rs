//! Wall-clock contracts: the end-to-end tests that assert how long something takes. A reload
//! or a deploy served within a second, SIGTERM and SIGINT exits within a second, an integration
//! timeout answered within bounds, header-read and idle timeouts that close a connection after
//! their time and not before.
//!
//! They run one at a time, after the parallel suite (`tests/e2e/`), so that no other test's load
//! eats into a measured bound: `scripts/test.sh` runs `cargo test --test timing --
//! --test-threads=1`, and every test first takes [`serial`], which keeps them apart under a
//! plain `cargo test` too. Every bound goes through `common::patience`
//! (`STAGECRAFT_TEST_PATIENCE`).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

#[path = "../common/mod.rs"]
mod common;

mod console;
mod hardening;
mod observability;
mod release;
mod reload;
mod usage;

/// Held by the running test; see the module docs.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until no other test of this binary runs; the guard lets the next one go when dropped.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Asserts a wall-clock contract: `took`, how long `what` took, is under `bound` (the contract as
/// documented) scaled by `common::patience`.
fn assert_under(took: Duration, bound: Duration, what: &str) {
    let scaled = common::patience(bound);
    assert!(
        took < scaled,
        "{what} after {took:?}; the contract is < {bound:?} (here < {scaled:?})"
    );
}
