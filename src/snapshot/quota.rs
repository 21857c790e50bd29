//! Part of the second stage of the data flow (`snapshot`): quotas. A plan's quota as a rule
//! (`Rule`: which UTC period a moment falls in, when it starts and ends), and the local count of
//! one key in one plan (`Counter`: one `AtomicU64` holding the period and the count, so checking
//! and counting is one compare-and-swap and a new period resets it in the same step). Counters
//! outlive snapshots in `Counters`, part of `snapshot::Carried`: a reload keeps every count; the
//! `usage` module saves and restores them across restarts.

use crate::config::usage::{Period, QuotaDef};
use crate::timefmt::{civil_from_days, days_from_civil};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Shifts the quota clock by this many seconds. For tests that need a period to end (a day
/// boundary) without waiting for it; nothing else reads it.
pub const CLOCK_SKEW_ENV: &str = "STAGECRAFT_USAGE_CLOCK_SKEW_SECONDS";

static SKEW: LazyLock<i64> = LazyLock::new(|| {
    std::env::var(CLOCK_SKEW_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
});

/// Seconds since the epoch on the quota clock (UTC, with the test skew).
pub fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    secs + *SKEW
}

/// A plan's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    pub limit: u64,
    pub period: Period,
    pub offset: u32,
}

/// One period of a rule: an id that is unique per rule and grows with time, and its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub id: u32,
    pub start: i64,
    pub end: i64,
}

impl Rule {
    pub fn new(q: &QuotaDef) -> Rule {
        Rule {
            limit: q.limit.value,
            period: q.period.value,
            offset: q.offset().min(q.period.value.max_offset()),
        }
    }

    /// The period that `t` (seconds since the epoch) falls in.
    pub fn span(&self, t: i64) -> Span {
        let day = t.div_euclid(86_400);
        let (start_day, end_day) = match self.period {
            Period::Day => (day, day + 1),
            Period::Week => {
                // 1970-01-01 was a Thursday (4 with Sunday = 0).
                let weekday = (day + 4).rem_euclid(7);
                let back = (weekday - i64::from(self.offset)).rem_euclid(7);
                (day - back, day - back + 7)
            }
            Period::Month => {
                let (y, m, d) = civil_from_days(day);
                let k = i64::from(self.offset);
                let (y, m) = if i64::from(d) - 1 < k {
                    prev_month(y, m)
                } else {
                    (y, m)
                };
                let (ny, nm) = next_month(y, m);
                (days_from_civil(y, m, 1) + k, days_from_civil(ny, nm, 1) + k)
            }
        };
        let id = match self.period {
            Period::Day => start_day,
            Period::Week => start_day.div_euclid(7),
            Period::Month => {
                let (y, m, _) = civil_from_days(start_day - i64::from(self.offset));
                (y - 1970) * 12 + i64::from(m) - 1
            }
        };
        Span {
            id: u32::try_from(id.max(0)).unwrap_or(u32::MAX) & ID_MASK,
            start: start_day * 86_400,
            end: end_day * 86_400,
        }
    }
}

fn prev_month(y: i64, m: u32) -> (i64, u32) {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

fn next_month(y: i64, m: u32) -> (i64, u32) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Period ids keep 24 bits: days since 1970 fit until the year 47,900.
const ID_MASK: u32 = (1 << 24) - 1;

/// One key's count in one plan, for the period it was last counted in.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

fn pack(period: u32, count: u64) -> u64 {
    (u64::from(period) << COUNT_BITS) | count.min(COUNT_MASK)
}

fn unpack(v: u64) -> (u32, u64) {
    ((v >> COUNT_BITS) as u32, v & COUNT_MASK)
}

impl Counter {
    /// Counts one request in `period` if fewer than `limit` were counted there; the count
    /// after it, or `Err` with the count when the quota is used up.
    pub fn take(&self, period: u32, limit: u64) -> Result<u64, u64> {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (p, n) = unpack(cur);
            let used = if p == period { n } else { 0 };
            if used >= limit {
                return Err(used);
            }
            match self.0.compare_exchange_weak(
                cur,
                pack(period, used + 1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(used + 1),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Requests counted in `period`.
    pub fn used(&self, period: u32) -> u64 {
        let (p, n) = unpack(self.0.load(Ordering::Acquire));
        if p == period {
            n
        } else {
            0
        }
    }

    /// The period last counted in and its count.
    pub fn get(&self) -> (u32, u64) {
        unpack(self.0.load(Ordering::Acquire))
    }

    /// Adds `n` requests counted elsewhere (a previous process) to `period`, unless the
    /// counter has moved on to a later period.
    pub fn add(&self, period: u32, n: u64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (p, c) = unpack(cur);
            let next = if p == period {
                pack(period, c + n)
            } else if p < period || c == 0 {
                pack(period, n)
            } else {
                return;
            };
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// Identifies a counter across snapshots and restarts: the plan, the key, and the quota's
/// period (a plan moved from `day` to `month` starts counting afresh).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterId {
    pub plan: String,
    pub key: String,
    pub period: &'static str,
    pub offset: u32,
}

impl CounterId {
    pub fn new(plan: &str, key: &str, rule: &Rule) -> CounterId {
        CounterId {
            plan: plan.to_string(),
            key: key.to_string(),
            period: rule.period.name(),
            offset: rule.offset,
        }
    }
}

/// Every counter of the process, kept across reloads (part of `Carried`). Counters are never
/// dropped while the process runs: a key removed and added back keeps its count, as AWS does.
#[derive(Debug, Default)]
pub struct Counters(Mutex<HashMap<CounterId, Arc<Counter>>>);

impl Counters {
    pub fn counter(&self, id: CounterId) -> Arc<Counter> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id).or_default().clone()
    }

    /// Every counter with its id, sorted by id (for saving).
    pub fn all(&self) -> Vec<(CounterId, Arc<Counter>)> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> = map.iter().map(|(k, c)| (k.clone(), c.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        days_from_civil(y, m, d) * 86_400 + h * 3600
    }

    fn rule(period: Period, offset: u32) -> Rule {
        Rule {
            limit: 3,
            period,
            offset,
        }
    }

    #[test]
    fn calendar_round_trips() {
        for d in [-1000, 0, 59, 365, 11_016, 20_794, 100_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 12, 7), 20_794);
    }

    #[test]
    fn days_end_at_midnight_utc() {
        let r = rule(Period::Day, 0);
        let a = r.span(at(2026, 12, 7, 23) + 3599);
        let b = r.span(at(2026, 12, 8, 0));
        assert_eq!(a.end, b.start);
        assert_eq!(b.id, a.id + 1);
        assert_eq!(a.start, at(2026, 12, 7, 0));
    }

    #[test]
    fn weeks_start_on_the_offset_weekday() {
        // 2026-12-06 is a Sunday.
        let sunday = rule(Period::Week, 0);
        let s = sunday.span(at(2026, 12, 9, 12));
        assert_eq!(s.start, at(2026, 12, 6, 0));
        assert_eq!(s.end, at(2026, 12, 13, 0));
        let monday = rule(Period::Week, 1);
        let m = monday.span(at(2026, 12, 6, 12));
        assert_eq!(m.start, at(2026, 11, 30, 0));
        assert_eq!(monday.span(at(2026, 12, 7, 0)).id, m.id + 1);
    }

    #[test]
    fn months_start_on_the_offset_day() {
        let first = rule(Period::Month, 0);
        let s = first.span(at(2026, 12, 31, 23));
        assert_eq!((s.start, s.end), (at(2026, 12, 1, 0), at(2027, 1, 1, 0)));
        assert_eq!(first.span(at(2027, 1, 1, 0)).id, s.id + 1);
        let fifteenth = rule(Period::Month, 14);
        let f = fifteenth.span(at(2026, 12, 3, 0));
        assert_eq!((f.start, f.end), (at(2026, 11, 15, 0), at(2026, 12, 15, 0)));
        assert_eq!(fifteenth.span(at(2027, 1, 2, 0)).start, at(2026, 12, 15, 0));
        // January's period ends in February, in a leap year too.
        let feb = fifteenth.span(at(2028, 2, 20, 0));
        assert_eq!(feb.end, at(2028, 3, 15, 0));
    }

    #[test]
    fn counter_takes_up_to_the_limit_and_resets_with_the_period() {
        let c = Counter::default();
        assert_eq!(c.take(7, 2), Ok(1));
        assert_eq!(c.take(7, 2), Ok(2));
        assert_eq!(c.take(7, 2), Err(2));
        assert_eq!(c.used(7), 2);
        assert_eq!(c.take(8, 2), Ok(1));
        assert_eq!(c.used(7), 0);
        c.add(8, 5);
        assert_eq!(c.used(8), 6);
        c.add(7, 100); // an earlier period: ignored
        assert_eq!(c.get(), (8, 6));
    }

    #[test]
    fn concurrent_takes_never_exceed_the_limit() {
        let c = Arc::new(Counter::default());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).filter(|_| c.take(1, 1500).is_ok()).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1500);
    }
}
