//! Part of the proxy stage: the state one request carries through the pipeline. It is built once
//! in `new_ctx` (after pingora has read the request head) with what always exists: the snapshot
//! the request runs on to its end, its start time and its in-flight guard. What routing learns
//! for logs and metrics (`Labels`) is kept apart from what the streaming `http_proxy` phases need
//! (`Upstream`), so each step sees which part it writes.

use super::integration::http_proxy::Forward;
use super::request_id::RequestId;
use crate::accesslog::AccessLog;
use crate::config::response_type::ResponseType;
use crate::metrics::RouteMetrics;
use crate::shutdown::InFlightGuard;
use crate::snapshot::authorizer::Decision;
use crate::snapshot::cors::Cors;
use crate::snapshot::responses::GatewayResponses;
use crate::snapshot::Snapshot;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Per-request state, from `new_ctx` to `logging`.
pub struct RequestCtx {
    /// The configuration this request runs on, taken once: a reload never changes it mid-request.
    pub snapshot: Arc<Snapshot>,
    pub started: Instant,
    /// Set by the admit step; `fail_to_proxy` makes one for a request that failed before it.
    pub request_id: RequestId,
    pub client: Client,
    pub labels: Labels,
    pub upstream: Upstream,
    /// The refusal, once the gateway refused (`$context.error.*`). Set through a shared
    /// reference: the writer that refuses holds only that.
    pub error: OnceLock<Box<ErrorFacts>>,
    /// The authorizer's decision (`$context.authorizer.*`), when the route has one.
    pub authorized: Option<Arc<Decision>>,
    /// The API key the request was admitted with (`$context.identity.apiKey`), on keyed routes.
    pub api_key: Option<ApiKey>,
    /// The wall-clock time the request arrived, read only when something shows it.
    received: OnceLock<SystemTime>,
    /// Counts the request as in flight until the context is dropped (graceful shutdown).
    _inflight: InFlightGuard,
}

impl RequestCtx {
    pub fn new(snapshot: Arc<Snapshot>, inflight: InFlightGuard) -> RequestCtx {
        RequestCtx {
            snapshot,
            started: Instant::now(),
            request_id: RequestId::default(),
            client: Client::default(),
            labels: Labels::default(),
            upstream: Upstream::default(),
            error: OnceLock::new(),
            authorized: None,
            api_key: None,
            received: OnceLock::new(),
            _inflight: inflight,
        }
    }

    /// When the request arrived. The wall clock is read the first time something needs it (a
    /// template, a log line), so a request that shows no time pays nothing, and every reader of
    /// one request sees the same instant.
    pub fn received(&self) -> SystemTime {
        *self.received.get_or_init(|| {
            let now = SystemTime::now();
            now.checked_sub(self.started.elapsed()).unwrap_or(now)
        })
    }
}

/// An admitted request's API key: its value (templates may pass it on, as AWS's do; logs never
/// show it) and its name.
pub struct ApiKey {
    pub value: Box<str>,
    pub id: Arc<str>,
}

impl ApiKey {
    /// The last four characters, for logs: enough to tell keys apart, nothing to call with.
    pub fn last_four(&self) -> &str {
        let v = &*self.value;
        let mut start = v.len().saturating_sub(4);
        while !v.is_char_boundary(start) {
            start -= 1;
        }
        &v[start..]
    }
}

/// What `$context.error.*` shows about a refusal.
#[derive(Debug, Clone)]
pub struct ErrorFacts {
    pub kind: ResponseType,
    /// A message of this request's own (the missing parameters' names); else the type's.
    pub message: Option<Box<str>>,
    /// `$context.error.validationErrorString`: what the body's schema check found.
    pub validation: Option<Box<str>>,
}

impl ErrorFacts {
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or(self.kind.message())
    }
}

/// The client connection as the request path needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Client {
    pub ip: Option<IpAddr>,
    /// Whether the client connected over TLS (`X-Forwarded-Proto`).
    pub tls: bool,
}

/// What routing learned about a request, kept for metrics and the access log whatever the
/// outcome: a request refused before routing keeps the defaults.
pub struct Labels {
    pub metrics: Arc<RouteMetrics>,
    pub access_log: Option<Arc<AccessLog>>,
    pub stage: Option<Arc<str>>,
    pub deployment: Option<Arc<str>>,
    pub resource_path: Option<Arc<str>>,
    pub canary: bool,
    /// The backend version picked (`-` for a plain `http://` endpoint).
    pub version: Option<Arc<str>>,
    /// The deployment's customized gateway responses (`None`: AWS's defaults).
    pub responses: Option<Arc<GatewayResponses>>,
    /// The API's CORS, and whether the request's `Origin` is allowed (its value is read from
    /// the request when an answer is stamped: the context stays small, it moves with the
    /// request).
    pub cors: Option<Arc<Cors>>,
    pub origin_allowed: bool,
}

impl Default for Labels {
    fn default() -> Self {
        Labels {
            metrics: crate::metrics::NO_STAGE.clone(),
            access_log: None,
            stage: None,
            deployment: None,
            resource_path: None,
            canary: false,
            version: None,
            responses: None,
            cors: None,
            origin_allowed: false,
        }
    }
}

/// The upstream side of a request: where a streamed request goes, and the timing every
/// integration records.
#[derive(Default)]
pub struct Upstream {
    /// Set when the route step decided to stream the request to a backend (`http_proxy`).
    pub forward: Option<Forward>,
    /// Request body bytes streamed so far, against `limits.max_body_bytes`.
    pub body_bytes: u64,
    /// When the request was handed to the backend.
    pub sent_at: Option<Instant>,
    pub latency: Option<Duration>,
}

impl Upstream {
    /// The streamed integration's answer (head) is in: its latency since `sent_at`.
    pub fn answered(&mut self, labels: &Labels) {
        if let Some(t) = self.sent_at {
            self.record(labels, t.elapsed());
        }
    }

    /// Records an integration's latency for the access log and the metrics of the version in
    /// `labels` (streamed and buffered integrations alike).
    pub fn record(&mut self, labels: &Labels, elapsed: Duration) {
        self.latency = Some(elapsed);
        if let Some(v) = &labels.version {
            labels.metrics.observe_upstream(v, elapsed);
        }
    }
}
