//! Part of the proxy stage, step 9 of the pipeline: the integrations. `http_proxy` streams
//! through pingora's phases (`http_proxy`); the others need whole bodies for templates and
//! events, so they are buffered here (up to `limits.max_body_bytes`, 413 beyond): `serve` reads
//! the body, runs the route's integration (`mock`, `http`, `function`) to an `Answer` and writes
//! it with the one response writer. Integrations that call a backend go through `exchange`,
//! which records the version and the latency for logs and metrics.

pub mod function;
pub mod http;
pub mod http_proxy;
pub mod mapping;
pub mod mock;
pub mod response;

use super::context::RequestCtx;
use super::respond::{self, Answer, GatewayError, Refusal};
use super::route::Call;
use super::upstream::{self, Endpoint};
use crate::snapshot::{Integration, Route};
use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a buffered integration failed; each is answered in one way.
#[derive(Debug)]
pub enum Failure {
    /// A gateway response (415, 413, 400, 502, 504, or 500 with a reason for the log).
    Refuse(Refusal),
    /// The client went away or sent a broken body: nothing to answer.
    Downstream(Box<pingora::Error>),
    /// A function failed or answered something unusable: logged with the request id, answered
    /// 502 `{"message": "Internal server error"}` as AWS does.
    Function(String),
}

impl Failure {
    /// A 500 whose reason only the log sees.
    pub fn internal(why: String) -> Failure {
        Failure::Refuse(Refusal::internal(why))
    }
}

impl From<GatewayError> for Failure {
    fn from(e: GatewayError) -> Self {
        Failure::Refuse(e.into())
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refuse(r)
    }
}

/// What a buffered integration works from.
pub struct Job<'a> {
    pub req: &'a RequestHeader,
    pub ctx: &'a RequestCtx,
    pub call: &'a Call,
    pub route: &'a Route,
    /// The whole request body.
    pub body: Bytes,
    pub connector: &'a Connector,
}

/// The backend call a buffered integration made, recorded once the integration is done.
pub struct Exchanged {
    pub version: Arc<str>,
    pub latency: Duration,
}

/// Runs a buffered integration and writes its answer, or the refusal it ended in.
pub async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    call: Call,
    connector: &Connector,
) -> pingora::Result<()> {
    let body = read_body(session, ctx.snapshot.limits.max_body_bytes)
        .await
        .and_then(|body| match validation_of(&call) {
            Some(models) => super::validate::body(models, session.req_header(), &body)
                .map(|()| body)
                .map_err(Failure::Refuse),
            None => Ok(body),
        });
    let outcome = match body {
        Ok(body) => {
            let mut exchanged = None;
            let outcome = run(
                session.req_header(),
                ctx,
                &call,
                body,
                connector,
                &mut exchanged,
            )
            .await;
            if let Some(x) = exchanged {
                ctx.labels.version = Some(x.version);
                ctx.upstream.record(&ctx.labels, x.latency);
            }
            outcome
        }
        Err(f) => Err(f),
    };
    match outcome {
        Ok(answer) => respond::write(session, ctx, answer).await,
        Err(Failure::Refuse(r)) => respond::refuse(session, ctx, r).await,
        Err(Failure::Function(why)) => {
            // AWS's answer to a failed function: 502 with "Internal server error".
            let refusal = Refusal {
                log: Some(format!("function error: {why}")),
                message: Some("Internal server error".into()),
                ..GatewayError::BadGateway.into()
            };
            respond::refuse(session, ctx, refusal).await
        }
        Err(Failure::Downstream(e)) => Err(e),
    }
}

async fn run(
    req: &RequestHeader,
    ctx: &RequestCtx,
    call: &Call,
    body: Bytes,
    connector: &Connector,
    exchanged: &mut Option<Exchanged>,
) -> Result<Answer, Failure> {
    let route = call
        .route()
        .ok_or_else(|| Failure::internal("route vanished".into()))?;
    let job = Job {
        req,
        ctx,
        call,
        route,
        body,
        connector,
    };
    match &route.integration {
        Integration::Mock(m) => mock::serve(&job, m),
        Integration::Http(h) => http::serve(&job, h, exchanged).await,
        Integration::Function(f) => function::serve(&job, f, exchanged).await,
        Integration::HttpProxy(_) | Integration::Misconfigured { .. } => Err(Failure::internal(
            "buffered route without a buffered integration".into(),
        )),
    }
}

/// The route's body models, when its validator checks bodies.
fn validation_of(call: &Call) -> Option<&crate::snapshot::validation::BodyModels> {
    call.route()?.validation.as_ref()?.body.as_ref()
}

/// Reads the whole request body, failing with 413 beyond `max`.
async fn read_body(session: &mut Session, max: u64) -> Result<Bytes, Failure> {
    respond::continue_if_expected(session)
        .await
        .map_err(Failure::Downstream)?;
    let mut buf = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if (buf.len() + chunk.len()) as u64 > max {
                    return Err(GatewayError::RequestTooLarge.into());
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(Failure::Downstream(e)),
        }
    }
}

/// The request's `Content-Type`.
pub fn content_type(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// A buffered integration's request before the gateway frames it and stamps what every
/// upstream request carries (`upstream::stamp`).
pub struct Outgoing<'a> {
    pub method: ::http::Method,
    pub path: String,
    pub content_type: Option<&'a str>,
    /// Mapped by `request_parameters` or a template's `requestOverride`.
    pub headers: &'a [(::http::HeaderName, ::http::HeaderValue)],
    pub body: Bytes,
}

impl Outgoing<'_> {
    /// The request head, framed and stamped as every upstream request is (integrations and
    /// authorizer calls alike).
    pub fn head(
        &self,
        req: &RequestHeader,
        ctx: &RequestCtx,
        endpoint: &Endpoint,
    ) -> pingora::Result<RequestHeader> {
        use pingora::{ErrorType, OrErr};
        // Plain `http` parts, converted: no case map (see `upstream::stamp_map`).
        let (mut parts, ()) = ::http::Request::new(()).into_parts();
        parts.method = self.method.clone();
        let headers = &mut parts.headers;
        headers.reserve(self.headers.len() + 7);
        if let Some(ct) = self.content_type {
            let ct = ::http::HeaderValue::from_str(ct)
                .or_err(ErrorType::InvalidHTTPHeader, "integration content type")?;
            headers.insert(::http::header::CONTENT_TYPE, ct);
        }
        headers.insert(
            ::http::header::CONTENT_LENGTH,
            ::http::HeaderValue::from(self.body.len()),
        );
        upstream::stamp_map(headers, req, ctx, endpoint.host(), self.headers)?;
        let mut up = RequestHeader::from(parts);
        up.set_raw_path(self.path.as_bytes())?;
        Ok(up)
    }
}

/// Sends one integration request to `endpoint` within its timeout, recording the version and
/// latency: a timeout is 504 (`EndpointTimeout`), any other failure 502 (`BadGateway`), logged.
pub async fn exchange(
    job: &Job<'_>,
    endpoint: &Endpoint,
    out: Outgoing<'_>,
    exchanged: &mut Option<Exchanged>,
) -> Result<(ResponseHeader, Bytes), Failure> {
    let header = out
        .head(job.req, job.ctx, endpoint)
        .map_err(|e| Failure::internal(format!("building the integration request: {e}")))?;
    let body = out.body;
    let sent = Instant::now();
    let peer = endpoint.peer();
    let max = job.ctx.snapshot.limits.max_body_bytes;
    let outcome = tokio::time::timeout(
        endpoint.timeout,
        round_trip(job.connector, &peer, header, body, max),
    )
    .await;
    *exchanged = Some(Exchanged {
        version: endpoint.version.name.clone(),
        latency: sent.elapsed(),
    });
    match outcome {
        Err(_) => Err(GatewayError::EndpointTimeout.into()),
        Ok(Err(e)) => {
            let timeout = matches!(
                e.etype(),
                pingora::ErrorType::ConnectTimedout
                    | pingora::ErrorType::ReadTimedout
                    | pingora::ErrorType::WriteTimedout
            );
            tracing::warn!(request_id = %job.ctx.request_id, route = %job.route.template, "integration request failed: {e}");
            Err(if timeout {
                GatewayError::EndpointTimeout
            } else {
                GatewayError::BadGateway
            }
            .into())
        }
        Ok(Ok(r)) => Ok(r),
    }
}

/// One request over a pooled upstream connection; a connection that the backend closed while
/// idle in the pool is retried once on a fresh one.
pub(crate) async fn round_trip(
    connector: &Connector,
    peer: &pingora::upstreams::peer::HttpPeer,
    header: RequestHeader,
    body: Bytes,
    max: u64,
) -> pingora::Result<(ResponseHeader, Bytes)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut s, reused) = connector.get_http_session(peer).await?;
        let result: pingora::Result<(ResponseHeader, Bytes)> = async {
            s.write_request_header(Box::new(header.clone())).await?;
            if !body.is_empty() {
                s.write_request_body(body.clone(), true).await?;
            }
            s.finish_request_body().await?;
            s.read_response_header().await?;
            let resp = s.response_header().cloned().ok_or_else(|| {
                pingora::Error::explain(pingora::ErrorType::InvalidHTTPHeader, "no response header")
            })?;
            let mut buf = BytesMut::new();
            while let Some(chunk) = s.read_response_body().await? {
                if (buf.len() + chunk.len()) as u64 > max {
                    return Err(pingora::Error::explain(
                        pingora::ErrorType::InvalidHTTPHeader,
                        "integration response over limits.max_body_bytes",
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok((resp, buf.freeze()))
        }
        .await;
        match result {
            Ok(r) => {
                connector
                    .release_http_session(s, peer, peer.options.idle_timeout)
                    .await;
                return Ok(r);
            }
            Err(e) if reused && attempt == 1 => {
                tracing::debug!("pooled upstream connection failed, retrying on a new one: {e}");
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}
