//! Part of the proxy stage: CORS (DESIGN.md 8.4). At the route step, a preflight (`OPTIONS`
//! with `Origin` and `Access-Control-Request-Method`) to an API with `cors:` is answered here,
//! before any other check, unless the API routes `OPTIONS` for that path itself; and the
//! request's `Origin` is checked once. `stamp` then puts the CORS headers on every answer for
//! an allowed origin, the gateway's own (refusals included) and streamed ones alike. A
//! disallowed origin gets no CORS headers, never an error: the browser refuses for us.

use super::context::Labels;
use super::respond::Answer;
use crate::snapshot::cors::Cors;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::Result;

/// Whether the request is a CORS preflight.
pub fn is_preflight(req: &RequestHeader) -> bool {
    req.method == http::Method::OPTIONS
        && req.headers.contains_key(http::header::ORIGIN)
        && req
            .headers
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Whether `cors` allows the request's `Origin`.
pub fn allowed_origin(cors: &Cors, req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::ORIGIN)
        .is_some_and(|o| cors.allows(o))
}

/// The request's `Origin`, when routing found it allowed.
pub fn origin<'r>(req: &'r RequestHeader, labels: &Labels) -> Option<&'r http::HeaderValue> {
    labels
        .origin_allowed
        .then(|| req.headers.get(http::header::ORIGIN))
        .flatten()
}

/// The gateway's answer to a preflight: 204 with the configured headers for an allowed origin,
/// without them for any other (`stamp` adds `Vary`).
pub fn preflight(cors: &Cors, origin: Option<&http::HeaderValue>) -> Answer {
    let mut headers = Vec::new();
    if let Some(o) = origin {
        cors.preflight_headers(o, &mut headers);
    }
    Answer {
        status: 204,
        headers: headers
            .into_iter()
            .filter_map(|(n, v)| Some((n, v.to_str().ok()?.to_string())))
            .collect(),
        content_type: None,
        body: Bytes::new(),
    }
}

/// Removes a backend's own CORS headers from a streamed answer: with `cors:`, the API's policy
/// is the one that holds (AWS HTTP APIs ignore the integration's CORS headers too).
pub fn strip_backend(resp: &mut ResponseHeader) {
    use http::header::*;
    for h in [
        ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS,
        ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_MAX_AGE,
    ] {
        resp.remove_header(&h);
    }
}

/// The CORS headers of an answer: for an allowed origin, its `Access-Control-*`; and `Vary:
/// Origin` whenever answers depend on the origin.
pub fn stamp(
    resp: &mut ResponseHeader,
    cors: &Cors,
    origin: Option<&http::HeaderValue>,
) -> Result<()> {
    if let Some(o) = origin {
        // `insert` replaces: a preflight answer's own copies of these stay as they were.
        let mut headers = Vec::with_capacity(3);
        cors.answer_headers(o, &mut headers);
        for (n, v) in headers {
            resp.insert_header(n, v)?;
        }
    }
    if let Some((n, v)) = cors.vary() {
        let already = resp.headers.get_all(&n).iter().any(|x| {
            x.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("origin"))
            })
        });
        if !already {
            resp.append_header(n, v)?;
        }
    }
    Ok(())
}
