//! Part of the proxy stage, step 1 of the pipeline: admit. Every check that needs no
//! configuration beyond the gateway's limits runs here, before a stage or route is looked at:
//! ambiguous framing and bare-LF line ends in the head (400), URL length (414), header count and
//! size (431), `Host` (400 when an HTTP/1.1 request has none, or any request has two), a
//! backslash or a non-ASCII byte in the request target (400), one `Content-Length` (equal repeats
//! collapse to one value, differing ones are 400), the body limit by `Content-Length` (413), and
//! path safety (400, or the path rewritten to its normal form).

pub mod path;

use super::respond::GatewayError;
use crate::snapshot::Limits;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::borrow::Cow;

/// Why a request is not admitted, and whether the connection may carry another request.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub error: GatewayError,
    /// The framing may be ambiguous: never read another request from this connection.
    pub close: bool,
}

/// Admits the request or says why not; may rewrite its path to the normal form.
pub fn admit(session: &mut Session, limits: &Limits) -> Result<(), Refused> {
    // The head as the client sent it (HTTP/1 only; HTTP/2 has no lines), read once for both
    // checks that need what pingora's parsed header no longer shows.
    let raw = session
        .as_downstream()
        .as_http1()
        .map(|h1| h1.get_headers_raw_bytes());
    let head = raw.as_deref().unwrap_or_default();
    let framing = if sent_both_lengths(session.req_header(), head) || bare_lf_in(head) {
        Some(GatewayError::BadRequest)
    } else {
        over_limits(session.req_header(), limits)
    };
    if let Some(error) = framing {
        return Err(Refused { error, close: true });
    }
    let req = session.req_header_mut();
    if !host_ok(req) || !target_ok(req.raw_path()) {
        return Err(Refused {
            error: GatewayError::BadRequest,
            close: false,
        });
    }
    one_content_length(req).map_err(|error| Refused { error, close: true })?;
    normalize_path(req).map_err(|error| Refused {
        error,
        close: false,
    })?;
    match content_length(session.req_header()) {
        Some(len) if len > limits.max_body_bytes => Err(Refused {
            error: GatewayError::RequestTooLarge,
            close: true,
        }),
        _ => Ok(()),
    }
}

/// RFC 9112 2.2 lets a server read a bare LF as the end of a header line; a gateway must not,
/// because the next hop (or a cache, or a WAF in front) may read the same bytes differently,
/// which is how heads are smuggled. nginx accepts them; stagecraft refuses them (400,
/// close).
fn bare_lf_in(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// RFC 9112 3.2 and RFC 3986: a request target is visible ASCII. A backslash (which some backends
/// read as `/`, leading a path out of a route's prefix) and raw non-ASCII bytes (which a filter in
/// front and the backend may decode differently) are refused with 400 rather than repaired.
fn target_ok(target: &[u8]) -> bool {
    target
        .iter()
        .all(|&b| (0x21..=0x7e).contains(&b) && b != b'\\')
}

/// RFC 9112 3.2: a server answers 400 to an HTTP/1.1 request without `Host`, and to any request
/// with more than one. (HTTP/2 carries `:authority` instead; HTTP/1.0 may omit it.)
fn host_ok(req: &RequestHeader) -> bool {
    let hosts = req.headers.get_all(http::header::HOST).iter().count();
    hosts == 1 || (hosts == 0 && req.version != http::Version::HTTP_11)
}

/// RFC 9110 8.6: `Content-Length: 5, 5`, or the field twice with equal values, is one length;
/// the request goes on with a single `Content-Length: 5` (a strict origin would refuse the list
/// the gateway accepted). Values that differ or are not numbers leave the framing ambiguous: 400.
fn one_content_length(req: &mut RequestHeader) -> Result<(), GatewayError> {
    let mut length: Option<u64> = None;
    let mut seen = 0;
    for field in req.headers.get_all(http::header::CONTENT_LENGTH) {
        let text = field.to_str().map_err(|_| GatewayError::BadRequest)?;
        for part in text.split(',') {
            let part = part.trim_matches([' ', '\t']);
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(GatewayError::BadRequest);
            }
            let n: u64 = part.parse().map_err(|_| GatewayError::BadRequest)?;
            if length.is_some_and(|l| l != n) {
                return Err(GatewayError::BadRequest);
            }
            length = Some(n);
            seen += 1;
        }
    }
    match length {
        Some(n) if seen > 1 => req
            .insert_header(http::header::CONTENT_LENGTH, n)
            .map_err(|_| GatewayError::BadRequest),
        _ => Ok(()),
    }
}

fn content_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Whether the request came with both `Content-Length` and `Transfer-Encoding`. pingora applies
/// RFC 9112 6.3 before any filter runs (the chunked framing wins, `Content-Length` is removed and
/// keep-alive turned off), so the raw head is where the length is still seen. Such a request is
/// a smuggling attempt or a broken client: it is refused rather than forwarded, whatever its
/// `Connection` says (RFC 9112 6.1 allows either).
fn sent_both_lengths(req: &RequestHeader, head: &[u8]) -> bool {
    req.headers.contains_key(http::header::TRANSFER_ENCODING)
        && head.split(|&b| b == b'\n').skip(1).any(|line| {
            line.get(..15)
                .is_some_and(|name| name.eq_ignore_ascii_case(b"content-length:"))
        })
}

/// 414 for a long URL, 431 for too many or too large headers (AWS's limits by default), 400 for
/// ambiguous framing: `Content-Length` together with `Transfer-Encoding` (RFC 9112 lets a server
/// prefer the latter; a gateway that forwards such a request invites smuggling), or a
/// `Transfer-Encoding` other than plain `chunked`.
pub fn over_limits(req: &RequestHeader, limits: &Limits) -> Option<GatewayError> {
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

/// Rewrites the request's path to its normal form (see `path`); 400 when it has none.
fn normalize_path(req: &mut RequestHeader) -> Result<(), GatewayError> {
    let clean = match path::normalize(req.uri.path()) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(clean)) => clean,
        Err(_) => return Err(GatewayError::BadRequest),
    };
    let pq = match req.uri.query() {
        Some(q) => format!("{clean}?{q}"),
        None => clean,
    };
    let uri = http::Uri::try_from(pq).map_err(|_| GatewayError::BadRequest)?;
    req.set_uri(uri);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_body_bytes: 100,
            integration_timeout: std::time::Duration::from_secs(1),
            max_url_bytes: 32,
            max_header_bytes: 64,
            max_headers: 4,
            idle_timeout_seconds: 60,
            authorizer_cache_entries: 10,
        }
    }

    fn req(path: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", path.as_bytes(), None).expect("request");
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn limits_answer_414_431_and_400() {
        let l = limits();
        assert_eq!(over_limits(&req("/ok", &[]), &l), None);
        assert_eq!(
            over_limits(&req(&format!("/{}", "a".repeat(40)), &[]), &l),
            Some(GatewayError::UriTooLong)
        );
        let many = [("a", "1"), ("b", "1"), ("c", "1"), ("d", "1"), ("e", "1")];
        assert_eq!(
            over_limits(&req("/", &many), &l),
            Some(GatewayError::HeadersTooLarge)
        );
        let big = "v".repeat(70);
        assert_eq!(
            over_limits(&req("/", &[("x", &big)]), &l),
            Some(GatewayError::HeadersTooLarge)
        );
        for te in [
            &[("transfer-encoding", "gzip, chunked")][..],
            &[("transfer-encoding", "chunked"), ("content-length", "3")],
            &[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
        ] {
            assert_eq!(
                over_limits(&req("/", te), &l),
                Some(GatewayError::BadRequest),
                "{te:?}"
            );
        }
        assert_eq!(
            over_limits(&req("/", &[("transfer-encoding", "Chunked")]), &l),
            None
        );
    }

    #[test]
    fn host_and_content_length_rules() {
        assert!(host_ok(&req("/", &[("host", "a")])));
        assert!(!host_ok(&req("/", &[])));
        assert!(!host_ok(&req("/", &[("host", "a"), ("host", "b")])));
        let mut old = req("/", &[]);
        old.set_version(http::Version::HTTP_10);
        assert!(host_ok(&old));
        for equal in [
            &[("content-length", "5, 5")][..],
            &[("content-length", "5"), ("content-length", "5")],
        ] {
            let mut r = req("/", equal);
            assert_eq!(one_content_length(&mut r), Ok(()), "{equal:?}");
            let all: Vec<_> = r.headers.get_all("content-length").iter().collect();
            assert_eq!(all, ["5"], "{equal:?}");
        }
        for bad in [
            &[("content-length", "5, 6")][..],
            &[("content-length", "5"), ("content-length", "6")],
            &[("content-length", "+5")],
            &[("content-length", "5,")],
            &[("content-length", "0x5")],
        ] {
            assert_eq!(
                one_content_length(&mut req("/", bad)),
                Err(GatewayError::BadRequest),
                "{bad:?}"
            );
        }
        let mut single = req("/", &[("content-length", "7")]);
        assert_eq!(one_content_length(&mut single), Ok(()));
    }

    #[test]
    fn paths_are_normalised_or_refused() {
        let mut r = req("/a/./b/../c?x=1", &[]);
        assert_eq!(normalize_path(&mut r), Ok(()));
        assert_eq!(r.uri.to_string(), "/a/c?x=1");
        let mut bad = req("/a%zz", &[]);
        assert_eq!(normalize_path(&mut bad), Err(GatewayError::BadRequest));
        assert_eq!(
            content_length(&req("/", &[("content-length", "42")])),
            Some(42)
        );
    }
}
