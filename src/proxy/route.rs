//! The routing decision for one request against one snapshot: stage (host + longest base path),
//! canary or not, route (or 404/405), then for `http_proxy` the version, first target and
//! upstream path. Pure over the request header, so every outcome is decided in one place.

use super::respond::GatewayError;
use super::Forward;
use crate::config::route::Method;
use crate::metrics::RouteMetrics;
use crate::snapshot::router::Capture;
use crate::snapshot::router::Lookup;
use crate::snapshot::{sticky, Canary, Deployed, Integration, Route, Snapshot};
use pingora::http::RequestHeader;
use rand::Rng;
use std::borrow::Cow;
use std::sync::Arc;

/// The route a request matched, kept for the phases that need more than the forward decision.
pub struct Call {
    pub stage: Arc<str>,
    pub api: Arc<str>,
    pub deployed: Arc<Deployed>,
    pub route: u32,
    /// Byte ranges of the captured parameters, relative to the path after the base path.
    pub captures: Vec<Capture>,
    /// Where the path after the base path starts in the request path.
    pub rest_start: usize,
    pub canary: bool,
}

impl Call {
    pub fn route(&self) -> Option<&Route> {
        self.deployed.routes.get(self.route as usize)
    }
}

/// What routing learned about a request, kept for metrics and the access log whatever the
/// outcome.
pub struct Seen {
    pub metrics: Arc<RouteMetrics>,
    pub stage: Option<Arc<str>>,
    pub deployment: Option<Arc<str>>,
    pub resource_path: Option<Arc<str>>,
    pub canary: bool,
    /// The backend version picked (`-` for a plain `http://` endpoint).
    pub version: Option<Arc<str>>,
    pub access_log: Option<Arc<crate::accesslog::AccessLog>>,
    /// Fault injection: hold the request this long before going on.
    pub delay: Option<std::time::Duration>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            metrics: crate::metrics::NO_STAGE.clone(),
            stage: None,
            deployment: None,
            resource_path: None,
            canary: false,
            version: None,
            access_log: None,
            delay: None,
        }
    }
}

pub enum Decision {
    /// Stream to the backend. `mapped` is set when the route has `request_parameters`.
    Forward(Forward, Option<Call>),
    /// An `http`, `mock` or function integration: buffered, answered by `proxy::templated` or
    /// `proxy::function`.
    Templated(Call),
    /// Fault injection: answer this status without calling anything.
    Abort(u16),
    Error {
        error: GatewayError,
        /// `Allow` on 405, `Retry-After` on 429.
        header: Option<(&'static str, String)>,
        /// Why, for the error log (never sent to the client).
        log: Option<String>,
    },
}

impl Decision {
    fn error(error: GatewayError) -> Decision {
        Decision::Error {
            error,
            header: None,
            log: None,
        }
    }
}

/// The request's host, lowercase, without port: from the absolute URI or the `Host` header.
/// Borrowed when it is lowercase already, as clients send it.
fn request_host(req: &RequestHeader) -> Option<Cow<'_, str>> {
    let raw = match req.uri.host() {
        Some(h) => h,
        None => req.headers.get(http::header::HOST)?.to_str().ok()?,
    };
    let host = match raw.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => raw.split(':').next().unwrap_or(raw),
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

/// Whether this request takes the canary: by chance, or by the hash of its sticky key.
fn in_canary(c: &Canary, stage: &str, headers: &http::HeaderMap) -> bool {
    if c.percent <= 0.0 {
        return false;
    }
    match c.sticky.as_ref().and_then(|k| k.value(headers)) {
        // Basis points, so 0.01% steps are honoured.
        Some(v) => (sticky::hash(stage, v) % 10_000) < (c.percent * 100.0) as u64,
        None => rand::rng().random::<f64>() * 100.0 < c.percent,
    }
}

pub fn decide(snapshot: &Snapshot, req: &RequestHeader, seen: &mut Seen) -> Decision {
    if let Some(len) = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > snapshot.limits.max_body_bytes {
            return Decision::error(GatewayError::RequestTooLarge);
        }
    }
    // Only stages bound to hosts need the host: most snapshots have none.
    let host = if snapshot.routes_by_host() {
        request_host(req)
    } else {
        None
    };
    let path = req.uri.path();
    let Some((stage, rest)) = snapshot.select_stage(host.as_deref(), path) else {
        return Decision::error(GatewayError::NotFound);
    };
    seen.stage = Some(stage.name.clone());
    seen.access_log = stage.access_log.clone();
    seen.metrics = stage.metrics.unrouted.clone();
    let deployed = match &stage.canary {
        Some(c) => {
            let canary = in_canary(c, &stage.name, &req.headers);
            let side = if canary {
                &stage.metrics.canary
            } else {
                &stage.metrics.base
            };
            if let Some(counter) = side {
                counter.inc();
            }
            if canary {
                &c.deployed
            } else {
                &stage.primary
            }
        }
        None => &stage.primary,
    };
    seen.deployment = Some(deployed.deployment_id.clone());
    seen.canary = !Arc::ptr_eq(deployed, &stage.primary);
    let (route, captures) = match deployed.lookup(Method::from_http(&req.method), rest) {
        Lookup::Found { route, captures } => (route, captures),
        Lookup::MethodNotAllowed { allow } => {
            return Decision::Error {
                error: GatewayError::MethodNotAllowed,
                header: Some(("allow", allow)),
                log: None,
            }
        }
        Lookup::NotFound => return Decision::error(GatewayError::NotFound),
    };
    let Some(r) = deployed.routes.get(route as usize) else {
        return Decision::error(GatewayError::InternalServerError);
    };
    seen.metrics = r.metrics.clone();
    seen.resource_path = Some(r.resource_path.clone());
    if let Some(bucket) = r.throttle.as_ref().or(stage.throttle.as_ref()) {
        if let Err(wait) = bucket.take() {
            if let Some(c) = &stage.metrics.throttled {
                c.inc();
            }
            // Whole seconds, rounded up, as Retry-After requires.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Decision::Error {
                error: GatewayError::TooManyRequests,
                header: Some(("retry-after", secs.max(1).to_string())),
                log: None,
            };
        }
    }
    if let Some(fault) = r.fault.as_ref().or(stage.fault.as_ref()) {
        let injected = fault.draw();
        seen.delay = injected.delay;
        if let Some(status) = injected.abort {
            return Decision::Abort(status);
        }
    }
    let call = || Call {
        stage: stage.name.clone(),
        api: stage.api.clone(),
        deployed: deployed.clone(),
        route,
        captures: captures.clone(),
        rest_start: path.len() - rest.len(),
        canary: !Arc::ptr_eq(deployed, &stage.primary),
    };
    match &r.integration {
        Integration::HttpProxy(p) => {
            let upstream_path = p.upstream_path(rest, &captures, req.uri.query());
            let upstream_path = match http::Uri::try_from(upstream_path) {
                Ok(uri) => uri,
                Err(e) => {
                    return Decision::Error {
                        error: GatewayError::InternalServerError,
                        header: None,
                        log: Some(format!("upstream path of route {:?}: {e}", r.template)),
                    }
                }
            };
            let version = p.upstream.pick(&req.headers).clone();
            let target = version.next_target();
            seen.version = Some(version.name.clone());
            let mapped = (!p.params.is_empty()).then(call);
            Decision::Forward(
                Forward {
                    upstream_path,
                    host_header: p.host_header.clone(),
                    timeout: p.timeout,
                    version,
                    target,
                    attempts: 0,
                    extra_headers: Vec::new(),
                },
                mapped,
            )
        }
        Integration::Http(_) | Integration::Mock(_) | Integration::Function(_) => {
            Decision::Templated(call())
        }
        Integration::Misconfigured { reason } => Decision::Error {
            error: GatewayError::InternalServerError,
            header: None,
            log: Some(format!(
                "stage {:?} route {:?}: {reason}",
                stage.name, r.template
            )),
        },
    }
}
