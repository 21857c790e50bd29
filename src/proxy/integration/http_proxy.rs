//! Part of the proxy stage, step 9 for `http_proxy`: the request streamed to the backend and
//! back through pingora's own proxy loop. The route step decided everything (`Forward`); the
//! pingora phases only apply it: the peer (and the next target on a retry), the upstream
//! request head, the body limit while streaming, passive health on a failed connect.

use crate::proxy::context::RequestCtx;
use crate::proxy::upstream::{self, Endpoint};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::time::Instant;

/// What the route step decided for a request that goes upstream.
pub struct Forward {
    pub endpoint: Endpoint,
    pub attempts: u32,
    /// Path and query sent upstream, built once when routed (a retry sends it again).
    pub path: http::Uri,
    /// Headers from `request_parameters`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Forward {
    pub fn new(endpoint: Endpoint, path: http::Uri) -> Forward {
        Forward {
            endpoint,
            attempts: 0,
            path,
            headers: Vec::new(),
        }
    }
}

fn undecided() -> Box<Error> {
    Error::explain(ErrorType::InternalError, "no upstream decided")
}

/// `upstream_peer`: the decided target, or the next one of the same version on a retry.
pub fn peer(ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let f = ctx.upstream.forward.as_mut().ok_or_else(undecided)?;
    if f.attempts > 0 {
        f.endpoint.retry();
    }
    f.attempts += 1;
    ctx.upstream.sent_at = Some(Instant::now());
    Ok(Box::new(f.endpoint.peer()))
}

/// `upstream_request_filter`: the decided path, and what every upstream request carries.
pub fn upstream_request(session: &Session, up: &mut RequestHeader, ctx: &RequestCtx) -> Result<()> {
    let f = ctx.upstream.forward.as_ref().ok_or_else(undecided)?;
    up.set_uri(f.path.clone());
    upstream::stamp(up, session.req_header(), ctx, f.endpoint.host(), &f.headers)
}

/// `request_body_filter`: 413 once the streamed body passes `limits.max_body_bytes` (a body
/// without `Content-Length` is only known to be too large while it streams).
pub fn count_body(body: Option<&Bytes>, ctx: &mut RequestCtx) -> Result<()> {
    if let Some(b) = body {
        ctx.upstream.body_bytes += b.len() as u64;
        if ctx.upstream.body_bytes > ctx.snapshot.limits.max_body_bytes {
            return Err(Error::explain(
                ErrorType::HTTPStatus(413),
                "request body over limits.max_body_bytes",
            ));
        }
    }
    Ok(())
}

/// `fail_to_connect`: passive health skips this target for a while; the request is retried on
/// another target of the same version while there are untried ones (nothing was sent yet).
pub fn connect_failed(ctx: &RequestCtx, mut e: Box<Error>) -> Box<Error> {
    crate::metrics::upstream_connect_failed();
    if let Some(f) = &ctx.upstream.forward {
        let v = &f.endpoint.version;
        v.eject(f.endpoint.target);
        if (f.attempts as usize) < v.target_count() {
            e.set_retry(true);
        }
    }
    e
}
