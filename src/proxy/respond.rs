//! Part of the proxy stage, its last step: the method response. Every answer the gateway writes
//! itself (refusals, mock and templated integrations, function results) goes through `write`,
//! which frames it exactly (`Content-Length`, nothing after a `HEAD`) so keep-alive survives,
//! and stamps `x-request-id`. Streamed `http_proxy` answers are pingora's; `stamp` gives them
//! the same id.

use super::context::RequestCtx;
use crate::config::response_type::ResponseType;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;
use std::borrow::Cow;
use std::time::Duration;

/// An answer the gateway makes itself, with AWS's message texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayError {
    NotFound,
    BadRequest,
    MethodNotAllowed,
    RequestTooLarge,
    UriTooLong,
    HeadersTooLarge,
    TooManyRequests,
    UnsupportedMediaType,
    InternalServerError,
    BadGateway,
    EndpointTimeout,
    /// Fault injection's abort, with the configured status.
    FaultInjected(u16),
}

impl GatewayError {
    pub fn status(self) -> u16 {
        match self {
            GatewayError::FaultInjected(status) => status,
            // Every other error's type has a default status.
            e => e.response_type().default_status().unwrap_or(500),
        }
    }

    /// The whole body, prebuilt once per type: no formatting per answer.
    pub fn body(self) -> &'static str {
        self.response_type().default_body()
    }

    /// Its gateway response type: the metric label, `$context.error.responseType`, and the key
    /// a `gateway_responses:` entry customizes it by.
    pub fn response_type(self) -> ResponseType {
        match self {
            GatewayError::NotFound => ResponseType::ResourceNotFound,
            GatewayError::BadRequest => ResponseType::BadRequest,
            GatewayError::MethodNotAllowed => ResponseType::MethodNotAllowed,
            GatewayError::RequestTooLarge => ResponseType::RequestTooLarge,
            GatewayError::UriTooLong => ResponseType::UriTooLong,
            GatewayError::HeadersTooLarge => ResponseType::HeadersTooLarge,
            GatewayError::TooManyRequests => ResponseType::Throttled,
            GatewayError::UnsupportedMediaType => ResponseType::UnsupportedMediaType,
            // A failing template or an unresolvable mapping: AWS's type for a configuration
            // that cannot serve the request.
            GatewayError::InternalServerError => ResponseType::ApiConfigurationError,
            GatewayError::BadGateway => ResponseType::IntegrationFailure,
            GatewayError::EndpointTimeout => ResponseType::IntegrationTimeout,
            GatewayError::FaultInjected(_) => ResponseType::FaultInjected,
        }
    }

    /// The answer for an error pingora reports by status (`fail_to_proxy`).
    pub fn from_status(code: u16) -> Option<GatewayError> {
        Some(match code {
            404 => GatewayError::NotFound,
            400 => GatewayError::BadRequest,
            414 => GatewayError::UriTooLong,
            429 => GatewayError::TooManyRequests,
            431 => GatewayError::HeadersTooLarge,
            405 => GatewayError::MethodNotAllowed,
            413 => GatewayError::RequestTooLarge,
            415 => GatewayError::UnsupportedMediaType,
            500 => GatewayError::InternalServerError,
            502 => GatewayError::BadGateway,
            504 => GatewayError::EndpointTimeout,
            _ => return None,
        })
    }
}

/// A refusal: the error, the one header some carry, and why (for the error log only).
#[derive(Debug)]
pub struct Refusal {
    pub error: GatewayError,
    /// `Allow` on 405, `Retry-After` on 429.
    pub header: Option<(http::HeaderName, String)>,
    /// Logged with the request id at error level; never sent to the client.
    pub log: Option<String>,
}

impl From<GatewayError> for Refusal {
    fn from(error: GatewayError) -> Self {
        Refusal {
            error,
            header: None,
            log: None,
        }
    }
}

impl Refusal {
    /// A 500 whose reason only the log sees.
    pub fn internal(why: String) -> Refusal {
        Refusal {
            error: GatewayError::InternalServerError,
            header: None,
            log: Some(why),
        }
    }
}

/// A response the gateway writes itself.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(http::HeaderName, String)>,
    pub content_type: Option<Cow<'static, str>>,
    pub body: Bytes,
}

impl Answer {
    pub fn error(e: GatewayError) -> Answer {
        // `x-amzn-ErrorType` where AWS sends one: clients and SDKs written against API Gateway
        // branch on it (`TooManyRequestsException` is retried with backoff).
        let error_type = e.response_type().error_type();
        Answer {
            status: e.status(),
            headers: error_type
                .map(|t| {
                    (
                        http::HeaderName::from_static("x-amzn-errortype"),
                        t.to_string(),
                    )
                })
                .into_iter()
                .collect(),
            content_type: Some(Cow::Borrowed("application/json")),
            body: Bytes::from_static(e.body().as_bytes()),
        }
    }
}

/// Writes `a` with an exact `Content-Length` and `x-request-id`; a `HEAD` gets the head only.
pub async fn write(session: &mut Session, ctx: &RequestCtx, a: Answer) -> Result<()> {
    let mut resp = ResponseHeader::build(a.status, Some(a.headers.len() + 3))?;
    for (k, v) in a.headers {
        resp.append_header(k, v)?;
    }
    if let Some(ct) = a.content_type {
        resp.insert_header(http::header::CONTENT_TYPE, &*ct)?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, a.body.len())?;
    stamp(&mut resp, ctx)?;
    let head_only = session.req_header().method == http::Method::HEAD;
    let end = head_only || a.body.is_empty();
    session.write_response_header(Box::new(resp), end).await?;
    if !end {
        session.write_response_body(Some(a.body), true).await?;
    }
    Ok(())
}

/// What every answer carries, the gateway's own and streamed ones alike.
pub fn stamp(resp: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
    resp.insert_header("x-request-id", ctx.request_id.header())
}

/// Records that the gateway refused the request as `t`: for `$context.error.*` and
/// `stagecraft_gateway_responses_total`. Every refusal passes here, whoever writes it.
pub fn refused_as(ctx: &RequestCtx, t: ResponseType) {
    let _ = ctx.error.set(t);
    ctx.labels.metrics.gateway_response(t.name());
}

/// Answers a refusal, logging its reason with the request id.
pub async fn refuse(session: &mut Session, ctx: &RequestCtx, r: Refusal) -> Result<()> {
    if let Some(why) = &r.log {
        tracing::error!(request_id = %ctx.request_id, "{why}");
    }
    refused_as(ctx, r.error.response_type());
    let mut answer = Answer::error(r.error);
    answer.headers.extend(r.header);
    if r.error != GatewayError::RequestTooLarge {
        return write(session, ctx, answer).await;
    }
    // The client may still be sending. Closing with its bytes unread makes the kernel reset the
    // connection, which can destroy the 413 before the client reads it; so say the connection
    // ends, answer, then read and drop what is still coming for a short while (nginx's
    // lingering close).
    session.set_keepalive(None);
    write(session, ctx, answer).await?;
    linger(session).await;
    Ok(())
}

/// Reads and drops the rest of a refused request body: at most 1 s and 1 MiB.
async fn linger(session: &mut Session) {
    let drain = async {
        let mut left: usize = 1 << 20;
        while let Ok(Some(chunk)) = session.read_request_body().await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [GatewayError; 12] = [
        GatewayError::NotFound,
        GatewayError::BadRequest,
        GatewayError::MethodNotAllowed,
        GatewayError::RequestTooLarge,
        GatewayError::UriTooLong,
        GatewayError::HeadersTooLarge,
        GatewayError::TooManyRequests,
        GatewayError::UnsupportedMediaType,
        GatewayError::InternalServerError,
        GatewayError::BadGateway,
        GatewayError::EndpointTimeout,
        GatewayError::FaultInjected(503),
    ];

    /// The prebuilt bodies and statuses are the response types' defaults, so the two can never
    /// drift apart.
    #[test]
    fn every_error_is_its_response_types_default() {
        for e in ALL {
            let t = e.response_type();
            assert_eq!(
                e.body(),
                format!(r#"{{"message":"{}"}}"#, t.message()),
                "{e:?} as {t}"
            );
            if let Some(status) = t.default_status() {
                assert_eq!(e.status(), status, "{e:?} as {t}");
            }
        }
        assert_eq!(GatewayError::FaultInjected(503).status(), 503);
        let throttled = Answer::error(GatewayError::TooManyRequests);
        assert_eq!(
            throttled.headers,
            [(
                http::HeaderName::from_static("x-amzn-errortype"),
                "TooManyRequestsException".to_string()
            )]
        );
        assert!(Answer::error(GatewayError::NotFound).headers.is_empty());
    }
}
