//! Part of the proxy stage, step 8 of the pipeline: the route's request validator (DESIGN.md
//! 8.3). Required parameters are checked at the route step, from the request head; the body,
//! once read, against the model for its content type (parameters first: a request missing both
//! is told about the parameters only, as AWS does). Nothing here runs for a route without a
//! validator.

use super::facts::query_param;
use super::respond::{GatewayError, Refusal};
use crate::config::method::MethodParam;
use crate::snapshot::router::Capture;
use crate::snapshot::validation::{check_body, BodyModels, RequestValidation};
use crate::snapshot::Route;
use pingora::http::RequestHeader;

/// Present and not blank, as AWS requires.
fn filled(v: &str) -> bool {
    !v.trim().is_empty()
}

/// The required parameters; `rest` and `captures` are the routed path and its parameters.
pub fn parameters(
    v: &RequestValidation,
    req: &RequestHeader,
    route: &Route,
    rest: &str,
    captures: &[Capture],
) -> Result<(), Refusal> {
    let present = |p: &MethodParam| match p {
        MethodParam::Header(h) => req
            .headers
            .get_all(h)
            .iter()
            .any(|v| filled(&String::from_utf8_lossy(v.as_bytes()))),
        MethodParam::Query(q) => query_param(req, q).is_some_and(|v| filled(&v)),
        MethodParam::Path(n) => route
            .param_names
            .iter()
            .rposition(|p| p == n)
            .and_then(|i| captures.get(i))
            .and_then(|(s, e)| rest.get(*s as usize..*e as usize))
            .is_some_and(filled),
    };
    let missing: Vec<&str> = v.missing(present).map(MethodParam::name).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Refusal {
        message: Some(
            format!(
                "Missing required request parameters: [{}]",
                missing.join(", ")
            )
            .into(),
        ),
        ..GatewayError::BadRequestParameters.into()
    })
}

/// The body against its model.
pub fn body(models: &BodyModels, req: &RequestHeader, body: &[u8]) -> Result<(), Refusal> {
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    check_body(models, content_type, body).map_err(|detail| Refusal {
        validation: Some(detail.into()),
        ..GatewayError::BadRequestBody.into()
    })
}
