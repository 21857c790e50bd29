//! Beside the data flow, used by `proxy` at step 7: the usage store, which checks and counts a
//! keyed request against its plan (DESIGN.md 9). `local` (the default) uses the buckets and
//! counters the snapshot holds, in this process, saved under `state_dir` (`persist`); a
//! `redis://` store checks the plan's throttles and counts its quota in one Lua script per
//! request (`shared`), so every replica enforces one limit. When Redis fails,
//! `on_store_error` decides: `allow` counts locally until it is back, `deny` answers 503.

pub mod persist;
pub mod service;
pub mod shared;

use crate::config::usage::{OnStoreError, StoreUrl};
use crate::snapshot::quota;
use crate::snapshot::usage::{Grant, UsageSettings};
use std::time::Duration;

/// What the store made of one keyed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// A plan or method bucket is empty; a token comes back after this long.
    Throttled(Duration),
    QuotaExceeded,
    /// The shared store failed and `on_store_error` is `deny`.
    Unavailable,
}

/// The process's usage store, made at start from gateway.yaml's `usage:`.
pub struct Store {
    shared: Option<shared::Shared>,
    on_error: OnStoreError,
}

impl Store {
    pub fn new(settings: &UsageSettings) -> Store {
        let shared = match &settings.store {
            StoreUrl::Local => None,
            StoreUrl::Redis(url) => Some(shared::Shared::new(url.clone(), settings.timeout)),
        };
        Store {
            shared,
            on_error: settings.on_store_error,
        }
    }

    /// A store counting in this process only.
    pub fn local() -> Store {
        Store {
            shared: None,
            on_error: OnStoreError::Allow,
        }
    }

    pub fn shared(&self) -> Option<&shared::Shared> {
        self.shared.as_ref()
    }

    /// Checks and counts one request of `grant` to `route` (`GET /x`).
    pub async fn check(&self, grant: &Grant, route: &str) -> Verdict {
        let Some(shared) = &self.shared else {
            return local(grant, route, quota::now());
        };
        match shared.check(grant, route).await {
            Ok(v) => v,
            Err(()) => match self.on_error {
                OnStoreError::Allow => local(grant, route, quota::now()),
                OnStoreError::Deny => Verdict::Unavailable,
            },
        }
    }
}

/// The plan's throttle, the route's method throttle, then the quota, in this process.
pub fn local(grant: &Grant, route: &str, now: i64) -> Verdict {
    let plan = &grant.plan;
    for limit in plan.throttle.iter().chain(grant.method(route)) {
        if let Err(wait) = limit.bucket.take() {
            return Verdict::Throttled(wait);
        }
    }
    if let Some(rule) = &plan.quota {
        if plan.counter.take(rule.span(now).id, rule.limit).is_err() {
            return Verdict::QuotaExceeded;
        }
    }
    Verdict::Admit
}
