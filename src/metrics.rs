//! Beside the data flow: Prometheus metrics in the process's default registry (the one
//! pingora-prometheus serves too), rendered at the admin listener's `/metrics`. Process-global on
//! purpose, unlike the state a reload carries (`snapshot::Carried`): a counter must outlive every
//! snapshot, and there is one registry per process. Handles are
//! created once; the request path never looks a metric up by name.

use arc_swap::ArcSwap;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    TextEncoder,
};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

struct ConfigMetrics {
    reloads: IntCounterVec,
    generation: IntGauge,
    reload_latency: Histogram,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // Registering twice (e.g. two gateways in one test process) is not an error worth failing for.
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

static CONFIG: LazyLock<Option<ConfigMetrics>> = LazyLock::new(|| {
    let reloads = IntCounterVec::new(
        Opts::new(
            "stagecraft_config_reloads_total",
            "Configuration reloads, by result",
        ),
        &["result"],
    )
    .ok()?;
    let generation = IntGauge::new(
        "stagecraft_config_generation",
        "Generation of the configuration snapshot being served",
    )
    .ok()?;
    let reload_latency = Histogram::with_opts(
        HistogramOpts::new(
            "stagecraft_config_reload_seconds",
            "Time from a change in the configuration directory (or SIGHUP) to the new snapshot being served",
        )
        .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
    )
    .ok()?;
    // Both results exist from the start, so a rate() over them never lacks a series.
    reloads.with_label_values(&["success"]);
    reloads.with_label_values(&["failure"]);
    Some(ConfigMetrics {
        reloads: register(reloads),
        generation: register(generation),
        reload_latency: register(reload_latency),
    })
});

pub fn config_loaded(generation: u64) {
    if let Some(m) = CONFIG.as_ref() {
        m.generation.set(generation as i64);
    }
}

pub fn config_reloaded(generation: u64) {
    if let Some(m) = CONFIG.as_ref() {
        m.reloads.with_label_values(&["success"]).inc();
        m.generation.set(generation as i64);
    }
}

/// A published reload: from the first filesystem event (or the signal) to the new snapshot.
pub fn config_reload_latency(latency: Duration) {
    if let Some(m) = CONFIG.as_ref() {
        m.reload_latency.observe(latency.as_secs_f64());
    }
}

pub fn config_reload_failed() {
    if let Some(m) = CONFIG.as_ref() {
        m.reloads.with_label_values(&["failure"]).inc();
    }
}

/// Latency buckets from 100 µs to 30 s: a gateway answers mocks in microseconds and waits up to
/// the 29 s integration timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

struct RequestFamilies {
    requests: IntCounterVec,
    duration: HistogramVec,
    upstream: HistogramVec,
    canary: IntCounterVec,
    throttled: IntCounterVec,
    gateway_responses: IntCounterVec,
    upstream_connections: IntCounterVec,
    connect_failures: IntCounter,
}

static REQUESTS: LazyLock<Option<RequestFamilies>> = LazyLock::new(|| {
    let histogram = |name: &str, help: &str, labels: &[&str]| {
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        )
        .ok()
    };
    Some(RequestFamilies {
        requests: register(
            IntCounterVec::new(
                Opts::new("stagecraft_requests_total", "Requests answered, by stage, route template, method, status and backend version"),
                &["stage", "route", "method", "status", "version"],
            )
            .ok()?,
        ),
        duration: register(histogram(
            "stagecraft_request_duration_seconds",
            "Time from the request head to the end of the response, by stage and route template",
            &["stage", "route"],
        )?),
        upstream: register(histogram(
            "stagecraft_upstream_duration_seconds",
            "Time from sending to the backend to its response head, by stage, route template and version",
            &["stage", "route", "version"],
        )?),
        canary: register(
            IntCounterVec::new(
                Opts::new("stagecraft_canary_requests_total", "Requests of stages with a canary, by side (canary or base)"),
                &["stage", "side"],
            )
            .ok()?,
        ),
        throttled: register(
            IntCounterVec::new(Opts::new("stagecraft_throttled_total", "Requests refused with 429, by stage"), &["stage"]).ok()?,
        ),
        gateway_responses: register(
            IntCounterVec::new(
                Opts::new("stagecraft_gateway_responses_total", "Answers the gateway made itself, by stage and gateway response type"),
                &["stage", "type"],
            )
            .ok()?,
        ),
        upstream_connections: register(
            IntCounterVec::new(
                Opts::new("stagecraft_upstream_connections_total", "Upstream connections used, by whether they came from the pool"),
                &["reused"],
            )
            .ok()?,
        ),
        connect_failures: register(
            IntCounter::new("stagecraft_upstream_connect_failures_total", "Failed attempts to connect to a backend").ok()?,
        ),
    })
});

struct AuthorizerFamilies {
    calls: IntCounterVec,
    latency: HistogramVec,
}

static AUTHORIZERS: LazyLock<Option<AuthorizerFamilies>> = LazyLock::new(|| {
    let calls = IntCounterVec::new(
        Opts::new(
            "stagecraft_authorizer_calls_total",
            "Authorizer decisions, by authorizer (API/name) and result (allow, deny, unauthorized, error, cached)",
        ),
        &["authorizer", "result"],
    )
    .ok()?;
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "stagecraft_authorizer_duration_seconds",
            "Time an authorizer took to decide when it was not cached (a function call, a JWT check)",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["authorizer"],
    )
    .ok()?;
    Some(AuthorizerFamilies {
        calls: register(calls),
        latency: register(latency),
    })
});

/// What an authorizer decided, as `stagecraft_authorizer_calls_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerResult {
    Allow,
    Deny,
    Unauthorized,
    Error,
    /// Answered from the decision cache (whatever the cached policy says of this request).
    Cached,
}

impl AuthorizerResult {
    const ALL: [AuthorizerResult; 5] = [
        AuthorizerResult::Allow,
        AuthorizerResult::Deny,
        AuthorizerResult::Unauthorized,
        AuthorizerResult::Error,
        AuthorizerResult::Cached,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthorizerResult::Allow => "allow",
            AuthorizerResult::Deny => "deny",
            AuthorizerResult::Unauthorized => "unauthorized",
            AuthorizerResult::Error => "error",
            AuthorizerResult::Cached => "cached",
        }
    }
}

/// The handles of one authorizer, resolved when the snapshot is compiled.
pub struct AuthorizerMetrics {
    calls: Option<[IntCounter; 5]>,
    latency: Option<Histogram>,
}

impl std::fmt::Debug for AuthorizerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizerMetrics")
    }
}

impl AuthorizerMetrics {
    /// `label`: `API/NAME`, never an identity.
    pub fn new(label: &str) -> AuthorizerMetrics {
        let f = AUTHORIZERS.as_ref();
        let calls = f.and_then(|f| {
            let v: Vec<IntCounter> = AuthorizerResult::ALL
                .iter()
                .filter_map(|r| {
                    f.calls
                        .get_metric_with_label_values(&[label, r.label()])
                        .ok()
                })
                .collect();
            v.try_into().ok()
        });
        AuthorizerMetrics {
            calls,
            latency: f.and_then(|f| f.latency.get_metric_with_label_values(&[label]).ok()),
        }
    }

    pub fn count(&self, r: AuthorizerResult) {
        if let Some(c) = &self.calls {
            c[r as usize].inc();
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        if let Some(h) = &self.latency {
            h.observe(elapsed.as_secs_f64());
        }
    }
}

/// A small copy-on-write map from label values to resolved handles. Reads are a pointer load and
/// a short scan, with no lock; a miss (a label combination seen for the first time) resolves it
/// once through the family's own map and publishes a longer list.
struct HandleCache<K, V> {
    entries: ArcSwap<Vec<(K, V)>>,
}

impl<K: PartialEq + Clone, V: Clone> HandleCache<K, V> {
    fn new() -> Self {
        HandleCache {
            entries: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// Runs `f` on the handle for the key `is` accepts; on a miss, `make` builds the key and
    /// the handle. A hit clones nothing: no key is built and no handle is cloned.
    fn with<R>(
        &self,
        is: impl Fn(&K) -> bool,
        make: impl FnOnce() -> Option<(K, V)>,
        f: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        if let Some((_, v)) = self.entries.load().iter().find(|(k, _)| is(k)) {
            return Some(f(v));
        }
        let (key, v) = make()?;
        let r = f(&v);
        self.entries.rcu(|old| {
            let mut new = Vec::with_capacity(old.len() + 1);
            new.extend(old.iter().cloned());
            if !new.iter().any(|(k, _)| *k == key) {
                new.push((key.clone(), v.clone()));
            }
            new
        });
        Some(r)
    }
}

type RequestKey = (http::Method, u16, Option<Arc<str>>);

/// The metric handles of one route of one stage, built with the snapshot, so that a request
/// records without looking a metric up by name.
pub struct RouteMetrics {
    stage: Arc<str>,
    route: Arc<str>,
    duration: Option<Histogram>,
    requests: HandleCache<RequestKey, IntCounter>,
    upstream: HandleCache<Arc<str>, Histogram>,
    gateway_responses: HandleCache<&'static str, IntCounter>,
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RouteMetrics({}, {})", self.stage, self.route)
    }
}

impl RouteMetrics {
    pub fn new(stage: &str, route: &str) -> Arc<RouteMetrics> {
        let duration = REQUESTS.as_ref().and_then(|f| {
            f.duration
                .get_metric_with_label_values(&[stage, route])
                .ok()
        });
        Arc::new(RouteMetrics {
            stage: stage.into(),
            route: route.into(),
            duration,
            requests: HandleCache::new(),
            upstream: HandleCache::new(),
            gateway_responses: HandleCache::new(),
        })
    }

    /// One answered request.
    pub fn observe(
        &self,
        method: &http::Method,
        status: u16,
        version: Option<&Arc<str>>,
        elapsed: Duration,
    ) {
        let Some(f) = REQUESTS.as_ref() else { return };
        if let Some(h) = &self.duration {
            h.observe(elapsed.as_secs_f64());
        }
        let version_name = version.map(|v| &**v);
        self.requests.with(
            |(m, s, v)| *s == status && m == method && v.as_deref() == version_name,
            || {
                let counter = f
                    .requests
                    .get_metric_with_label_values(&[
                        &self.stage,
                        &self.route,
                        method.as_str(),
                        &status.to_string(),
                        version_name.unwrap_or(""),
                    ])
                    .ok()?;
                Some(((method.clone(), status, version.cloned()), counter))
            },
            IntCounter::inc,
        );
    }

    /// One answer the gateway made itself, by its gateway response type (`THROTTLED`, ...).
    pub fn gateway_response(&self, response_type: &'static str) {
        let Some(f) = REQUESTS.as_ref() else { return };
        self.gateway_responses.with(
            |t| *t == response_type,
            || {
                let c = f
                    .gateway_responses
                    .get_metric_with_label_values(&[&self.stage, response_type])
                    .ok()?;
                Some((response_type, c))
            },
            IntCounter::inc,
        );
    }

    /// Time to the backend's response head.
    pub fn observe_upstream(&self, version: &Arc<str>, elapsed: Duration) {
        let Some(f) = REQUESTS.as_ref() else { return };
        self.upstream.with(
            |v| Arc::ptr_eq(v, version) || **v == **version,
            || {
                let h = f
                    .upstream
                    .get_metric_with_label_values(&[&self.stage, &self.route, version])
                    .ok()?;
                Some((version.clone(), h))
            },
            |h| h.observe(elapsed.as_secs_f64()),
        );
    }
}

/// Handles of one stage: which side of its canary requests took, and 429s.
#[derive(Debug)]
pub struct StageMetrics {
    pub canary: Option<IntCounter>,
    pub base: Option<IntCounter>,
    pub throttled: Option<IntCounter>,
    /// For requests that reach the stage but match no route.
    pub unrouted: Arc<RouteMetrics>,
}

impl StageMetrics {
    /// Canary counters exist only for stages with a canary, so dashboards show no empty series.
    pub fn new(stage: &str, has_canary: bool) -> StageMetrics {
        let f = REQUESTS.as_ref().filter(|_| has_canary);
        let side =
            |s: &str| f.and_then(|f| f.canary.get_metric_with_label_values(&[stage, s]).ok());
        let f = REQUESTS.as_ref();
        StageMetrics {
            canary: side("canary"),
            base: side("base"),
            throttled: f.and_then(|f| f.throttled.get_metric_with_label_values(&[stage]).ok()),
            unrouted: RouteMetrics::new(stage, UNROUTED),
        }
    }
}

/// The route label of requests that match no route.
pub const UNROUTED: &str = "(none)";

/// For requests that match no stage.
pub static NO_STAGE: LazyLock<Arc<RouteMetrics>> =
    LazyLock::new(|| RouteMetrics::new(UNROUTED, UNROUTED));

struct ConnectionCounters {
    reused: Option<IntCounter>,
    new: Option<IntCounter>,
    failed: Option<IntCounter>,
}

static CONNECTIONS: LazyLock<ConnectionCounters> = LazyLock::new(|| {
    let f = REQUESTS.as_ref();
    ConnectionCounters {
        reused: f.and_then(|f| {
            f.upstream_connections
                .get_metric_with_label_values(&["true"])
                .ok()
        }),
        new: f.and_then(|f| {
            f.upstream_connections
                .get_metric_with_label_values(&["false"])
                .ok()
        }),
        failed: f.map(|f| f.connect_failures.clone()),
    }
});

pub fn upstream_connection(reused: bool) {
    let c = if reused {
        &CONNECTIONS.reused
    } else {
        &CONNECTIONS.new
    };
    if let Some(c) = c {
        c.inc();
    }
}

pub fn upstream_connect_failed() {
    if let Some(c) = &CONNECTIONS.failed {
        c.inc();
    }
}

struct UsageFamilies {
    keyed: IntCounterVec,
    store_errors: IntCounter,
}

static USAGE: LazyLock<Option<UsageFamilies>> = LazyLock::new(|| {
    let keyed = IntCounterVec::new(
        Opts::new(
            "stagecraft_api_key_requests_total",
            "Requests to routes that require an API key, by usage plan (\"\" for a key in none) and result (ok, invalid, throttled, quota_exceeded, store_error)",
        ),
        &["plan", "result"],
    )
    .ok()?;
    let store_errors = IntCounter::new(
        "stagecraft_usage_store_errors_total",
        "Calls to the shared usage store (Redis) that failed or timed out",
    )
    .ok()?;
    Some(UsageFamilies {
        keyed: register(keyed),
        store_errors: register(store_errors),
    })
});

/// What the API-key and usage-plan steps made of a keyed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyResult {
    Ok,
    /// Missing, unknown, disabled, or in no plan of the stage (403 INVALID_API_KEY).
    Invalid,
    Throttled,
    QuotaExceeded,
    /// The shared store failed and `on_store_error: deny` refused the request (503).
    StoreError,
}

impl KeyResult {
    const ALL: [KeyResult; 5] = [
        KeyResult::Ok,
        KeyResult::Invalid,
        KeyResult::Throttled,
        KeyResult::QuotaExceeded,
        KeyResult::StoreError,
    ];

    fn label(self) -> &'static str {
        match self {
            KeyResult::Ok => "ok",
            KeyResult::Invalid => "invalid",
            KeyResult::Throttled => "throttled",
            KeyResult::QuotaExceeded => "quota_exceeded",
            KeyResult::StoreError => "store_error",
        }
    }
}

/// The handles of one usage plan (`""`: keys in no plan), resolved when the snapshot is compiled.
pub struct PlanMetrics {
    keyed: Option<[IntCounter; 5]>,
}

impl std::fmt::Debug for PlanMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanMetrics")
    }
}

impl PlanMetrics {
    /// `plan`: the plan's name, never a key.
    pub fn new(plan: &str) -> PlanMetrics {
        let keyed = USAGE.as_ref().and_then(|f| {
            let v: Vec<IntCounter> = KeyResult::ALL
                .iter()
                .filter_map(|r| {
                    f.keyed
                        .get_metric_with_label_values(&[plan, r.label()])
                        .ok()
                })
                .collect();
            v.try_into().ok()
        });
        PlanMetrics { keyed }
    }

    pub fn count(&self, r: KeyResult) {
        if let Some(c) = &self.keyed {
            c[r as usize].inc();
        }
    }
}

/// One failed call to the shared usage store.
pub fn usage_store_error() {
    if let Some(f) = USAGE.as_ref() {
        f.store_errors.inc();
    }
}

/// The text exposition of every registered metric.
pub fn render() -> Vec<u8> {
    LazyLock::force(&CONFIG);
    LazyLock::force(&REQUESTS);
    LazyLock::force(&CONNECTIONS);
    LazyLock::force(&USAGE);
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&prometheus::gather(), &mut out) {
        tracing::warn!("encoding metrics: {e}");
    }
    out
}

/// One series of `stagecraft_requests_total`, as the admin API's traffic view reads it.
#[derive(Debug, Clone)]
pub struct CounterRow {
    pub stage: String,
    pub route: String,
    pub method: String,
    pub status: u16,
    pub version: String,
    pub count: u64,
}

impl CounterRow {
    pub fn key(&self) -> (&str, &str, &str, u16, &str) {
        (
            &self.stage,
            &self.route,
            &self.method,
            self.status,
            &self.version,
        )
    }
}

/// The label values of a collected series, in the order they were declared.
fn series(family: &impl prometheus::core::Collector) -> Vec<(Vec<String>, u64)> {
    family
        .collect()
        .iter()
        .flat_map(|mf| mf.get_metric().iter())
        .map(|m| {
            let labels = m
                .get_label()
                .iter()
                .map(|l| l.value().to_string())
                .collect();
            (labels, m.get_counter().get_value() as u64)
        })
        .collect()
}

/// Every series of `stagecraft_requests_total` now. The labels come back sorted by name
/// (method, route, stage, status, version), as prometheus keeps them.
pub fn request_counts() -> Vec<CounterRow> {
    let Some(f) = REQUESTS.as_ref() else {
        return Vec::new();
    };
    series(&f.requests)
        .into_iter()
        .filter_map(|(l, count)| match l.as_slice() {
            [method, route, stage, status, version] => Some(CounterRow {
                stage: stage.clone(),
                route: route.clone(),
                method: method.clone(),
                status: status.parse().ok()?,
                version: version.clone(),
                count,
            }),
            _ => None,
        })
        .collect()
}

/// Every series of `stagecraft_canary_requests_total` now: (stage, side, count).
pub fn canary_counts() -> Vec<(String, String, u64)> {
    let Some(f) = REQUESTS.as_ref() else {
        return Vec::new();
    };
    series(&f.canary)
        .into_iter()
        .filter_map(|(l, count)| match l.as_slice() {
            [side, stage] => Some((stage.clone(), side.clone(), count)),
            _ => None,
        })
        .collect()
}
