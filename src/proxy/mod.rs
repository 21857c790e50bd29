//! Fourth stage of the data flow: the request path, as AWS's pipeline on pingora's phases.
//! A request context is built once (`context`), then each step is a module with one job:
//!
//! | step | module | refuses with |
//! |---|---|---|
//! | 1. admit: framing, URL/header/body limits, path safety | `admit` | 400, 413, 414, 431 |
//! | 2-4. stage, canary, route | `route` (the only decision point) | 404, 405 |
//! | 5. authorize: the route's authorizer, its decision cache | `authorize` | 401, 403, 500 |
//! | 7-8. throttle, required parameters, fault | `route` | 429, 400, fault |
//! | 9. integration: `http_proxy` streamed, `mock` / `http` / functions buffered | `integration` | 413, 415, 500, 502, 504 |
//! | 10. method response: every gateway-made answer, exact framing | `respond` | |
//! | 11. log and count | `log` | |
//!
//! Beside them: `facts` (the one `$context` model), `upstream` (the one upstream-request
//! builder), `request_id`. The pingora phases below are a few lines each, in pingora's order:
//!
//! | pingora phase | what it does here |
//! |---|---|
//! | `new_ctx` | takes the snapshot, the start time and the in-flight guard |
//! | `request_filter` | admit, route, then a buffered integration or a refusal is answered; `http_proxy` goes on |
//! | `upstream_peer` | the decided target (the next one of the same version on a retry) |
//! | `connected_to_upstream` | counts new and reused connections |
//! | `fail_to_connect` | passive health, retry on another target |
//! | `upstream_request_filter` | the decided path and the forwarding headers |
//! | `request_body_filter` | the body limit while streaming |
//! | `upstream_response_filter` | the integration latency |
//! | `response_filter` | `x-request-id` on the streamed answer |
//! | `fail_to_proxy` | a failed `http_proxy` exchange as a gateway response |
//! | `logging` | metrics and the access log |

pub mod admit;
pub mod authorize;
pub mod context;
pub mod cors;
pub mod facts;
pub mod integration;
pub mod key;
mod log;
pub mod request_id;
pub mod respond;
pub mod route;
pub mod upstream;
pub mod validate;

#[cfg(test)]
mod tests;

pub use context::RequestCtx;
pub use request_id::RequestId;
pub use respond::GatewayError;

use crate::shutdown::InFlight;
use crate::snapshot;
use crate::store::Store;
use async_trait::async_trait;
use bytes::Bytes;
use integration::http_proxy;
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use respond::Refusal;
use route::Decision;
use std::sync::Arc;

/// The pingora proxy application: holds the store, nothing per request.
pub struct Gateway {
    store: Arc<Store>,
    inflight: InFlight,
    /// Upstream connections of buffered integrations, which the gateway calls itself (the
    /// streaming proxy path uses pingora's own pool).
    connector: Connector,
    /// Where keyed requests are checked and counted against their plans.
    usage: Arc<crate::usage::Store>,
}

impl Gateway {
    pub fn new(store: Arc<Store>, inflight: InFlight, usage: Arc<crate::usage::Store>) -> Gateway {
        Gateway {
            store,
            inflight,
            connector: Connector::new(None),
            usage,
        }
    }

    /// Steps 1 to 4 and, for everything but `http_proxy`, the answer. `true`: answered.
    async fn method_request(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.request_id = RequestId::for_request(session.req_header());
        ctx.client = context::Client {
            ip: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            tls: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        };
        // The idle timeout of this keep-alive connection, unless pingora turned keep-alive off
        // (shutdown, `Connection: close`, ambiguous framing): that decision stands.
        if session.as_downstream().get_keepalive().is_some() {
            session.set_keepalive(Some(ctx.snapshot.limits.idle_timeout_seconds));
        }
        // RFC 9112 9.3.2: a client may pipeline, and the server answers in order. pingora
        // keeps the bytes read past this request for the next one only when asked; without it,
        // requests 2..n are dropped and data after a body reads as an error. Safe only because
        // the vendored pingora reads chunked bodies strictly (see patches/pingora-core).
        session.as_downstream_mut().set_pipelining_enabled(true);
        if let Err(refused) = admit::admit(session, &ctx.snapshot.limits) {
            if refused.close {
                session.set_keepalive(None);
            }
            if refused.error == GatewayError::RequestTooLarge {
                // The head is sound: the stage it addresses answers with its gateway responses.
                route::identify(session.req_header(), ctx);
            }
            respond::refuse(session, ctx, refused.error.into()).await?;
            return Ok(true);
        }
        let snapshot = ctx.snapshot.clone();
        let routed = match route::locate(&snapshot, session.req_header(), &mut ctx.labels) {
            Err(answered) => answered,
            Ok(matched) => {
                if let Some(a) = &matched.route.authorizer {
                    let req = session.req_header();
                    let call = matched.call(req);
                    match authorize::authorize(req, ctx, &call, a, &self.connector).await {
                        Ok(decision) => ctx.authorized = Some(decision),
                        Err(denied) => {
                            ctx.authorized = denied.decision;
                            respond::refuse(session, ctx, denied.refusal).await?;
                            return Ok(true);
                        }
                    }
                }
                if matched.route.api_key_required {
                    let req = session.req_header();
                    if let Err(refusal) = key::admit(req, ctx, &matched, &self.usage).await {
                        respond::refuse(session, ctx, refusal).await?;
                        return Ok(true);
                    }
                }
                route::finish(session.req_header(), ctx, matched)
            }
        };
        if let Some((table, idx)) = &routed.check_body {
            if let Some(refused) = validate_streamed_body(session, ctx, table, *idx).await? {
                respond::refuse(session, ctx, refused).await?;
                return Ok(true);
            }
        }
        if let Some(d) = routed.delay {
            tokio::time::sleep(d).await;
        }
        match routed.decision {
            Decision::Preflight => {
                let answer = match &ctx.labels.cors {
                    Some(c) => cors::preflight(c, cors::origin(session.req_header(), &ctx.labels)),
                    None => respond::Answer::error(GatewayError::InternalServerError),
                };
                respond::write(session, ctx, answer).await?;
                Ok(true)
            }
            Decision::Forward(f) => {
                ctx.upstream.forward = Some(f);
                Ok(false)
            }
            Decision::Buffered(call) => {
                // Boxed on its own: these futures hold buffers and an upstream session, and
                // inlined they would make every request's `request_filter` future (which
                // async_trait moves to the heap) kilobytes larger.
                Box::pin(integration::serve(session, ctx, call, &self.connector)).await?;
                Ok(true)
            }
            Decision::Refuse(r) => {
                respond::refuse(session, ctx, r).await?;
                Ok(true)
            }
        }
    }
}

/// Reads the whole body of a streamed request whose route validates bodies, and checks it.
/// pingora keeps what was read (its retry buffer, raised to the body limit) and sends it
/// upstream from there once the request proceeds, so a refused body never reaches the backend
/// and an accepted one is not copied again. `Some`: the refusal to answer.
async fn validate_streamed_body(
    session: &mut Session,
    ctx: &RequestCtx,
    table: &snapshot::RouteTable,
    idx: u32,
) -> Result<Option<Refusal>> {
    let Some(models) = table
        .routes
        .get(idx as usize)
        .and_then(|r| r.validation.as_ref())
        .and_then(|v| v.body.as_ref())
    else {
        return Ok(None);
    };
    respond::continue_if_expected(session).await?;
    let max = ctx.snapshot.limits.max_body_bytes;
    session
        .as_downstream_mut()
        .enable_retry_buffering_up_to(usize::try_from(max).unwrap_or(usize::MAX));
    let mut read: u64 = 0;
    while let Some(chunk) = session.read_request_body().await? {
        read += chunk.len() as u64;
        if read > max {
            return Ok(Some(GatewayError::RequestTooLarge.into()));
        }
    }
    let body = session
        .as_downstream()
        .get_retry_buffer()
        .unwrap_or_default();
    Ok(validate::body(models, session.req_header(), &body).err())
}

/// The status a failed `http_proxy` exchange is answered with (0: the client is gone).
fn failure_status(e: &Error) -> u16 {
    match e.etype() {
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            504
        }
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.store.current(), self.inflight.enter())
    }

    /// The method request: admit, route, and every answer that is not streamed.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        self.method_request(session, ctx).await
    }

    /// The target decided by the route step.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        http_proxy::peer(ctx)
    }

    /// Counts new and reused upstream connections.
    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&pingora::protocols::Digest>,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        crate::metrics::upstream_connection(reused);
        Ok(())
    }

    /// Passive health and a retry on another target of the same version.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        e: Box<Error>,
    ) -> Box<Error> {
        http_proxy::connect_failed(ctx, e)
    }

    /// The decided path and the forwarding headers.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        http_proxy::upstream_request(session, upstream, ctx)
    }

    /// The body limit while the body streams.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        http_proxy::count_body(body.as_ref(), ctx)
    }

    /// The integration latency, once the backend's head is in.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream.answered(&ctx.labels);
        Ok(())
    }

    /// What every answer carries, on the streamed one.
    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if ctx.labels.cors.is_some() {
            cors::strip_backend(upstream_response);
        }
        respond::stamp(upstream_response, ctx, session.req_header())
    }

    /// A failed exchange answered as a gateway response, when nothing was answered yet.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = failure_status(e);
        if code > 0 && session.response_written().is_none() {
            // The connection is not reused after a failed proxy attempt: say so.
            session.set_keepalive(None);
            if ctx.request_id.is_empty() {
                ctx.request_id = RequestId::random();
            }
            let written = match GatewayError::from_status(code) {
                Some(err) => respond::refuse(session, ctx, Refusal::from(err)).await,
                None => session.respond_error(code).await,
            };
            if let Err(we) = written {
                tracing::debug!(request_id = %ctx.request_id, "could not write the error response: {we}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// A failure the client caused (a malformed body, a connection it dropped mid-request) is
    /// not the operator's problem, and pingora's ERROR line for it would let any client fill the
    /// log: it is logged at info level instead, as nginx logs "client sent invalid ...".
    /// Upstream and internal failures keep pingora's ERROR line.
    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, e: &Error) -> bool {
        let client = e.esource() == &ErrorSource::Downstream;
        if client {
            tracing::info!(request_id = %ctx.request_id, "request failed on the client's side: {e}");
        }
        client
    }

    /// Metrics and the access log, whatever the outcome.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        log::log_and_count(session, ctx);
    }
}
