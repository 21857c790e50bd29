//! Parameter mappings in AWS syntax, compiled once: `request_parameters`
//! (`integration.request.{header|querystring|path}.NAME` <- `method.request.*`, `context.*`,
//! `stageVariables.*`, `'literal'`) and integration-response `headers`
//! (`integration.response.header.*`, `integration.response.body[.path]`, `stageVariables.*`,
//! `'literal'`). Stage variables are substituted here, per stage; only request data is read
//! per request.

use std::collections::BTreeMap;

/// Where a request parameter goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTarget {
    Header(http::HeaderName),
    Query(Box<str>),
    Path(Box<str>),
}

/// Where a request parameter comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSource {
    Literal(Box<str>),
    Path(Box<str>),
    Query(Box<str>),
    /// All values, comma-joined (AWS `multivaluequerystring`).
    MultiQuery(Box<str>),
    Header(http::HeaderName),
    MultiHeader(http::HeaderName),
    Body,
    BodyPath(JsonPath),
    Context(ContextField),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamMapping {
    pub target: ParamTarget,
    pub source: ParamSource,
}

/// A response header's source in an integration response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderSource {
    Literal(Box<str>),
    Header(http::HeaderName),
    MultiHeader(http::HeaderName),
    Body,
    BodyPath(JsonPath),
    Context(ContextField),
}

/// The `$context` fields a mapping may name (`context.NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextField {
    RequestId,
    ExtendedRequestId,
    Stage,
    HttpMethod,
    ResourcePath,
    Path,
    Protocol,
    RequestTime,
    RequestTimeEpoch,
    DomainName,
    DomainPrefix,
    ApiId,
    AccountId,
    DeploymentId,
    ResourceId,
    SourceIp,
    UserAgent,
    IsCanaryRequest,
}

impl ContextField {
    pub fn parse(name: &str) -> Option<ContextField> {
        use ContextField::*;
        Some(match name {
            "requestId" => RequestId,
            "extendedRequestId" => ExtendedRequestId,
            "stage" => Stage,
            "httpMethod" => HttpMethod,
            "resourcePath" => ResourcePath,
            "path" => Path,
            "protocol" => Protocol,
            "requestTime" => RequestTime,
            "requestTimeEpoch" => RequestTimeEpoch,
            "domainName" => DomainName,
            "domainPrefix" => DomainPrefix,
            "apiId" => ApiId,
            "accountId" => AccountId,
            "deploymentId" => DeploymentId,
            "resourceId" => ResourceId,
            "identity.sourceIp" => SourceIp,
            "identity.userAgent" => UserAgent,
            "isCanaryRequest" => IsCanaryRequest,
            _ => return None,
        })
    }
}

/// A JSONPath as mappings write it after `body.`: `a.b[0].c` (the `$` is implicit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Box<[Step]>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(Box<str>),
    Index(usize),
}

impl JsonPath {
    pub fn parse(s: &str) -> Result<JsonPath, String> {
        let mut steps = Vec::new();
        let s = s
            .strip_prefix("$.")
            .or_else(|| s.strip_prefix('$'))
            .unwrap_or(s);
        for part in s.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                steps.push(Step::Key(key.into()));
            } else if rest.is_empty() {
                return Err(format!("bad JSON path {s:?}: empty segment"));
            }
            while let Some(r) = rest.strip_prefix('[') {
                let (idx, after) = r
                    .split_once(']')
                    .ok_or_else(|| format!("bad JSON path {s:?}: unclosed ["))?;
                let idx = idx.trim_matches(|c| c == '\'' || c == '"');
                match idx.parse::<usize>() {
                    Ok(n) => steps.push(Step::Index(n)),
                    Err(_) if !idx.is_empty() => steps.push(Step::Key(idx.into())),
                    Err(_) => return Err(format!("bad JSON path {s:?}: empty []")),
                }
                rest = after;
            }
            if !rest.is_empty() {
                return Err(format!("bad JSON path {s:?}"));
            }
        }
        Ok(JsonPath(steps.into()))
    }

    /// The value at this path as a mapping sees it: strings bare, anything else as compact JSON.
    pub fn text(&self, doc: &serde_json::Value) -> Option<String> {
        let mut v = doc;
        for step in self.0.iter() {
            v = match step {
                Step::Key(k) => v.get(&**k)?,
                Step::Index(i) => v.get(*i)?,
            };
        }
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// `'literal'` -> the literal.
fn literal(s: &str) -> Option<&str> {
    s.strip_prefix('\'').and_then(|r| r.strip_suffix('\''))
}

fn header_name(name: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))
}

fn stage_variable(
    name: &str,
    vars: &BTreeMap<String, String>,
    missing: &mut Vec<String>,
) -> Box<str> {
    match vars.get(name) {
        Some(v) => v.as_str().into(),
        None => {
            missing.push(name.to_string());
            "".into()
        }
    }
}

/// Parses one `request_parameters` entry. Undefined stage variables map to "" and are reported
/// in `missing` (a warning, as in URIs).
pub fn parse_request_parameter(
    target: &str,
    source: &str,
    vars: &BTreeMap<String, String>,
    missing: &mut Vec<String>,
) -> Result<ParamMapping, String> {
    let target = match target.strip_prefix("integration.request.") {
        Some(t) => match t.split_once('.') {
            Some(("header", n)) => ParamTarget::Header(header_name(n)?),
            Some(("querystring", n)) if !n.is_empty() => ParamTarget::Query(n.into()),
            Some(("path", n)) if !n.is_empty() => ParamTarget::Path(n.into()),
            _ => return Err(format!("invalid request parameter {target:?}: expected integration.request.header|querystring|path.NAME")),
        },
        None => return Err(format!("invalid request parameter {target:?}: expected integration.request.header|querystring|path.NAME")),
    };
    let bad = || {
        format!("invalid source {source:?} for {target:?}: expected method.request.path|querystring|multivaluequerystring|header|multivalueheader.NAME, method.request.body[.PATH], context.NAME, stageVariables.NAME or 'literal'")
    };
    let source = if let Some(l) = literal(source) {
        ParamSource::Literal(l.into())
    } else if let Some(m) = source.strip_prefix("method.request.") {
        match m.split_once('.') {
            Some(("path", n)) if !n.is_empty() => ParamSource::Path(n.into()),
            Some(("querystring", n)) if !n.is_empty() => ParamSource::Query(n.into()),
            Some(("multivaluequerystring", n)) if !n.is_empty() => {
                ParamSource::MultiQuery(n.into())
            }
            Some(("header", n)) => ParamSource::Header(header_name(n)?),
            Some(("multivalueheader", n)) => ParamSource::MultiHeader(header_name(n)?),
            Some(("body", p)) => ParamSource::BodyPath(JsonPath::parse(p)?),
            None if m == "body" => ParamSource::Body,
            _ => return Err(bad()),
        }
    } else if let Some(n) = source.strip_prefix("context.") {
        ParamSource::Context(
            ContextField::parse(n).ok_or_else(|| format!("unknown context variable {source:?}"))?,
        )
    } else if let Some(n) = source.strip_prefix("stageVariables.") {
        ParamSource::Literal(stage_variable(n, vars, missing))
    } else {
        return Err(bad());
    };
    Ok(ParamMapping { target, source })
}

/// Parses one integration-response `headers` entry's source.
pub fn parse_header_source(
    source: &str,
    vars: &BTreeMap<String, String>,
    missing: &mut Vec<String>,
) -> Result<HeaderSource, String> {
    if let Some(l) = literal(source) {
        return Ok(HeaderSource::Literal(l.into()));
    }
    if let Some(n) = source.strip_prefix("stageVariables.") {
        return Ok(HeaderSource::Literal(stage_variable(n, vars, missing)));
    }
    if let Some(n) = source.strip_prefix("context.") {
        return ContextField::parse(n)
            .map(HeaderSource::Context)
            .ok_or_else(|| format!("unknown context variable {source:?}"));
    }
    if let Some(r) = source.strip_prefix("integration.response.") {
        return match r.split_once('.') {
            Some(("header", n)) => Ok(HeaderSource::Header(header_name(n)?)),
            Some(("multivalueheader", n)) => Ok(HeaderSource::MultiHeader(header_name(n)?)),
            Some(("body", p)) => Ok(HeaderSource::BodyPath(JsonPath::parse(p)?)),
            None if r == "body" => Ok(HeaderSource::Body),
            _ => Err(format!("invalid header source {source:?}")),
        };
    }
    Err(format!("invalid header source {source:?}: expected 'literal', integration.response.header.NAME, integration.response.body[.PATH], context.NAME or stageVariables.NAME"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_parameters_in_aws_syntax() {
        let vars: BTreeMap<String, String> = [("v".to_string(), "7".to_string())].into();
        let mut missing = vec![];
        let p = |t: &str, s: &str, m: &mut Vec<String>| parse_request_parameter(t, s, &vars, m);
        assert_eq!(
            p(
                "integration.request.header.x-user",
                "method.request.header.x-user",
                &mut missing
            )
            .unwrap()
            .source,
            ParamSource::Header(http::HeaderName::from_static("x-user"))
        );
        assert_eq!(
            p(
                "integration.request.querystring.v",
                "stageVariables.v",
                &mut missing
            )
            .unwrap()
            .source,
            ParamSource::Literal("7".into())
        );
        assert_eq!(
            p("integration.request.path.id", "context.stage", &mut missing).unwrap(),
            ParamMapping {
                target: ParamTarget::Path("id".into()),
                source: ParamSource::Context(ContextField::Stage)
            }
        );
        assert_eq!(
            p("integration.request.header.x", "'fixed'", &mut missing)
                .unwrap()
                .source,
            ParamSource::Literal("fixed".into())
        );
        assert!(missing.is_empty());
        p(
            "integration.request.header.x",
            "stageVariables.nope",
            &mut missing,
        )
        .unwrap();
        assert_eq!(missing, ["nope"]);
        for (t, s) in [
            ("integration.request.cookie.x", "'a'"),
            ("method.request.header.x", "'a'"),
            ("integration.request.header.x", "method.request.cookie.y"),
            ("integration.request.header.x", "context.nope"),
            ("integration.request.header.x", "fixed"),
        ] {
            assert!(p(t, s, &mut missing).is_err(), "{t} <- {s}");
        }
    }

    #[test]
    fn json_paths() {
        let doc: serde_json::Value = serde_json::json!({"a": {"b": [1, {"c": "x"}]}, "n": null});
        assert_eq!(
            JsonPath::parse("a.b[1].c").unwrap().text(&doc).as_deref(),
            Some("x")
        );
        assert_eq!(
            JsonPath::parse("$.a.b[0]").unwrap().text(&doc).as_deref(),
            Some("1")
        );
        assert_eq!(
            JsonPath::parse("a['b']").unwrap().text(&doc).as_deref(),
            Some("[1,{\"c\":\"x\"}]")
        );
        assert_eq!(JsonPath::parse("n").unwrap().text(&doc), None);
        assert_eq!(JsonPath::parse("zz").unwrap().text(&doc), None);
        assert!(JsonPath::parse("a..b").is_err());
    }
}
