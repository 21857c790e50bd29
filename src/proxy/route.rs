//! Part of the proxy stage, steps 2 to 4 of the pipeline and the only decision point: stage
//! (host + longest base path), canary or not, route (or 404/405), the stage or route bucket
//! (429), fault injection, then what the integration is: a streamed `http_proxy` call with its
//! version, first target and upstream path (its `request_parameters` applied here), or a
//! buffered integration answered by `integration`. `decide` is pure over the snapshot and the
//! request head, so every outcome is decided, and tested, in one place.

use super::context::{Labels, RequestCtx};
use super::cors;
use super::facts::{without_port, Facts};
use super::integration::http_proxy::Forward;
use super::integration::mapping;
use super::respond::{GatewayError, Refusal};
use super::upstream::Endpoint;
use super::validate;
use crate::config::route::Method;
use crate::snapshot::router::{Capture, Lookup};
use crate::snapshot::{sticky, Canary, Integration, Route, RouteTable, Snapshot, Stage};
use pingora::http::RequestHeader;
use rand::Rng;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// The route a request matched, for the steps that read the request's parameters.
pub struct Call {
    pub deployed: Arc<RouteTable>,
    pub route: u32,
    /// Byte ranges of the captured parameters, relative to the path after the base path.
    pub captures: Vec<Capture>,
    /// Where the path after the base path starts in the request path.
    pub rest_start: usize,
}

impl Call {
    pub fn route(&self) -> Option<&Route> {
        self.deployed.routes.get(self.route as usize)
    }

    /// The request path after the base path, as sent (percent-encoding kept).
    pub fn rest<'r>(&self, req: &'r RequestHeader) -> &'r str {
        req.uri.path().get(self.rest_start..).unwrap_or("")
    }
}

pub enum Decision {
    /// Stream to the backend (`http_proxy`).
    Forward(Forward),
    /// A CORS preflight the gateway answers itself.
    Preflight,
    /// An `http`, `mock` or function integration: buffered, answered by `integration`.
    Buffered(Call),
    /// A gateway response.
    Refuse(Refusal),
}

/// What routing decided, how long fault injection holds the request before acting on it, and,
/// for a streamed route with body models, the route whose validator must see the body first.
pub struct Routed {
    pub decision: Decision,
    pub delay: Option<Duration>,
    pub check_body: Option<(Arc<RouteTable>, u32)>,
}

impl From<Decision> for Routed {
    fn from(decision: Decision) -> Self {
        Routed {
            decision,
            delay: None,
            check_body: None,
        }
    }
}

/// Routes the request and, for an `http_proxy` route with `request_parameters`, maps them:
/// the route step in full, for a request that needs no authorizer.
pub fn route(req: &RequestHeader, ctx: &mut RequestCtx) -> Routed {
    let (routed, mapping) = decide(&ctx.snapshot, req, &mut ctx.labels);
    map(req, ctx, routed, mapping)
}

/// The steps after authorization for a matched request (`proceed`), its parameters mapped.
pub fn finish(req: &RequestHeader, ctx: &mut RequestCtx, m: Matched<'_, '_>) -> Routed {
    let (routed, mapping) = proceed(m, req, &mut ctx.labels);
    map(req, ctx, routed, mapping)
}

fn map(req: &RequestHeader, ctx: &RequestCtx, routed: Routed, mapping: Option<Call>) -> Routed {
    let Some(call) = mapping else {
        return routed;
    };
    let Decision::Forward(mut forward) = routed.decision else {
        return routed;
    };
    let decision = match map_proxy(req, ctx, &call, &mut forward) {
        Ok(()) => Decision::Forward(forward),
        Err(r) => Decision::Refuse(r),
    };
    Routed { decision, ..routed }
}

/// `request_parameters` of an `http_proxy` route: mapped headers, and the path and query sent.
fn map_proxy(
    req: &RequestHeader,
    ctx: &RequestCtx,
    call: &Call,
    forward: &mut Forward,
) -> Result<(), Refusal> {
    let route = call
        .route()
        .ok_or_else(|| Refusal::internal("route vanished".into()))?;
    let Integration::HttpProxy(p) = &route.integration else {
        return Ok(());
    };
    let facts = Facts::new(req, ctx);
    let mapped = mapping::map(&p.params, facts, call, route, &[]);
    forward.headers = mapped.header_values()?;
    let path = mapping::upstream_path(
        &p.path,
        call.rest(req),
        &call.captures,
        route,
        Some(&mapped),
        &[p.query.as_deref(), req.uri.query()],
    );
    forward.path = http::Uri::try_from(path).map_err(|e| {
        Refusal::internal(format!(
            "mapped upstream path of route {:?}: {e}",
            route.template
        ))
    })?;
    Ok(())
}

/// The request's host, lowercase, without port: from the absolute URI or the `Host` header.
/// Borrowed when it is lowercase already, as clients send it.
fn request_host(req: &RequestHeader) -> Option<Cow<'_, str>> {
    let raw = match req.uri.host() {
        Some(h) => h,
        None => req.headers.get(http::header::HOST)?.to_str().ok()?,
    };
    let host = without_port(raw);
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

/// A request matched to a route (steps 2 to 4), before the steps that may refuse it.
pub struct Matched<'s, 'r> {
    stage: &'s Stage,
    deployed: &'s Arc<RouteTable>,
    pub route: &'s Route,
    idx: u32,
    captures: Vec<Capture>,
    /// The path after the base path.
    rest: &'r str,
}

impl<'s> Matched<'s, '_> {
    pub fn stage(&self) -> &'s Stage {
        self.stage
    }

    /// The deployment (primary or canary) serving the request.
    pub fn deployed(&self) -> &'s RouteTable {
        self.deployed
    }

    /// The call the steps after routing read the request's parameters through.
    pub fn call(&self, req: &RequestHeader) -> Call {
        Call {
            deployed: self.deployed.clone(),
            route: self.idx,
            captures: self.captures.clone(),
            rest_start: req.uri.path().len() - self.rest.len(),
        }
    }
}

/// The routing decision, and the matched call when an `http_proxy` route has
/// `request_parameters` to map. Fills `labels` with what it learns, whatever the outcome.
pub fn decide(
    snapshot: &Snapshot,
    req: &RequestHeader,
    labels: &mut Labels,
) -> (Routed, Option<Call>) {
    match locate(snapshot, req, labels) {
        Ok(m) => proceed(m, req, labels),
        Err(routed) => (routed, None),
    }
}

/// Steps 2 to 4: stage, canary, CORS preflight, route. `Err`: answered without a route (404,
/// 405, a preflight). Fills `labels` with what it learns.
// `Err` is the routing answer itself, moved once as `decide` returns it; boxing it would
// allocate for every 404.
#[allow(clippy::result_large_err)]
pub fn locate<'s, 'r>(
    snapshot: &'s Snapshot,
    req: &'r RequestHeader,
    labels: &mut Labels,
) -> Result<Matched<'s, 'r>, Routed> {
    let refuse = |e: GatewayError| Routed::from(Decision::Refuse(e.into()));
    let Some((stage, deployed, rest)) = stage_of(snapshot, req, labels, true) else {
        return Err(refuse(GatewayError::NotFound));
    };
    // A preflight is answered before any check, unless the API routes OPTIONS itself.
    if deployed.cors.is_some() && cors::is_preflight(req) && !routes_options(deployed, rest) {
        return Err(match deployed.lookup(Some(Method::Options), rest) {
            Lookup::NotFound => refuse(GatewayError::NotFound),
            _ => Decision::Preflight.into(),
        });
    }
    let (idx, captures) = match deployed.lookup(Method::from_http(&req.method), rest) {
        Lookup::Found { route, captures } => (route, captures),
        Lookup::MethodNotAllowed { allow } => {
            let refusal =
                Refusal::with_header(GatewayError::MethodNotAllowed, http::header::ALLOW, allow);
            return Err(Decision::Refuse(refusal).into());
        }
        Lookup::NotFound => return Err(refuse(GatewayError::NotFound)),
    };
    let Some(route) = deployed.routes.get(idx as usize) else {
        return Err(refuse(GatewayError::InternalServerError));
    };
    labels.metrics = route.metrics.clone();
    labels.resource_path = Some(route.resource_path.clone());
    Ok(Matched {
        stage,
        deployed,
        route,
        idx,
        captures,
        rest,
    })
}

/// The steps after authorization: the stage or route bucket, required parameters, fault
/// injection, and what the integration is.
pub fn proceed(
    m: Matched<'_, '_>,
    req: &RequestHeader,
    labels: &mut Labels,
) -> (Routed, Option<Call>) {
    let Matched {
        stage,
        deployed,
        route: r,
        idx: route,
        captures,
        rest,
    } = m;
    let path = req.uri.path();
    if let Some(bucket) = r.throttle.as_ref().or(stage.throttle.as_ref()) {
        if let Err(wait) = bucket.take() {
            if let Some(c) = &stage.metrics.throttled {
                c.inc();
            }
            return (Decision::Refuse(throttled(wait)).into(), None);
        }
    }
    if let Some(v) = &r.validation {
        if let Err(refusal) = validate::parameters(v, req, r, rest, &captures) {
            return (Decision::Refuse(refusal).into(), None);
        }
    }
    let mut delay = None;
    if let Some(fault) = r.fault.as_ref().or(stage.fault.as_ref()) {
        let injected = fault.draw();
        delay = injected.delay;
        if let Some(status) = injected.abort {
            let decision = Decision::Refuse(GatewayError::FaultInjected(status).into());
            let routed = Routed {
                decision,
                delay,
                check_body: None,
            };
            return (routed, None);
        }
    }
    let call = || Call {
        deployed: deployed.clone(),
        route,
        captures: captures.clone(),
        rest_start: path.len() - rest.len(),
    };
    let (decision, mapping) = match &r.integration {
        Integration::HttpProxy(p) => {
            let mapped = !p.params.is_empty();
            let upstream_path = if mapped {
                // Replaced by `route` once the parameters are mapped.
                http::Uri::from_static("/")
            } else {
                let queries = [p.query.as_deref(), req.uri.query()];
                let path = mapping::upstream_path(&p.path, rest, &captures, r, None, &queries);
                match http::Uri::try_from(path) {
                    Ok(uri) => uri,
                    Err(e) => {
                        let why = format!("upstream path of route {:?}: {e}", r.template);
                        return (Decision::Refuse(Refusal::internal(why)).into(), None);
                    }
                }
            };
            let endpoint = Endpoint::pick(p, &req.headers);
            labels.version = Some(endpoint.version.name.clone());
            let forward = Forward::new(endpoint, upstream_path);
            (Decision::Forward(forward), mapped.then(call))
        }
        Integration::Http(_) | Integration::Mock(_) | Integration::Function(_) => {
            (Decision::Buffered(call()), None)
        }
        Integration::Misconfigured { reason } => {
            let why = format!("stage {:?} route {:?}: {reason}", stage.name, r.template);
            (Decision::Refuse(Refusal::internal(why)), None)
        }
    };
    let check_body = match (&decision, &r.validation) {
        (Decision::Forward(_), Some(v)) if v.body.is_some() => Some((deployed.clone(), route)),
        _ => None,
    };
    let routed = Routed {
        decision,
        delay,
        check_body,
    };
    (routed, mapping)
}

/// A THROTTLED answer with `Retry-After` in whole seconds, rounded up, as the header requires.
pub fn throttled(wait: Duration) -> Refusal {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Refusal::with_header(
        GatewayError::TooManyRequests,
        http::header::RETRY_AFTER,
        secs.max(1).to_string(),
    )
}

/// The stage and the deployment (primary or canary) that serve the request, and the path
/// after the base path; fills `labels` with what that decides (the gateway responses and CORS
/// that answer for it included). `count`: count the canary split in the metrics.
fn stage_of<'s, 'r>(
    snapshot: &'s Snapshot,
    req: &'r RequestHeader,
    labels: &mut Labels,
    count: bool,
) -> Option<(&'s Stage, &'s Arc<RouteTable>, &'r str)> {
    // Only stages bound to hosts need the host: most snapshots have none.
    let host = if snapshot.routes_by_host() {
        request_host(req)
    } else {
        None
    };
    let (stage, rest) = snapshot.select_stage(host.as_deref(), req.uri.path())?;
    labels.stage = Some(stage.name.clone());
    labels.access_log = stage.access_log.clone();
    labels.metrics = stage.metrics.unrouted.clone();
    let deployed = match &stage.canary {
        Some(c) => {
            let canary = in_canary(c, &stage.name, &req.headers);
            let side = if canary {
                &stage.metrics.canary
            } else {
                &stage.metrics.base
            };
            if let Some(counter) = side.as_ref().filter(|_| count) {
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
    labels.deployment = Some(deployed.deployment_id.clone());
    labels.canary = !Arc::ptr_eq(deployed, &stage.primary);
    // Only APIs that customize or use these pay for them.
    labels.responses.clone_from(&deployed.responses);
    if let Some(c) = &deployed.cors {
        labels.origin_allowed = cors::allowed_origin(c, req);
        labels.cors = Some(c.clone());
    }
    Some((stage, deployed, rest))
}

/// For a request refused at admission whose head is sound (a body too large by its
/// `Content-Length`): which stage's gateway responses and CORS answer it. Takes nothing from
/// a bucket and draws no fault; the request is not routed.
pub fn identify(req: &RequestHeader, ctx: &mut RequestCtx) {
    let snapshot = ctx.snapshot.clone();
    let _ = stage_of(&snapshot, req, &mut ctx.labels, false);
}

/// Whether the API routes `OPTIONS` for this path itself (a route for `OPTIONS`, not `ANY`):
/// then a preflight is the API's to answer.
fn routes_options(deployed: &RouteTable, rest: &str) -> bool {
    match deployed.lookup(Some(Method::Options), rest) {
        Lookup::Found { route, .. } => deployed
            .routes
            .get(route as usize)
            .is_some_and(|r| r.method == Method::Options),
        _ => false,
    }
}
