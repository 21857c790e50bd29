//! Part of the first stage of the data flow (`config`): the method request's settings as the
//! files say them (DESIGN.md 8): the API-level `models`, `request_validators`, `cors` and
//! `gateway_responses` of `apis/NAME.yaml` (copied into each deployment), and a route's
//! `request_validator`, `request_parameters` and `request_models`. Strings with a syntax (a
//! gateway-response header source, a method request parameter, a gateway-response template) are
//! parsed here, once; schemas are compiled by `config::models`, which `validate` runs too, so a
//! bad one is reported with its file and line.

use super::mapping::ContextField;
use super::response_type::ResponseType;
use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A value with its line (as `model::Located`, named here so this file does not use `model`).
type Located<T> = serde_saphyr::Spanned<T>;

/// A model: a JSON Schema (draft 4), by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    pub schema: serde_json::Value,
    /// Documentation only (AWS's `contentType` of a model); routes choose models by content type.
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// What a request validator checks (AWS's `validateRequestBody` / `validateRequestParameters`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorDef {
    #[serde(default)]
    pub body: bool,
    #[serde(default)]
    pub parameters: bool,
}

/// `cors:` of an API (the HTTP API's CORS configuration, DESIGN.md 8.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsDef {
    pub allow_origins: Vec<Located<String>>,
    #[serde(default)]
    pub allow_methods: Vec<Located<String>>,
    #[serde(default)]
    pub allow_headers: Vec<Located<String>>,
    #[serde(default)]
    pub expose_headers: Vec<Located<String>>,
    #[serde(default)]
    pub max_age_seconds: Option<Located<u64>>,
    #[serde(default)]
    pub allow_credentials: Option<Located<bool>>,
}

/// One `gateway_responses:` entry: what it sets; the rest keeps the type's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayResponseDef {
    #[serde(default)]
    pub status: Option<Located<u16>>,
    /// Header name -> `'literal'`, `method.request.header|querystring|path.NAME`,
    /// `context.NAME` or `stageVariables.NAME`.
    #[serde(default)]
    pub headers: BTreeMap<String, Located<String>>,
    /// Content type -> template with `$context.*`, `$stageVariables.*` and `$input.params('x')`.
    #[serde(default)]
    pub templates: IndexMap<String, Located<String>>,
}

/// Where a method request parameter is read: `method.request.{header,querystring,path}.NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodParam {
    Header(http::HeaderName),
    Query(Box<str>),
    Path(Box<str>),
}

impl MethodParam {
    pub fn parse(s: &str) -> Result<MethodParam, String> {
        let bad = || {
            format!("invalid method request parameter {s:?}: expected method.request.header|querystring|path.NAME")
        };
        let rest = s.strip_prefix("method.request.").ok_or_else(bad)?;
        match rest.split_once('.') {
            Some(("header", n)) if !n.is_empty() => http::HeaderName::from_bytes(n.as_bytes())
                .map(MethodParam::Header)
                .map_err(|_| format!("invalid header name {n:?} in {s:?}")),
            Some(("querystring", n)) if !n.is_empty() => Ok(MethodParam::Query(n.into())),
            Some(("path", n)) if !n.is_empty() => Ok(MethodParam::Path(n.into())),
            _ => Err(bad()),
        }
    }

    /// The name as AWS lists it in "Missing required request parameters: [...]".
    pub fn name(&self) -> &str {
        match self {
            MethodParam::Header(h) => h.as_str(),
            MethodParam::Query(n) | MethodParam::Path(n) => n,
        }
    }

    /// AWS lists missing parameters headers first, then path, then query string.
    pub fn rank(&self) -> u8 {
        match self {
            MethodParam::Header(_) => 0,
            MethodParam::Path(_) => 1,
            MethodParam::Query(_) => 2,
        }
    }
}

/// A gateway-response header's value, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseValue {
    Literal(Box<str>),
    Param(MethodParam),
    Context(ContextField),
    StageVariable(Box<str>),
}

impl ResponseValue {
    pub fn parse(s: &str) -> Result<ResponseValue, String> {
        if let Some(l) = super::mapping::literal(s) {
            return Ok(ResponseValue::Literal(l.into()));
        }
        if let Some(n) = s.strip_prefix("context.") {
            return ContextField::parse(n)
                .map(ResponseValue::Context)
                .ok_or_else(|| format!("unknown context variable {s:?}"));
        }
        if let Some(n) = s.strip_prefix("stageVariables.") {
            return Ok(ResponseValue::StageVariable(n.into()));
        }
        // AWS's own form (`method.input.params.NAME` in its documentation) is not supported:
        // the three explicit sources say where to look.
        MethodParam::parse(s).map(ResponseValue::Param).map_err(|_| {
            format!("invalid header value {s:?}: expected 'literal', method.request.header|querystring|path.NAME, context.NAME or stageVariables.NAME")
        })
    }
}

/// A piece of a gateway-response template (plain `$name` substitution, not VTL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(Box<str>),
    Context(ContextField),
    StageVariable(Box<str>),
    /// `$input.params('x')`: path, then query string, then header, as AWS searches.
    Param(Box<str>),
}

/// Parses a gateway-response template: `$context.NAME`, `$stageVariables.NAME`,
/// `$input.params('NAME')` (each also as `${...}`); any other `$` is text.
pub fn parse_template(t: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = t;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (braced, body) = match after.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, after),
        };
        let Some((piece, used)) = variable(body)? else {
            text.push('$');
            rest = after;
            continue;
        };
        let mut consumed = used;
        if braced {
            if !body[used..].starts_with('}') {
                return Err(format!("unclosed ${{ at {:?}", truncate(&rest[at..])));
            }
            consumed += 2;
        }
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text).into()));
        }
        out.push(piece);
        rest = &after[consumed..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text.into()));
    }
    Ok(out)
}

fn truncate(s: &str) -> &str {
    s.char_indices().nth(24).map_or(s, |(i, _)| &s[..i])
}

/// A variable at the start of `s` (after its `$`) and how many bytes it used.
fn variable(s: &str) -> Result<Option<(Piece, usize)>, String> {
    let ident = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(s.len())
    };
    if let Some(r) = s.strip_prefix("context.") {
        let mut n = ident(r);
        // A sentence's full stop after the name is not part of it.
        while n > 0 && r.as_bytes()[n - 1] == b'.' {
            n -= 1;
        }
        let name = &r[..n];
        let field = ContextField::parse(name)
            .ok_or_else(|| format!("unknown context variable \"$context.{name}\""))?;
        return Ok(Some((Piece::Context(field), "context.".len() + n)));
    }
    if let Some(r) = s.strip_prefix("stageVariables.") {
        let n = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        if n == 0 {
            return Err("$stageVariables. without a name".into());
        }
        return Ok(Some((
            Piece::StageVariable(r[..n].into()),
            "stageVariables.".len() + n,
        )));
    }
    if let Some(r) = s.strip_prefix("input.params(") {
        let quote = r.chars().next().filter(|c| *c == '\'' || *c == '"');
        let Some(q) = quote else {
            return Err("$input.params needs a quoted name: $input.params('name')".into());
        };
        let inner = &r[1..];
        let Some(end) = inner.find(q) else {
            return Err("unclosed quote in $input.params(...)".into());
        };
        if !inner[end + 1..].starts_with(')') {
            return Err("$input.params('name') takes one name".into());
        }
        let used = "input.params(".len() + 1 + end + 2;
        return Ok(Some((Piece::Param(inner[..end].into()), used)));
    }
    Ok(None)
}

/// Checks of `cors:`, as (line, message).
pub fn check_cors(c: &CorsDef) -> Vec<(Option<u64>, String)> {
    use super::typed::line_of;
    let mut out = Vec::new();
    if c.allow_origins.is_empty() {
        out.push((
            None,
            "cors: allow_origins is empty: no origin could use the API (use [\"*\"] for any)"
                .to_string(),
        ));
    }
    let credentials = c.allow_credentials.as_ref().is_some_and(|b| b.value);
    for o in &c.allow_origins {
        let v = o.value.as_str();
        if v == "*" {
            if credentials {
                out.push((line_of(o), "cors: allow_origins \"*\" cannot be used with allow_credentials: true (browsers refuse it); list the origins".to_string()));
            }
            continue;
        }
        if !origin_ok(v) {
            out.push((
                line_of(o),
                format!(
                    "cors: origin {v:?} must be scheme://host[:port], without a path, or \"*\""
                ),
            ));
        }
    }
    for m in &c.allow_methods {
        let ok = m.value == "*"
            || (!m.value.is_empty() && m.value.bytes().all(|b| b.is_ascii_alphabetic()));
        if !ok {
            out.push((
                line_of(m),
                format!("cors: {:?} is not an HTTP method", m.value),
            ));
        }
    }
    for h in c.allow_headers.iter().chain(&c.expose_headers) {
        if h.value != "*" && http::HeaderName::from_bytes(h.value.as_bytes()).is_err() {
            out.push((
                line_of(h),
                format!("cors: {:?} is not a header name", h.value),
            ));
        }
    }
    out
}

/// `scheme://host[:port]`, as browsers send `Origin`.
fn origin_ok(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    let host_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]*".contains(&b));
    scheme_ok && host_ok
}

/// Checks of `gateway_responses:`, as (line, message).
pub fn check_gateway_responses(
    responses: &BTreeMap<String, Located<GatewayResponseDef>>,
) -> Vec<(Option<u64>, String)> {
    let mut out = Vec::new();
    for (name, def) in responses {
        let line = super::typed::line_of(def);
        if ResponseType::parse(name).is_none() {
            out.push((
                line,
                format!("unknown gateway response type {name:?} (expected one of AWS's types, such as DEFAULT_4XX, UNAUTHORIZED or THROTTLED, or METHOD_NOT_ALLOWED, URI_TOO_LONG, HEADERS_TOO_LARGE, BAD_REQUEST, FAULT_INJECTED, USAGE_STORE_UNAVAILABLE)"),
            ));
            continue;
        }
        if let Some(s) = &def.value.status {
            let ok = (100..=599).contains(&s.value) && s.value != 101;
            if !ok {
                out.push((
                    super::typed::line_of(s),
                    format!(
                        "gateway response {name}: status {} is not a final HTTP status (200-599)",
                        s.value
                    ),
                ));
            }
        }
        for (h, v) in &def.value.headers {
            let vl = super::typed::line_of(v);
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                out.push((
                    vl,
                    format!("gateway response {name}: invalid header name {h:?}"),
                ));
            }
            if let Err(e) = ResponseValue::parse(&v.value) {
                out.push((vl, format!("gateway response {name} header {h}: {e}")));
            }
        }
        for (ct, t) in &def.value.templates {
            if let Err(e) = parse_template(&t.value) {
                out.push((
                    super::typed::line_of(t),
                    format!("gateway response {name} template {ct}: {e}"),
                ));
            }
        }
    }
    // In file order, not the types' alphabetical order.
    out.sort_by_key(|p| p.0);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn templates_substitute_plain_names() {
        let p = parse_template(
            r#"{"m": $context.error.messageString, "t": "${context.error.responseType}", "v": "$stageVariables.a", "q": "$input.params('id')", "cost": "$5"}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Text(r#"{"m": "#.into()),
                Piece::Context(ContextField::ErrorMessageString),
                Piece::Text(r#", "t": ""#.into()),
                Piece::Context(ContextField::ErrorResponseType),
                Piece::Text(r#"", "v": ""#.into()),
                Piece::StageVariable("a".into()),
                Piece::Text(r#"", "q": ""#.into()),
                Piece::Param("id".into()),
                Piece::Text(r#"", "cost": "$5"}"#.into()),
            ]
        );
        assert_eq!(
            parse_template("at $context.stage.").unwrap(),
            vec![
                Piece::Text("at ".into()),
                Piece::Context(ContextField::Stage),
                Piece::Text(".".into())
            ]
        );
        assert!(parse_template("$context.nope")
            .unwrap_err()
            .contains("nope"));
        assert!(parse_template("${context.stage").is_err());
        assert!(parse_template("$input.params(id)").is_err());
    }

    #[test]
    fn header_values_and_parameters() {
        assert_eq!(
            ResponseValue::parse("'*'").unwrap(),
            ResponseValue::Literal("*".into())
        );
        assert_eq!(
            ResponseValue::parse("method.request.header.Accept").unwrap(),
            ResponseValue::Param(MethodParam::Header(http::header::ACCEPT))
        );
        assert!(ResponseValue::parse("'").is_err());
        assert!(ResponseValue::parse("integration.response.header.x").is_err());
        assert_eq!(
            MethodParam::parse("method.request.querystring.qs1").unwrap(),
            MethodParam::Query("qs1".into())
        );
        assert!(MethodParam::parse("method.request.body").is_err());
    }
}
