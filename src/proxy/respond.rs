//! Part of the proxy stage, its last step: the method response. Every answer the gateway writes
//! itself (refusals, mock and templated integrations, function results) goes through `write`,
//! which frames it exactly (`Content-Length`, nothing after a `HEAD`) so keep-alive survives,
//! and stamps `x-request-id` and CORS. Every refusal is rendered by `render`: AWS's default for
//! its gateway response type, or the deployment's `gateway_responses` entry that answers for
//! it. Streamed `http_proxy` answers are pingora's; `stamp` gives them the same id and CORS.

use super::context::{ErrorFacts, RequestCtx};
use super::facts::{header_text, query_param, Facts};
use super::request_id;
use crate::config::method::MethodParam;
use crate::config::response_type::ResponseType;
use crate::snapshot::mapping::ContextField;
use crate::snapshot::responses::{Custom, Part, Value};
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::http::ResponseHeader;
use pingora::protocols::http::HttpTask;
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
    /// A required method request parameter is missing or blank.
    BadRequestParameters,
    /// The body does not satisfy its model.
    BadRequestBody,
    /// No identity, or one the authorizer refused (401).
    Unauthorized,
    /// The authorizer's policy does not allow this request (403).
    AccessDenied,
    /// The authorizer function failed (500).
    AuthorizerFailure,
    /// The authorizer could not be called or answered no decision (500).
    AuthorizerConfigurationError,
    /// No API key, or one that is unknown, disabled or in no plan of the stage (403).
    InvalidApiKey,
    /// The key's plan's quota for this period is used up (429, no `Retry-After`, as AWS).
    QuotaExceeded,
    /// The shared usage store failed and `on_store_error` is `deny` (503).
    UsageStoreUnavailable,
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
            GatewayError::BadRequestParameters => ResponseType::BadRequestParameters,
            GatewayError::BadRequestBody => ResponseType::BadRequestBody,
            GatewayError::Unauthorized => ResponseType::Unauthorized,
            GatewayError::AccessDenied => ResponseType::AccessDenied,
            GatewayError::AuthorizerFailure => ResponseType::AuthorizerFailure,
            GatewayError::AuthorizerConfigurationError => {
                ResponseType::AuthorizerConfigurationError
            }
            GatewayError::InvalidApiKey => ResponseType::InvalidApiKey,
            GatewayError::QuotaExceeded => ResponseType::QuotaExceeded,
            GatewayError::UsageStoreUnavailable => ResponseType::UsageStoreUnavailable,
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

/// A refusal: the error, the one header some carry, what `$context.error.*` shows beyond the
/// type's defaults, and why (for the error log only).
#[derive(Debug)]
pub struct Refusal {
    pub error: GatewayError,
    /// `Allow` on 405, `Retry-After` on 429.
    pub header: Option<(http::HeaderName, String)>,
    /// Logged with the request id at error level; never sent to the client.
    pub log: Option<String>,
    /// This request's message instead of the type's (`$context.error.message`).
    pub message: Option<Box<str>>,
    /// `$context.error.validationErrorString`.
    pub validation: Option<Box<str>>,
}

impl From<GatewayError> for Refusal {
    fn from(error: GatewayError) -> Self {
        Refusal {
            error,
            header: None,
            log: None,
            message: None,
            validation: None,
        }
    }
}

impl Refusal {
    /// A 500 whose reason only the log sees.
    pub fn internal(why: String) -> Refusal {
        Refusal {
            log: Some(why),
            ..GatewayError::InternalServerError.into()
        }
    }

    /// `error` with one header.
    pub fn with_header(error: GatewayError, name: http::HeaderName, value: String) -> Refusal {
        Refusal {
            header: Some((name, value)),
            ..error.into()
        }
    }
}

/// Says `100 Continue` to a client that waits for it (`Expect: 100-continue`) before the
/// gateway reads the body itself (buffered integrations, validated bodies); a streamed body is
/// the backend's to continue.
pub async fn continue_if_expected(session: &mut Session) -> Result<()> {
    let expects = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects && session.req_header().version == http::Version::HTTP_11 {
        session
            .as_downstream_mut()
            .write_continue_response()
            .await?;
    }
    Ok(())
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

/// Writes `a` with an exact `Content-Length`, `x-request-id` and CORS; a `HEAD` gets the head
/// only.
pub async fn write(session: &mut Session, ctx: &RequestCtx, a: Answer) -> Result<()> {
    let resp = head(ctx, session.req_header(), &a)?;
    let head_only = session.req_header().method == http::Method::HEAD;
    if head_only || a.body.is_empty() {
        return session.write_response_header(Box::new(resp), true).await;
    }
    // Head and body as one batch: pingora writes them with one flush (one `send` for an answer
    // that fits its write buffer) instead of a write for each.
    session
        .write_response_tasks(vec![
            HttpTask::Header(Box::new(resp), false),
            HttpTask::Body(Some(a.body), true),
        ])
        .await?;
    Ok(())
}

/// The head of an answer the gateway makes. Built as plain `http` parts and converted, so it has
/// no case map: pingora's `insert_header` parses every name into a fresh `HeaderName` and clones it
/// into that map (two allocations for each name it does not know), while a `HeaderMap` insert of a
/// ready `HeaderName` allocates nothing. The wire is the same: without a case map pingora writes
/// the names it knows titled (`Content-Type`) and the others as given, which is what the case map
/// held for these names.
fn head(ctx: &RequestCtx, req: &RequestHeader, a: &Answer) -> Result<ResponseHeader> {
    use pingora::{ErrorType, OrErr};
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status =
        http::StatusCode::from_u16(a.status).or_err(ErrorType::InternalError, "answer status")?;
    let headers = &mut parts.headers;
    headers.reserve(a.headers.len() + 3);
    for (k, v) in &a.headers {
        let v =
            http::HeaderValue::from_str(v).or_err(ErrorType::InvalidHTTPHeader, "answer header")?;
        headers.append(k.clone(), v);
    }
    if let Some(ct) = &a.content_type {
        let v = match ct {
            Cow::Borrowed(s) => http::HeaderValue::from_static(s),
            Cow::Owned(s) => http::HeaderValue::from_str(s)
                .or_err(ErrorType::InvalidHTTPHeader, "answer content type")?,
        };
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(a.body.len()),
    );
    headers.insert(request_id::HEADER.clone(), ctx.request_id.header());
    let mut resp = ResponseHeader::from(parts);
    stamp_cors(&mut resp, ctx, req)?;
    Ok(resp)
}

/// What every answer carries, the gateway's own and streamed ones alike: `x-request-id`, and
/// the API's CORS headers (which replace a backend's: the gateway's policy is the one that
/// holds, as in AWS HTTP APIs).
pub fn stamp(resp: &mut ResponseHeader, ctx: &RequestCtx, req: &RequestHeader) -> Result<()> {
    // The name as `&'static str`: the case map of a streamed head keeps it without a copy.
    resp.insert_header(request_id::HEADER.as_str(), ctx.request_id.header())?;
    stamp_cors(resp, ctx, req)
}

fn stamp_cors(resp: &mut ResponseHeader, ctx: &RequestCtx, req: &RequestHeader) -> Result<()> {
    match &ctx.labels.cors {
        Some(cors) => super::cors::stamp(resp, cors, super::cors::origin(req, &ctx.labels)),
        None => Ok(()),
    }
}

/// Records that the gateway refused the request: for `$context.error.*` and
/// `stagecraft_gateway_responses_total`. Every refusal passes here, whoever writes it.
pub fn refused_as(ctx: &RequestCtx, facts: ErrorFacts) {
    ctx.labels.metrics.gateway_response(facts.kind.name());
    let _ = ctx.error.set(Box::new(facts));
}

/// Answers a refusal through the deployment's gateway responses, logging its reason with the
/// request id.
pub async fn refuse(session: &mut Session, ctx: &RequestCtx, r: Refusal) -> Result<()> {
    if let Some(why) = &r.log {
        tracing::error!(request_id = %ctx.request_id, "{why}");
    }
    let error = r.error;
    let answer = render(session.req_header(), ctx, r);
    if error != GatewayError::RequestTooLarge {
        discard_small_body(session).await;
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

/// The answer to a refusal: AWS's default for its type, or what the API's `gateway_responses`
/// set for it (or, whole, for its class). Records the refusal first, so that templates see it.
pub fn render(req: &RequestHeader, ctx: &RequestCtx, r: Refusal) -> Answer {
    let kind = r.error.response_type();
    let status = r.error.status();
    let custom = ctx
        .labels
        .responses
        .as_deref()
        .and_then(|g| g.pick(kind, status));
    let own_message = r.message.is_some();
    refused_as(
        ctx,
        ErrorFacts {
            kind,
            message: r.message,
            validation: r.validation,
        },
    );
    let mut answer = Answer::error(r.error);
    answer.headers.extend(r.header);
    if own_message {
        let quoted = Facts::new(req, ctx).value(&ContextField::ErrorMessageString);
        answer.body = Bytes::from(format!("{{\"message\":{quoted}}}"));
    }
    if let Some(c) = custom {
        customize(&mut answer, c, Facts::new(req, ctx));
    }
    answer
}

/// Applies one `gateway_responses` entry: its status, its headers (a value the request lacks
/// sets no header, as AWS), its template.
fn customize(answer: &mut Answer, c: &Custom, facts: Facts<'_>) {
    if let Some(s) = c.status {
        answer.status = s;
    }
    for (name, value) in c.headers.iter() {
        let v = match value {
            Value::Literal(l) => Some(l.to_string()),
            Value::Context(f) => Some(facts.value(f)),
            Value::Param(p) => method_param(facts.req, p),
        };
        let Some(v) = v.filter(|v| !v.is_empty()) else {
            continue;
        };
        answer.headers.retain(|(n, _)| n != name);
        answer.headers.push((name.clone(), v));
    }
    let accept = facts
        .req
        .headers
        .get(http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or("");
    let chosen = c
        .templates
        .iter()
        .find(|(ct, _)| {
            accept.split(',').any(|a| {
                a.split(';')
                    .next()
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case(ct))
            })
        })
        .or_else(|| c.templates.first());
    if let Some((ct, parts)) = chosen {
        let mut body = String::new();
        for p in parts.iter() {
            match p {
                Part::Text(t) => body.push_str(t),
                // The schema's messages quote names: escaped as inside a JSON string, so that
                // `"$context.error.validationErrorString"` in a JSON template stays JSON.
                Part::Context(ContextField::ErrorValidationErrorString) => {
                    let raw = facts.value(&ContextField::ErrorValidationErrorString);
                    let quoted = serde_json::Value::from(raw).to_string();
                    body.push_str(quoted.get(1..quoted.len() - 1).unwrap_or(""));
                }
                Part::Context(f) => facts.write(f, &mut body),
                Part::Param(n) => body.push_str(&input_param(facts.req, n).unwrap_or_default()),
            }
        }
        answer.content_type = Some(Cow::Owned(ct.to_string()));
        answer.body = Bytes::from(body);
    }
}

/// A method request parameter as gateway responses read it (path parameters are not kept
/// after routing: they read empty).
fn method_param(req: &RequestHeader, p: &MethodParam) -> Option<String> {
    match p {
        MethodParam::Header(h) => header_text(req, h),
        MethodParam::Query(q) => query_param(req, q),
        MethodParam::Path(_) => None,
    }
}

/// `$input.params('name')`: the query string, then the headers.
fn input_param(req: &RequestHeader, name: &str) -> Option<String> {
    query_param(req, name).or_else(|| header_text(req, name))
}

/// The largest unread body a refusal reads and drops to keep the connection open.
const DISCARDED_BODY_BYTES: u64 = 64 * 1024;

/// A small body (by `Content-Length`) that a refusal made before reading it is read and dropped
/// first, for at most 1 s, so that the connection stays open for the client's next request
/// (pingora closes a connection answered with its body unread; nginx discards such a body the
/// same way). A larger or chunked body, or one that does not arrive in time, still ends the
/// connection.
async fn discard_small_body(session: &mut Session) {
    if session.is_body_done() {
        return;
    }
    let small = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n <= DISCARDED_BODY_BYTES);
    if !small {
        return;
    }
    let drain = async { while let Ok(Some(_)) = session.read_request_body().await {} };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
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

    const ALL: [GatewayError; 14] = [
        GatewayError::BadRequestParameters,
        GatewayError::BadRequestBody,
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
