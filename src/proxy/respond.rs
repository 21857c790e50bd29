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
    MethodNotAllowed,
    RequestTooLarge,
    UnsupportedMediaType,
    InternalServerError,
    BadGateway,
    EndpointTimeout,
}

impl GatewayError {
    pub fn status(self) -> u16 {
        match self {
            GatewayError::NotFound => 404,
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
/// plus `Allow` when given.
pub async fn write_error(
    session: &mut Session,
    err: GatewayError,
    request_id: &str,
    allow: Option<&str>,
) -> Result<()> {
    let body = err.body();
    let mut resp = ResponseHeader::build(err.status(), Some(5))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len())?;
    resp.insert_header("x-request-id", request_id)?;
    if let Some(allow) = allow {
        resp.insert_header("allow", allow)?;
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
