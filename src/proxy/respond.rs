//! Gateway-generated responses: the JSON errors of DESIGN.md section 3, with correct framing so
//! that keep-alive survives them.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

/// An error the gateway answers itself, with AWS's message texts.
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
}

impl GatewayError {
    pub fn status(self) -> u16 {
        match self {
            GatewayError::NotFound => 404,
            GatewayError::BadRequest => 400,
            GatewayError::UriTooLong => 414,
            GatewayError::HeadersTooLarge => 431,
            GatewayError::TooManyRequests => 429,
            GatewayError::MethodNotAllowed => 405,
            GatewayError::RequestTooLarge => 413,
            GatewayError::UnsupportedMediaType => 415,
            GatewayError::InternalServerError => 500,
            GatewayError::BadGateway => 502,
            GatewayError::EndpointTimeout => 504,
        }
    }

    /// The whole body, prebuilt: no formatting per error.
    pub fn body(self) -> &'static str {
        match self {
            GatewayError::NotFound => r#"{"message":"Not Found"}"#,
            GatewayError::BadRequest => r#"{"message":"Bad Request"}"#,
            GatewayError::UriTooLong => r#"{"message":"Request-URI Too Long"}"#,
            GatewayError::HeadersTooLarge => r#"{"message":"Request Header Fields Too Large"}"#,
            GatewayError::TooManyRequests => r#"{"message":"Too Many Requests"}"#,
            GatewayError::MethodNotAllowed => r#"{"message":"Method Not Allowed"}"#,
            GatewayError::RequestTooLarge => r#"{"message":"Request Too Large"}"#,
            GatewayError::UnsupportedMediaType => r#"{"message":"Unsupported Media Type"}"#,
            GatewayError::InternalServerError => r#"{"message":"Internal server error"}"#,
            GatewayError::BadGateway => r#"{"message":"Bad Gateway"}"#,
            GatewayError::EndpointTimeout => r#"{"message":"Endpoint request timed out"}"#,
        }
    }

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

/// Writes `err` as `{"message": ...}` with `content-type`, `content-length` and `x-request-id`,
/// plus `extra` headers (`Allow` on 405, `Retry-After` on 429).
pub async fn write_error(
    session: &mut Session,
    err: GatewayError,
    request_id: &str,
    extra: Option<(&'static str, String)>,
) -> Result<()> {
    write_json(session, err.status(), err.body(), request_id, extra).await
}

/// Writes a gateway-made JSON answer with exact framing.
pub async fn write_json(
    session: &mut Session,
    status: u16,
    body: &'static str,
    request_id: &str,
    extra: Option<(&'static str, String)>,
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(5))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len())?;
    resp.insert_header("x-request-id", request_id)?;
    if let Some((name, value)) = extra {
        resp.insert_header(name, value)?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
            .await?;
    }
    Ok(())
}
