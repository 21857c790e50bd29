//! Part of the second stage of the data flow (`snapshot`): token-bucket throttling as GCRA (the
//! generic cell rate algorithm): one `AtomicU64` per bucket holding the theoretical arrival time,
//! updated by compare-and-swap, so throttling takes no lock even though every request of a stage
//! shares the bucket. Buckets are kept across reloads while their settings stay the same
//! (`Buckets`, part of the `snapshot::Carried` state the reloader passes to every compile), so a
//! reload does not hand out a fresh burst.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Bucket {
    /// Nanoseconds between tokens (1 / rate).
    interval: u64,
    /// How far ahead of now the arrival time may run: (burst - 1) intervals.
    tolerance: u64,
    /// Theoretical arrival time, in nanoseconds since `EPOCH`.
    tat: AtomicU64,
}

/// The origin of the clock tokens are counted on: a constant of the process, not state a
/// reload has to carry.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ns() -> u64 {
    EPOCH.elapsed().as_nanos() as u64
}

impl Bucket {
    /// `rate` tokens per second, at most `burst` at once. `None` for a rate that is not positive.
    pub fn new(rate: f64, burst: u64) -> Option<Bucket> {
        if !(rate > 0.0 && rate.is_finite()) || burst == 0 {
            return None;
        }
        let interval = (1e9 / rate).max(1.0) as u64;
        Some(Bucket {
            interval,
            tolerance: interval.saturating_mul(burst - 1),
            tat: AtomicU64::new(0),
        })
    }

    /// Takes a token at `now` (nanoseconds); on refusal, how long until one is available.
    pub fn take_at(&self, now: u64) -> Result<(), Duration> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let base = tat.max(now);
            if base - now > self.tolerance {
                return Err(Duration::from_nanos(base - now - self.tolerance));
            }
            match self.tat.compare_exchange_weak(
                tat,
                base + self.interval,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }

    pub fn take(&self) -> Result<(), Duration> {
        self.take_at(now_ns())
    }
}

type Key = (String, u64, u64);

/// Live buckets by (owner, rate, burst): what the next snapshot reuses. Weak, so a bucket no
/// snapshot holds any more is forgotten.
#[derive(Debug, Default)]
pub struct Buckets(Mutex<HashMap<Key, Weak<Bucket>>>);

impl Buckets {
    /// The bucket of `owner` (e.g. `stage prod` or `stage prod route GET /x`) with these
    /// settings: the live one if a snapshot still holds it, else a new one. `None` for settings
    /// no bucket can have (validation rejects them).
    pub fn shared(&self, owner: &str, rate: f64, burst: u64) -> Option<Arc<Bucket>> {
        let key = (owner.to_string(), rate.to_bits(), burst);
        // A panic elsewhere while holding the lock leaves the map intact: keep using it.
        let mut reg = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = reg.get(&key).and_then(Weak::upgrade) {
            return Some(b);
        }
        let b = Arc::new(Bucket::new(rate, burst)?);
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(key, Arc::downgrade(&b));
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn burst_then_rate() {
        let b = Bucket::new(10.0, 5).unwrap(); // a token every 100 ms
        let t0 = 1_000_000_000;
        for i in 0..5 {
            assert!(b.take_at(t0).is_ok(), "burst token {i}");
        }
        let wait = b.take_at(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        assert!(b.take_at(t0 + 99_000_000).is_err());
        assert!(b.take_at(t0 + 100_000_000).is_ok());
        assert!(b.take_at(t0 + 100_000_000).is_err());
        // A long pause refills to the burst, never beyond.
        let later = t0 + 10_000_000_000;
        for _ in 0..5 {
            assert!(b.take_at(later).is_ok());
        }
        assert!(b.take_at(later).is_err());
    }

    #[test]
    fn invalid_settings() {
        assert!(Bucket::new(0.0, 1).is_none());
        assert!(Bucket::new(f64::NAN, 1).is_none());
        assert!(Bucket::new(1.0, 0).is_none());
    }

    #[test]
    fn registry_keeps_live_buckets_with_the_same_settings() {
        let buckets = Buckets::default();
        let a = buckets.shared("stage t", 1.0, 2).unwrap();
        let b = buckets.shared("stage t", 1.0, 2).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = buckets.shared("stage t", 2.0, 2).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        // Another registry (another process, or a test) shares nothing.
        let other = Buckets::default().shared("stage t", 1.0, 2).unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
        // A bucket no snapshot holds any more starts afresh.
        drop((a, b));
        let fresh = buckets.shared("stage t", 1.0, 2).unwrap();
        assert_eq!(fresh.tat.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn concurrent_takes_never_exceed_the_burst() {
        let b = Arc::new(Bucket::new(0.001, 100).unwrap());
        let t = 5_000_000_000;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || (0..100).filter(|_| b.take_at(t).is_ok()).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100);
    }
}
