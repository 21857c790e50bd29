//! Fourth stage of the data flow: thin pingora `ProxyHttp` phases. Each request takes one
//! `Arc<Snapshot>` in `request_filter` and keeps it in its context to the end; routing, the
//! version pick and the upstream path are decided there once (retries keep them), and the later
//! phases only apply what was decided.

mod function;
pub mod path;
mod request_id;
mod respond;
mod route;
mod templated;

pub use request_id::RequestId;
pub use respond::GatewayError;

use crate::accesslog::Field;
use crate::lifecycle::{InFlight, InFlightGuard};
use crate::snapshot::upstream::Version;
use crate::snapshot::Snapshot;
use crate::store::Store;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use respond::{write_error, write_json};
use route::{decide, Decision, Seen};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pingora proxy application: holds the store, nothing per request.
pub struct Gateway {
    store: Arc<Store>,
    inflight: InFlight,
    /// Upstream connections of `http` integrations, which the gateway calls itself (the
    /// streaming proxy path uses pingora's own pool).
    connector: Connector,
}

impl Gateway {
    pub fn new(store: Arc<Store>, inflight: InFlight) -> Gateway {
        Gateway {
            store,
            inflight,
            connector: Connector::new(None),
        }
    }

    /// Mock, `http` and function integrations: answered by the gateway itself.
    async fn serve_templated(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        call: route::Call,
    ) -> Result<()> {
        let outcome = match call.route().map(|r| &r.integration) {
            Some(crate::snapshot::Integration::Mock(m)) => {
                let m = m.clone();
                templated::serve_mock(session, ctx, &call, &m).await
            }
            Some(crate::snapshot::Integration::Http(h)) => {
                let h = h.clone();
                templated::serve_http(session, ctx, &call, &h, &self.connector).await
            }
            Some(crate::snapshot::Integration::Function(f)) => {
                let f = f.clone();
                function::serve(session, ctx, &call, &f, &self.connector).await
            }
            _ => Err(templated::Failure::Internal(
                "templated route without a templated integration".into(),
            )),
        };
        if let Err(f) = outcome {
            templated::answer_failure(session, ctx, f).await?;
        }
        Ok(())
    }
}

/// What `request_filter` decided for a request that goes upstream.
pub struct Forward {
    pub version: Arc<Version>,
    pub target: usize,
    pub attempts: u32,
    /// Path and query sent upstream, parsed once when routed (a retry sends it again).
    pub upstream_path: http::Uri,
    /// `Host` sent upstream for `http://` endpoints; `None`: the target's own `host:port`.
    pub host_header: Option<Arc<str>>,
    pub timeout: Duration,
    /// Headers from `request_parameters`, set on the upstream request.
    pub extra_headers: Vec<(http::HeaderName, String)>,
}

/// Per-request state: the snapshot it started with and what was decided for it.
#[derive(Default)]
pub struct RequestCtx {
    pub snapshot: Option<Arc<Snapshot>>,
    pub request_id: RequestId,
    pub forward: Option<Forward>,
    /// Request body bytes seen so far, against `limits.max_body_bytes`.
    pub body_bytes: u64,
    pub seen: Seen,
    pub started: Option<Instant>,
    /// When the request was handed to the backend, for the upstream latency.
    pub upstream_started: Option<Instant>,
    pub upstream_latency: Option<Duration>,
    /// Counts the request as in flight until the context is dropped (graceful shutdown).
    pub inflight: Option<InFlightGuard>,
}

/// Whether an HTTP/1.1 request came with both `Content-Length` and `Transfer-Encoding`.
/// pingora follows RFC 9112 (the chunked framing wins, `Content-Length` is dropped, keep-alive is
/// turned off) before any filter sees the request, so the sign left is a chunked HTTP/1.1
/// request whose keep-alive was turned off although the client did not ask for `close` and the
/// process is not shutting down. Such a request is a smuggling attempt or a broken client: it is
/// refused rather than forwarded.
fn sent_both_lengths(session: &Session, store: &Store) -> bool {
    let req = session.req_header();
    req.version == http::Version::HTTP_11
        && req.headers.contains_key(http::header::TRANSFER_ENCODING)
        && session.as_downstream().get_keepalive().is_none()
        && !req
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.to_ascii_lowercase().contains("close"))
            })
        && !session.is_process_shutting_down()
        && store.is_ready()
}

/// 414 for a long URL, 431 for too many or too large headers (AWS's limits by default), 400 for
/// ambiguous framing: `Content-Length` together with `Transfer-Encoding` (RFC 9112 lets a server
/// prefer the latter; a gateway that forwards such a request invites smuggling), or a
/// `Transfer-Encoding` other than plain `chunked`.
fn over_limits(req: &RequestHeader, limits: &crate::snapshot::Limits) -> Option<GatewayError> {
    let te = req.headers.get_all(http::header::TRANSFER_ENCODING);
    if te.iter().next().is_some() {
        let chunked_only = te.iter().count() == 1
            && te
                .iter()
                .all(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        if !chunked_only || req.headers.contains_key(http::header::CONTENT_LENGTH) {
            return Some(GatewayError::BadRequest);
        }
    }
    let url = req
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().len())
        .unwrap_or(0);
    if url > limits.max_url_bytes {
        return Some(GatewayError::UriTooLong);
    }
    if req.headers.len() > limits.max_headers {
        return Some(GatewayError::HeadersTooLarge);
    }
    let bytes: usize = req
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    (bytes > limits.max_header_bytes).then_some(GatewayError::HeadersTooLarge)
}

/// One `$context` value of the access log.
fn access_field(
    session: &Session,
    ctx: &RequestCtx,
    status: u16,
    elapsed: Duration,
    f: Field,
    out: &mut String,
) {
    use std::fmt::Write;
    let req = session.req_header();
    let header = |name: http::header::HeaderName| {
        req.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let _ = match f {
        Field::RequestId | Field::ExtendedRequestId => write!(out, "{}", ctx.request_id),
        Field::HttpMethod => write!(out, "{}", req.method),
        Field::ResourcePath => write!(out, "{}", ctx.seen.resource_path.as_deref().unwrap_or("")),
        Field::Path => write!(out, "{}", req.uri.path()),
        Field::Protocol => write!(out, "{:?}", req.version),
        Field::Status => write!(out, "{status}"),
        Field::ResponseLength => write!(out, "{}", session.body_bytes_sent()),
        Field::ResponseLatency => write!(out, "{}", elapsed.as_millis()),
        Field::IntegrationLatency => match ctx.upstream_latency {
            Some(d) => write!(out, "{}", d.as_millis()),
            None => Ok(()),
        },
        Field::SourceIp => match session.client_addr().and_then(|a| a.as_inet()) {
            Some(a) => write!(out, "{}", a.ip()),
            None => Ok(()),
        },
        Field::UserAgent => write!(
            out,
            "{}",
            header(http::header::USER_AGENT).unwrap_or_default()
        ),
        Field::RequestTime => write!(out, "{}", crate::timefmt::clf(received_at(elapsed))),
        Field::RequestTimeEpoch => {
            write!(out, "{}", crate::timefmt::epoch_ms(received_at(elapsed)))
        }
        Field::DomainName => write!(
            out,
            "{}",
            header(http::header::HOST)
                .map(|h| h.split(':').next().unwrap_or("").to_string())
                .unwrap_or_default()
        ),
        Field::Stage => write!(out, "{}", ctx.seen.stage.as_deref().unwrap_or("")),
        Field::DeploymentId => write!(out, "{}", ctx.seen.deployment.as_deref().unwrap_or("")),
        Field::IsCanaryRequest => write!(out, "{}", ctx.seen.canary),
        Field::Version => write!(out, "{}", ctx.seen.version.as_deref().unwrap_or("")),
    };
}

/// `X-Forwarded-For` with the client appended. IPv4 is written by hand: `Display` for an address
/// costs about a thousand instructions, a tenth of the gateway's own work per request.
fn forwarded_for(prev: Option<&http::HeaderValue>, ip: std::net::IpAddr) -> http::HeaderValue {
    let mut value = Vec::with_capacity(prev.map_or(0, |p| p.len() + 2) + 39);
    if let Some(p) = prev {
        value.extend_from_slice(p.as_bytes());
        value.extend_from_slice(b", ");
    }
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    value.push(b'.');
                }
                if octet >= 100 {
                    value.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    value.push(b'0' + octet / 10 % 10);
                }
                value.push(b'0' + octet % 10);
            }
        }
        std::net::IpAddr::V6(v6) => value.extend_from_slice(v6.to_string().as_bytes()),
    }
    http::HeaderValue::from_maybe_shared(Bytes::from(value))
        .unwrap_or_else(|_| http::HeaderValue::from_static(""))
}

/// The upstream headers and path of a route with `request_parameters`.
fn map_parameters(
    session: &Session,
    request_id: &RequestId,
    mut f: Forward,
    call: &route::Call,
) -> std::result::Result<Decision, String> {
    let Some(route) = call.route() else {
        return Ok(Decision::Forward(f, None));
    };
    let crate::snapshot::Integration::HttpProxy(p) = &route.integration else {
        return Ok(Decision::Forward(f, None));
    };
    let client = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    let (headers, path) =
        templated::proxy_mapping(session.req_header(), call, route, p, request_id, client);
    f.extra_headers = headers;
    f.upstream_path = http::Uri::try_from(path)
        .map_err(|e| format!("mapped upstream path of route {:?}: {e}", route.template))?;
    Ok(Decision::Forward(f, None))
}

/// When the request arrived, from the time it has taken so far: the wall clock is read once,
/// when a log line needs it, not for every request.
fn received_at(elapsed: Duration) -> std::time::SystemTime {
    let now = std::time::SystemTime::now();
    now.checked_sub(elapsed).unwrap_or(now)
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            inflight: Some(self.inflight.enter()),
            ..RequestCtx::default()
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let snapshot = self.store.current();
        ctx.request_id = RequestId::for_request(session.req_header());
        ctx.started = Some(Instant::now());
        // The idle timeout of this keep-alive connection, unless pingora turned keep-alive off
        // (shutdown, `Connection: close`, ambiguous framing): that decision stands.
        if session.as_downstream().get_keepalive().is_some() {
            session.set_keepalive(Some(snapshot.limits.idle_timeout_seconds));
        }
        let ambiguous = sent_both_lengths(session, &self.store);
        if let Some(err) = ambiguous
            .then_some(GatewayError::BadRequest)
            .or_else(|| over_limits(session.req_header(), &snapshot.limits))
        {
            ctx.snapshot = Some(snapshot);
            // The framing may be ambiguous: never read another request from this connection.
            session.set_keepalive(None);
            write_error(session, err, &ctx.request_id, None).await?;
            return Ok(true);
        }
        match path::normalize(session.req_header().uri.path()) {
            Ok(Cow::Borrowed(_)) => {}
            Ok(Cow::Owned(clean)) => {
                let req = session.req_header();
                let pq = match req.uri.query() {
                    Some(q) => format!("{clean}?{q}"),
                    None => clean,
                };
                match http::Uri::try_from(pq) {
                    Ok(uri) => session.req_header_mut().set_uri(uri),
                    Err(_) => {
                        write_error(session, GatewayError::BadRequest, &ctx.request_id, None)
                            .await?;
                        return Ok(true);
                    }
                }
            }
            Err(_) => {
                ctx.snapshot = Some(snapshot);
                write_error(session, GatewayError::BadRequest, &ctx.request_id, None).await?;
                return Ok(true);
            }
        }
        let decision = decide(&snapshot, session.req_header(), &mut ctx.seen);
        if let Some(d) = ctx.seen.delay {
            tokio::time::sleep(d).await;
        }
        ctx.snapshot = Some(snapshot);
        // `request_parameters` of an `http_proxy` route: applied here, where the client address
        // is known; a failure is answered like any other routing error.
        let decision = match decision {
            Decision::Forward(f, Some(call)) => map_parameters(session, &ctx.request_id, f, &call)
                .unwrap_or_else(|reason| Decision::Error {
                    error: GatewayError::InternalServerError,
                    header: None,
                    log: Some(reason),
                }),
            d => d,
        };
        match decision {
            Decision::Forward(f, _) => {
                ctx.forward = Some(f);
                Ok(false)
            }
            Decision::Abort(status) => {
                write_json(
                    session,
                    status,
                    r#"{"message":"Fault injected"}"#,
                    &ctx.request_id,
                    None,
                )
                .await?;
                Ok(true)
            }
            Decision::Templated(call) => {
                // Boxed on its own: these futures hold buffers and an upstream session, and
                // inlined they would make every request's `request_filter` future (which
                // async_trait moves to the heap) kilobytes larger.
                Box::pin(self.serve_templated(session, ctx, call)).await?;
                Ok(true)
            }
            Decision::Error { error, header, log } => {
                if let Some(reason) = log {
                    tracing::error!(request_id = %ctx.request_id, "{reason}");
                }
                write_error(session, error, &ctx.request_id, header).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Some(f) = ctx.forward.as_mut() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no upstream decided",
            ));
        };
        // A retry moves to the next target of the same version, never to another version.
        if f.attempts > 0 {
            f.target = f.version.retry_target(f.target);
        }
        f.attempts += 1;
        ctx.upstream_started = Some(Instant::now());
        let mut peer = f.version.peer(f.target).clone();
        peer.options.connection_timeout = Some(f.timeout.min(Duration::from_secs(10)));
        peer.options.read_timeout = Some(f.timeout);
        peer.options.write_timeout = Some(f.timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(f) = ctx.forward.as_ref() else {
            return Ok(());
        };
        upstream.set_uri(f.upstream_path.clone());
        let original_host = session
            .req_header()
            .headers
            .get(http::header::HOST)
            .cloned()
            .or_else(|| {
                session
                    .req_header()
                    .uri
                    .authority()
                    .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
            });
        let host_header = f
            .host_header
            .as_ref()
            .unwrap_or_else(|| f.version.host_header(f.target));
        upstream.insert_header(http::header::HOST, &**host_header)?;
        if let Some(h) = original_host {
            upstream.insert_header("x-forwarded-host", h)?;
        }
        let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let proto = if tls { "https" } else { "http" };
        upstream.insert_header("x-forwarded-proto", http::HeaderValue::from_static(proto))?;
        if let Some(ip) = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip())
        {
            let prev = upstream
                .headers
                .get("x-forwarded-for")
                .filter(|v| !v.is_empty());
            upstream.insert_header("x-forwarded-for", forwarded_for(prev, ip))?;
        }
        upstream.insert_header("x-request-id", ctx.request_id.header())?;
        for (k, v) in &f.extra_headers {
            upstream.insert_header(k.clone(), v.as_str())?;
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(b) = body {
            ctx.body_bytes += b.len() as u64;
            let max = ctx
                .snapshot
                .as_ref()
                .map(|s| s.limits.max_body_bytes)
                .unwrap_or(u64::MAX);
            if ctx.body_bytes > max {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(413),
                    "request body over limits.max_body_bytes",
                ));
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(t) = ctx.upstream_started {
            let elapsed = t.elapsed();
            ctx.upstream_latency = Some(elapsed);
            if let Some(v) = &ctx.seen.version {
                ctx.seen.metrics.observe_upstream(v, elapsed);
            }
        }
        Ok(())
    }

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

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        crate::metrics::upstream_connect_failed();
        if let Some(f) = &ctx.forward {
            // Passive health: skip this target for a while; retry the request on another
            // target of the same version while there are untried ones (nothing was sent yet).
            f.version.eject(f.target);
            if (f.attempts as usize) < f.version.target_count() {
                e.set_retry(true);
            }
        }
        e
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(0);
        let elapsed = ctx.started.map(|t| t.elapsed()).unwrap_or_default();
        ctx.seen.metrics.observe(
            &session.req_header().method,
            status,
            ctx.seen.version.as_ref(),
            elapsed,
        );
        if let Some(log) = ctx.seen.access_log.clone() {
            let line = log
                .format
                .line(&|f, out| access_field(session, ctx, status, elapsed, f, out));
            log.write(line);
        }
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_response.insert_header("x-request-id", ctx.request_id.header())?;
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = match e.etype() {
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
        };
        if code > 0 && session.response_written().is_none() {
            // The connection is not reused after a failed proxy attempt: say so.
            session.set_keepalive(None);
            if ctx.request_id.is_empty() {
                ctx.request_id = RequestId::random();
            }
            let written = match GatewayError::from_status(code) {
                Some(err) => write_error(session, err, &ctx.request_id, None).await,
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
}

#[cfg(test)]
mod tests {
    use super::forwarded_for;

    #[test]
    fn forwarded_for_appends_the_client() {
        let v4 = "10.0.200.7".parse().expect("ip");
        assert_eq!(forwarded_for(None, v4), "10.0.200.7");
        assert_eq!(
            forwarded_for(Some(&http::HeaderValue::from_static("1.2.3.4")), v4),
            "1.2.3.4, 10.0.200.7"
        );
        for ip in ["0.0.0.0", "255.255.255.255", "100.9.10.99"] {
            assert_eq!(forwarded_for(None, ip.parse().expect("ip")), ip);
        }
        let v6 = "2001:db8::1".parse().expect("ip");
        assert_eq!(forwarded_for(None, v6), "2001:db8::1");
    }
}
