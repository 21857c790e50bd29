//! Third stage of the data flow: the one place the current `Snapshot` lives. Requests take one
//! `Arc<Snapshot>` at their start (`current`) and keep it to their end; the reloader publishes
//! a new one with a single `ArcSwap::store`. Nothing on the request path takes a lock.

use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The outcome of the last reload that failed, for `/config` and logs.
#[derive(Debug, Clone)]
pub struct ReloadFailure {
    pub at: SystemTime,
    pub message: String,
}

#[derive(Debug)]
pub struct Store {
    current: ArcSwap<Snapshot>,
    /// True once the watcher runs: a SIGHUP before that would kill the process.
    watching: AtomicBool,
    /// True once shutdown began: readiness fails so load balancers stop sending.
    draining: AtomicBool,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// Only the reloader and the admin endpoint touch it, never a request.
    last_error: Mutex<Option<ReloadFailure>>,
}

impl Store {
    pub fn new(initial: Snapshot) -> Store {
        Store {
            current: ArcSwap::from_pointee(initial),
            watching: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// The snapshot a request uses from start to end.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn publish(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
        self.reloads_ok.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    pub fn record_failure(&self, message: String) {
        self.reloads_failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(ReloadFailure {
                at: SystemTime::now(),
                message,
            });
        }
    }

    /// The directory is back to what is served: the last failure no longer describes it.
    pub fn clear_error(&self) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    pub fn last_error(&self) -> Option<ReloadFailure> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }

    pub fn set_watching(&self) {
        self.watching.store(true, Ordering::Release);
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Ready: a snapshot is loaded (always, once constructed), changes are being watched, and the
    /// process is not shutting down.
    pub fn is_ready(&self) -> bool {
        self.watching.load(Ordering::Acquire) && !self.draining.load(Ordering::Acquire)
    }
}
