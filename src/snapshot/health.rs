//! Part of the second stage of the data flow (`snapshot`): target health, shared by every snapshot:
//! passive ejection (a target that refused a connection is skipped for a while) and active checks
//! (a background probe marks targets up or down). State is keyed by target address in a `Registry`
//! (part of the `snapshot::Carried` state the reloader passes to every compile), so a reload keeps
//! what is known about each target; requests read two atomics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// How long a target that failed a connection is skipped.
pub const EJECTION: Duration = Duration::from_secs(10);

/// The origin of the clock ejections are counted on: a constant of the process, not state a
/// reload has to carry.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

#[derive(Debug)]
pub struct TargetHealth {
    pub addr: SocketAddr,
    /// Milliseconds since `EPOCH` until which the target is skipped (passive).
    ejected_until: AtomicU64,
    /// False while active checks fail.
    healthy: AtomicBool,
}

impl TargetHealth {
    pub fn available(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
            && self.ejected_until.load(Ordering::Relaxed) <= now_ms()
    }

    pub fn eject(&self) {
        self.ejected_until
            .store(now_ms() + EJECTION.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn set_healthy(&self, up: bool) {
        let was = self.healthy.swap(up, Ordering::Relaxed);
        if was != up {
            tracing::warn!(target_addr = %self.addr, healthy = up, "health check changed a target's state");
        }
        if up {
            // A passing active check ends a passive ejection too.
            self.ejected_until.store(0, Ordering::Relaxed);
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// Health records by target address: what the next snapshot reuses. Weak, so a target no
/// snapshot names any more is forgotten.
#[derive(Debug, Default)]
pub struct Registry(Mutex<HashMap<SocketAddr, Weak<TargetHealth>>>);

impl Registry {
    /// The health record of `addr`: the live one if a snapshot holds it, else a new healthy one.
    pub fn of(&self, addr: SocketAddr) -> Arc<TargetHealth> {
        // A panic elsewhere while holding the lock leaves the map intact: keep using it.
        let mut reg = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = reg.get(&addr).and_then(Weak::upgrade) {
            return h;
        }
        let h = Arc::new(TargetHealth {
            addr,
            ejected_until: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
        });
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(addr, Arc::downgrade(&h));
        h
    }
}

/// `health_check:` of a backend version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_keeps_what_it_knows_while_a_snapshot_holds_it() {
        let reg = Registry::default();
        let addr: SocketAddr = ([127, 0, 0, 1], 9001).into();
        let a = reg.of(addr);
        a.set_healthy(false);
        assert!(
            !reg.of(addr).is_healthy(),
            "the next compile sees the same record"
        );
        assert!(
            Registry::default().of(addr).is_healthy(),
            "registries share nothing"
        );
        drop(a);
        assert!(
            reg.of(addr).is_healthy(),
            "a forgotten target starts healthy"
        );
    }
}
