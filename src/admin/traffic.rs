//! Part of `admin`, beside the data flow: live traffic for `/api/traffic` and the console, from
//! the gateway's own request counters (`metrics`). A thread reads the counters once a second
//! into a ring of the last minute's samples; an answer is the difference between now and the
//! sample `window` seconds ago. The request path is not involved: it only counts, as it always
//! does, and the admin side reads what it counted.

use crate::metrics::{self, CounterRow};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How far back an answer may look.
pub const MAX_WINDOW: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_secs(1);

struct Sample {
    at: Instant,
    requests: Vec<CounterRow>,
    canary: Vec<(String, String, u64)>,
}

impl Sample {
    /// The counters as they are now.
    fn now() -> Sample {
        Sample {
            at: Instant::now(),
            requests: metrics::request_counts(),
            canary: metrics::canary_counts(),
        }
    }
}

/// The ring of samples, shared by the sampling thread and the admin listener only.
#[derive(Clone)]
pub struct Traffic {
    samples: Arc<Mutex<VecDeque<Sample>>>,
    /// Every counter is zero when the process starts: the base of a window longer than the
    /// process has lived.
    started: Instant,
}

impl Traffic {
    /// Starts the sampling thread; it lives as long as the process.
    pub fn start() -> Traffic {
        let t = Traffic {
            samples: Arc::default(),
            started: Instant::now(),
        };
        let ring = t.clone();
        let spawned = std::thread::Builder::new()
            .name("admin traffic".into())
            .spawn(move || loop {
                ring.sample();
                std::thread::sleep(EVERY);
            });
        if let Err(e) = spawned {
            tracing::warn!(
                "admin: no traffic sampler ({e}); /api/traffic answers from now on only"
            );
        }
        t
    }

    fn sample(&self) {
        let s = Sample::now();
        let mut ring = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        while ring
            .front()
            .is_some_and(|f| s.at.duration_since(f.at) > MAX_WINDOW + EVERY)
        {
            ring.pop_front();
        }
        ring.push_back(s);
    }

    /// Rates over the last `window` (at most a minute; less while the gateway is younger).
    pub fn report(&self, window: Duration) -> Report {
        let now = Sample::now();
        let ring = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let window = window.min(MAX_WINDOW);
        let empty = Sample {
            at: self.started,
            requests: Vec::new(),
            canary: Vec::new(),
        };
        let base = ring
            .iter()
            .find(|s| now.at.duration_since(s.at) <= window)
            .filter(|s| now.at.duration_since(s.at) >= Duration::from_millis(500))
            .unwrap_or(&empty);
        let secs = now.at.duration_since(base.at).as_secs_f64();
        compute(base, &now, secs)
    }
}

/// What `/api/traffic` answers.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The seconds the rates are over (0 right after start: no rate yet).
    pub window_seconds: f64,
    pub stages: Vec<StageTraffic>,
}

#[derive(Debug, Serialize, Default)]
pub struct StageTraffic {
    pub stage: String,
    pub requests_per_second: f64,
    /// Answers with status 500 and above, of all answers.
    pub error_ratio: f64,
    /// Answers with status 400 to 499, of all answers.
    pub client_error_ratio: f64,
    /// Requests per second by backend version (`none` for routes without one).
    pub versions: BTreeMap<String, Rate>,
    /// `canary` and `base`, for a stage with a canary.
    pub sides: BTreeMap<String, Rate>,
    pub routes: Vec<RouteTraffic>,
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Rate {
    pub requests_per_second: f64,
    /// This one's part of the stage's requests, 0 to 1.
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct RouteTraffic {
    pub route: String,
    pub method: String,
    pub version: String,
    pub requests_per_second: f64,
    pub error_ratio: f64,
    pub client_error_ratio: f64,
}

#[derive(Default)]
struct Counts {
    all: u64,
    errors: u64,
    client_errors: u64,
}

impl Counts {
    fn add(&mut self, status: u16, n: u64) {
        self.all += n;
        if status >= 500 {
            self.errors += n;
        } else if status >= 400 {
            self.client_errors += n;
        }
    }

    fn ratios(&self) -> (f64, f64) {
        if self.all == 0 {
            return (0.0, 0.0);
        }
        let all = self.all as f64;
        (self.errors as f64 / all, self.client_errors as f64 / all)
    }
}

fn compute(base: &Sample, now: &Sample, secs: f64) -> Report {
    let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let before: BTreeMap<(&str, &str, &str, u16, &str), u64> =
        base.requests.iter().map(|r| (r.key(), r.count)).collect();
    // stage -> (stage counts, version -> count, (route, method, version) -> counts)
    type PerStage<'a> = (
        Counts,
        BTreeMap<&'a str, u64>,
        BTreeMap<(&'a str, &'a str, &'a str), Counts>,
    );
    let mut stages: BTreeMap<&str, PerStage<'_>> = BTreeMap::new();
    for r in &now.requests {
        let n = r
            .count
            .saturating_sub(before.get(&r.key()).copied().unwrap_or(0));
        let s = stages.entry(&r.stage).or_default();
        s.0.add(r.status, n);
        *s.1.entry(&r.version).or_default() += n;
        s.2.entry((&r.route, &r.method, &r.version))
            .or_default()
            .add(r.status, n);
    }
    let canary_before: BTreeMap<(&str, &str), u64> = base
        .canary
        .iter()
        .map(|(s, side, n)| ((s.as_str(), side.as_str()), *n))
        .collect();
    let mut sides: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for (stage, side, n) in &now.canary {
        let d = n.saturating_sub(
            canary_before
                .get(&(stage.as_str(), side.as_str()))
                .copied()
                .unwrap_or(0),
        );
        sides.entry(stage).or_default().insert(side, d);
    }
    let share = |part: u64, all: u64| {
        if all == 0 {
            0.0
        } else {
            part as f64 / all as f64
        }
    };
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&str> =
        stages.keys().chain(sides.keys()).copied().collect();
    for name in names {
        if name == metrics::UNROUTED {
            continue;
        }
        let (counts, versions, routes) = stages.remove(name).unwrap_or_default();
        let (errors, client) = counts.ratios();
        let side_counts = sides.remove(name).unwrap_or_default();
        let side_all: u64 = side_counts.values().sum();
        out.push(StageTraffic {
            stage: name.to_string(),
            requests_per_second: rate(counts.all),
            error_ratio: errors,
            client_error_ratio: client,
            versions: versions
                .into_iter()
                .map(|(v, n)| {
                    let r = Rate {
                        requests_per_second: rate(n),
                        share: share(n, counts.all),
                    };
                    (v.to_string(), r)
                })
                .collect(),
            sides: side_counts
                .into_iter()
                .map(|(side, n)| {
                    let r = Rate {
                        requests_per_second: rate(n),
                        share: share(n, side_all),
                    };
                    (side.to_string(), r)
                })
                .collect(),
            routes: routes
                .into_iter()
                .filter(|(_, c)| c.all > 0)
                .map(|((route, method, version), c)| {
                    let (errors, client) = c.ratios();
                    RouteTraffic {
                        route: route.to_string(),
                        method: method.to_string(),
                        version: version.to_string(),
                        requests_per_second: rate(c.all),
                        error_ratio: errors,
                        client_error_ratio: client,
                    }
                })
                .collect(),
        });
    }
    Report {
        window_seconds: secs,
        stages: out,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(stage: &str, route: &str, status: u16, version: &str, count: u64) -> CounterRow {
        CounterRow {
            stage: stage.into(),
            route: route.into(),
            method: "GET".into(),
            status,
            version: version.into(),
            count,
        }
    }

    #[test]
    fn rates_are_differences_over_the_window() {
        let t0 = Instant::now();
        let base = Sample {
            at: t0,
            requests: vec![
                row("prod", "/a", 200, "v1", 100),
                row("prod", "/a", 502, "v2", 0),
            ],
            canary: vec![("prod".into(), "base".into(), 100)],
        };
        let now = Sample {
            at: t0 + Duration::from_secs(10),
            requests: vec![
                row("prod", "/a", 200, "v1", 170),
                row("prod", "/a", 502, "v2", 10),
                row("prod", "/a", 200, "v2", 20),
            ],
            canary: vec![
                ("prod".into(), "base".into(), 170),
                ("prod".into(), "canary".into(), 30),
            ],
        };
        let r = compute(&base, &now, 10.0);
        let prod = &r.stages[0];
        assert_eq!(prod.stage, "prod");
        assert!((prod.requests_per_second - 10.0).abs() < 1e-9);
        assert!((prod.error_ratio - 0.1).abs() < 1e-9);
        assert!((prod.versions["v1"].share - 0.7).abs() < 1e-9);
        assert!((prod.sides["canary"].share - 0.3).abs() < 1e-9);
        assert!((prod.sides["base"].requests_per_second - 7.0).abs() < 1e-9);
        // One entry per route and version, statuses together.
        assert_eq!(prod.routes.len(), 2);
        let v2 = prod.routes.iter().find(|r| r.version == "v2").unwrap();
        assert!((v2.error_ratio - 1.0 / 3.0).abs() < 1e-9);
        assert!((v2.requests_per_second - 3.0).abs() < 1e-9);
    }
}
