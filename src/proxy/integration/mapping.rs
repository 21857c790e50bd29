//! Part of the proxy stage, the integration request: what a parameter mapping or a template
//! reads about the request, and the path and query sent upstream. Every integration computes
//! its upstream path with `upstream_path`, mapped or not, so a greedy parameter keeps its
//! slashes whether it is substituted directly or through `request_parameters`. Everything
//! compiled (templates, mappings) comes from the snapshot; only request data is read here.

use super::Failure;
use crate::proxy::facts::{header_text, query_param, query_values, Facts};
use crate::proxy::respond::{GatewayError, Refusal};
use crate::proxy::route::Call;
use crate::snapshot::mapping::{ParamMapping, ParamSource, ParamTarget};
use crate::snapshot::router::Capture;
use crate::snapshot::{PathPart, Route};
use crate::template::{ContextData, Params, RenderInput, Rendered, RequestOverrides, Template};
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;

/// A captured path parameter's value as the client sent it (percent-encoding kept).
fn raw_capture<'r>(rest: &'r str, captures: &[Capture], i: usize) -> &'r str {
    captures
        .get(i)
        .and_then(|(s, e)| rest.get(*s as usize..*e as usize))
        .unwrap_or("")
}

/// The path parameters of a call, decoded, in path order.
pub fn path_params(req: &RequestHeader, call: &Call, route: &Route) -> Vec<(String, String)> {
    let rest = call.rest(req);
    route
        .param_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let raw = raw_capture(rest, &call.captures, i);
            (name.to_string(), percent_decode(raw))
        })
        .collect()
}

/// What a template reads: `$input.params()` and `$context`, gathered once per request.
pub struct View<'a> {
    pub facts: Facts<'a>,
    pub call: &'a Call,
    pub route: &'a Route,
    pub params: Params,
    pub context: ContextData,
}

impl<'a> View<'a> {
    pub fn new(facts: Facts<'a>, call: &'a Call, route: &'a Route) -> Self {
        let req = facts.req;
        let params = Params {
            path: path_params(req, call, route),
            querystring: form_urlencoded::parse(req.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            header: req
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        };
        View {
            facts,
            call,
            route,
            params,
            context: facts.context_data(),
        }
    }

    pub fn render(
        &self,
        t: &Template,
        body: &[u8],
        limits: &crate::template::Limits,
    ) -> Result<Rendered, Failure> {
        let input = RenderInput {
            body,
            params: &self.params,
            stage_variables: &self.call.deployed.variables,
            context: &self.context,
        };
        t.render(&input, limits).map_err(|e| {
            Failure::internal(format!(
                "route {:?}: template failed: {e}",
                self.route.template
            ))
        })
    }
}

/// The outcome of `request_parameters` (and a request template's `requestOverride`).
#[derive(Debug, Default)]
pub struct Mapped {
    pub headers: Vec<(HeaderName, String)>,
    pub query: Vec<(String, String)>,
    /// Path parameters replacing the captured ones in the URI's `{name}`.
    pub path: Vec<(String, String)>,
}

impl Mapped {
    /// Takes a request template's `requestOverride` over what the mapping set.
    pub fn absorb(&mut self, o: &RequestOverrides) {
        for (k, v) in &o.header {
            if let Ok(h) = HeaderName::from_bytes(k.as_bytes()) {
                self.headers.retain(|(n, _)| *n != h);
                self.headers.push((h, v.clone()));
            }
        }
        for (k, v) in &o.querystring {
            self.query.retain(|(n, _)| n != k);
            self.query.push((k.clone(), v.clone()));
        }
        for (k, v) in &o.path {
            self.path.retain(|(n, _)| n != k);
            self.path.push((k.clone(), v.clone()));
        }
    }

    /// The mapped headers as header values. A value that cannot be one (CR, LF, NUL: say a
    /// path parameter `a%0d%0aX:%20y` mapped to a header) is the client's doing: 400, never a
    /// header split and never a 500.
    pub fn header_values(&self) -> Result<Vec<(HeaderName, HeaderValue)>, Refusal> {
        self.headers
            .iter()
            .map(|(k, v)| match HeaderValue::from_str(v) {
                Ok(v) => Ok((k.clone(), v)),
                Err(_) => {
                    tracing::warn!(header = %k, "mapped header value is not a valid header value: 400");
                    Err(GatewayError::BadRequest.into())
                }
            })
            .collect()
    }
}

/// The body parsed as JSON at most once, and only if a mapping asks for it.
pub struct LazyJson<'a> {
    pub raw: &'a [u8],
    parsed: Option<Option<serde_json::Value>>,
}

impl<'a> LazyJson<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        LazyJson { raw, parsed: None }
    }

    pub fn get(&mut self) -> Option<&serde_json::Value> {
        self.parsed
            .get_or_insert_with(|| serde_json::from_slice(self.raw).ok())
            .as_ref()
    }
}

/// The value of one mapping source; `None` when the request has no such value (the target is
/// then not set, as AWS does).
fn source_value(
    source: &ParamSource,
    facts: Facts<'_>,
    call: &Call,
    route: &Route,
    body: &mut LazyJson<'_>,
) -> Option<String> {
    let req = facts.req;
    match source {
        ParamSource::Literal(l) => Some(l.to_string()),
        ParamSource::Path(n) => {
            let i = route.param_names.iter().rposition(|p| p == n)?;
            Some(percent_decode(raw_capture(
                call.rest(req),
                &call.captures,
                i,
            )))
        }
        ParamSource::Query(n) => query_param(req, n),
        ParamSource::MultiQuery(n) => {
            let all: Vec<String> = query_values(req, n).collect();
            (!all.is_empty()).then(|| all.join(","))
        }
        ParamSource::Header(h) => header_text(req, h),
        ParamSource::MultiHeader(h) => {
            let all: Vec<String> = req
                .headers
                .get_all(h)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (!all.is_empty()).then(|| all.join(","))
        }
        ParamSource::Body => Some(String::from_utf8_lossy(body.raw).into_owned()),
        ParamSource::BodyPath(p) => body.get().and_then(|doc| p.text(doc)),
        ParamSource::Context(f) => Some(facts.value(f)),
    }
}

/// Applies `request_parameters`: headers and query strings to add, path parameters to replace.
pub fn map(
    mappings: &[ParamMapping],
    facts: Facts<'_>,
    call: &Call,
    route: &Route,
    body: &[u8],
) -> Mapped {
    let mut out = Mapped::default();
    let mut json = LazyJson::new(body);
    for m in mappings {
        let Some(v) = source_value(&m.source, facts, call, route, &mut json) else {
            continue;
        };
        match &m.target {
            ParamTarget::Header(h) => out.headers.push((h.clone(), v)),
            ParamTarget::Query(q) => out.query.push((q.to_string(), v)),
            ParamTarget::Path(p) => out.path.push((p.to_string(), v)),
        }
    }
    out
}

pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a mapped value for a path position: RFC 3986 `pchar`s stay as they are,
/// and `/` too when the parameter is greedy (`{proxy+}`), whose value spans segments.
fn encode_path_value(v: &str, greedy: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in v.bytes() {
        let keep =
            b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) || (greedy && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// Whether the route's parameter `i` is its greedy one (`{name+}`, always the last).
fn is_greedy(route: &Route, i: usize) -> bool {
    route.resource_path.ends_with("+}") && i + 1 == route.param_names.len()
}

/// The length of an unmapped upstream path, exactly: the `Uri` made from a string without spare
/// capacity takes its buffer over instead of allocating a shared one (mapped paths are sized
/// roughly; they allocate for the mapping anyway).
fn path_len(
    parts: &[PathPart],
    rest: &str,
    captures: &[Capture],
    mapped: Option<&Mapped>,
    queries: &[Option<&str>],
) -> usize {
    let path: usize = parts
        .iter()
        .map(|p| match p {
            PathPart::Text(t) => t.len(),
            PathPart::Capture(i) => raw_capture(rest, captures, *i).len(),
            PathPart::Mapped(_) => 0,
        })
        .sum();
    let query: usize = queries
        .iter()
        .flatten()
        .filter(|q| !q.is_empty())
        .map(|q| q.len() + 1)
        .sum();
    path + query + mapped.map_or(0, |_| 64)
}

/// The path and query sent upstream, for every integration: the URI's path with each `{name}`
/// filled by the mapped value when `request_parameters` or `requestOverride` set one (encoded
/// for a path), else by the captured value as the client sent it; then the query strings in
/// order (empty ones skipped) and the mapped query parameters.
pub fn upstream_path(
    parts: &[PathPart],
    rest: &str,
    captures: &[Capture],
    route: &Route,
    mapped: Option<&Mapped>,
    queries: &[Option<&str>],
) -> String {
    let mut out = String::with_capacity(path_len(parts, rest, captures, mapped, queries));
    for part in parts {
        match part {
            PathPart::Text(t) => out.push_str(t),
            PathPart::Capture(i) => {
                let name = route.param_names.get(*i).map_or("", |n| &**n);
                let replaced = mapped.and_then(|m| m.path.iter().rev().find(|(k, _)| k == name));
                match replaced {
                    Some((_, v)) => encode_path_value(v, is_greedy(route, *i), &mut out),
                    None => out.push_str(raw_capture(rest, captures, *i)),
                }
            }
            PathPart::Mapped(name) => {
                let set = mapped.and_then(|m| m.path.iter().rev().find(|(k, _)| **k == **name));
                if let Some((_, v)) = set {
                    encode_path_value(v, false, &mut out);
                }
            }
        }
    }
    let mut sep = '?';
    for q in queries.iter().flatten().filter(|q| !q.is_empty()) {
        out.push(sep);
        out.push_str(q);
        sep = '&';
    }
    if let Some(m) = mapped.filter(|m| !m.query.is_empty()) {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &m.query {
            ser.append_pair(k, v);
        }
        out.push(sep);
        out.push_str(&ser.finish());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn mapped_path_values_keep_slashes_only_when_greedy() {
        let mut out = String::new();
        encode_path_value("a/b c:d", true, &mut out);
        assert_eq!(out, "a/b%20c:d");
        out.clear();
        encode_path_value("a/b\r\n", false, &mut out);
        assert_eq!(out, "a%2Fb%0D%0A");
    }
}
