//! Part of the proxy stage, the integration response: the backend's (or mock's, or function's)
//! answer turned into the client's by the route's integration responses: one is chosen by
//! `selection_pattern`, its response template rendered, its header mappings applied, and the
//! template's `responseOverride` taken last.

use super::mapping::{LazyJson, View};
use super::Failure;
use crate::proxy::respond::Answer;
use crate::snapshot::mapping::HeaderSource;
use crate::snapshot::templated::{IntegrationResponse, Responses};
use crate::template::{Overrides, RequestOverrides};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use std::borrow::Cow;

/// The integration's answer before the integration response is applied.
pub struct Integrated<'b> {
    pub status: u16,
    pub headers: Option<&'b ResponseHeader>,
    pub body: Bytes,
    /// Overrides set by the request template, readable in (and overridable by) the response template.
    pub request_override: RequestOverrides,
    pub response_override: Overrides,
}

fn lossy(v: &http::HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

/// Chooses the integration response by `selector` (the status code, or a function's
/// `errorMessage`; `None`: the default response) and renders it into the client's answer.
pub fn respond(
    view: &mut View<'_>,
    responses: &Responses,
    got: Integrated<'_>,
    selector: Option<&str>,
    limits: &crate::template::Limits,
) -> Result<Answer, Failure> {
    let chosen = match selector {
        Some(s) => responses.select(s),
        None => responses.fallback(),
    };
    let Some(ir): Option<&IntegrationResponse> = chosen else {
        return Err(Failure::internal(format!(
            "route {:?}: no integration response matches {:?} and there is no default",
            view.route.template,
            selector.unwrap_or("a success")
        )));
    };
    view.context.request_override = got.request_override;
    view.context.response_override = got.response_override.clone();
    let accept = view
        .facts
        .req
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body, overrides) = match ir.templates.for_response(accept) {
        Some((media, t)) => {
            let r = view.render(t, &got.body, limits)?;
            (
                Some(Cow::Owned(media.to_string())),
                Bytes::from(r.output),
                r.response_override,
            )
        }
        None => (
            Some(
                got.headers
                    .and_then(|h| h.headers.get(http::header::CONTENT_TYPE))
                    .and_then(|v| v.to_str().ok())
                    .map_or(Cow::Borrowed("application/json"), |ct| {
                        Cow::Owned(ct.to_string())
                    }),
            ),
            got.body.clone(),
            got.response_override,
        ),
    };
    let mut headers = Vec::with_capacity(ir.headers.len() + overrides.headers.len());
    let mut json = LazyJson::new(&got.body);
    for (name, source) in ir.headers.iter() {
        let value = match source {
            HeaderSource::Literal(l) => Some(l.to_string()),
            HeaderSource::Header(h) => got.headers.and_then(|r| r.headers.get(h)).map(lossy),
            HeaderSource::MultiHeader(h) => got
                .headers
                .map(|r| {
                    r.headers
                        .get_all(h)
                        .iter()
                        .map(lossy)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|v| !v.is_empty()),
            HeaderSource::Body => Some(String::from_utf8_lossy(&got.body).into_owned()),
            HeaderSource::BodyPath(p) => json.get().and_then(|d| p.text(d)),
            HeaderSource::Context(f) => Some(view.facts.value(f)),
        };
        if let Some(v) = value.filter(|v| http::HeaderValue::from_str(v).is_ok()) {
            headers.push((name.clone(), v));
        }
    }
    for (k, v) in &overrides.headers {
        if let (Ok(h), true) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v).is_ok(),
        ) {
            headers.retain(|(n, _)| *n != h);
            headers.push((h, v.clone()));
        }
    }
    Ok(Answer {
        status: overrides.status.unwrap_or(ir.status),
        headers,
        content_type,
        body,
    })
}
