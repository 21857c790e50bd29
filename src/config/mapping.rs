//! Part of the first stage of the data flow: the syntax of parameter mappings in AWS form,
//! parsed once when a file is read: `request_parameters` (`integration.request.{header|
//! querystring|path}.NAME` <- `method.request.*`, `context.*`, `stageVariables.*`, `'literal'`)
//! and integration-response `headers` (`integration.response.header.*`,
//! `integration.response.body[.path]`, `context.*`, `stageVariables.*`, `'literal'`). A stage
//! variable stays a name here; `snapshot::mapping` substitutes it per stage.

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The gateway response's message (`Not Found`); empty when the gateway did not refuse.
    ErrorMessage,
    /// The same, quoted as a JSON string (`"Not Found"`), for templates that build JSON.
    ErrorMessageString,
    /// The gateway response type (`RESOURCE_NOT_FOUND`).
    ErrorResponseType,
    /// What request validation found wrong; empty until validation exists.
    ErrorValidationErrorString,
    /// `authorizer.principalId`, `authorizer.KEY` (a key of the authorizer's context) or
    /// `authorizer.claims.NAME` (a JWT's claim): empty when the route has no authorizer.
    Authorizer(std::sync::Arc<str>),
    /// `identity.apiKey`: the API key the request was admitted with (empty without one).
    ApiKey,
    /// `identity.apiKeyId`: that key's name.
    ApiKeyId,
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
            "identity.apiKey" => ApiKey,
            "identity.apiKeyId" => ApiKeyId,
            "isCanaryRequest" => IsCanaryRequest,
            "error.message" => ErrorMessage,
            "error.messageString" => ErrorMessageString,
            "error.responseType" => ErrorResponseType,
            "error.validationErrorString" => ErrorValidationErrorString,
            _ => match name.strip_prefix("authorizer.") {
                Some(key) if !key.is_empty() && !key.ends_with('.') => Authorizer(key.into()),
                _ => return None,
            },
        })
    }
}

/// A JSONPath as mappings write it after `body.`: `a.b[0].c` (the `$` is implicit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Box<[Step]>);

/// One step of a JSON path: a key or an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
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

    pub fn steps(&self) -> &[Step] {
        &self.0
    }
}

/// `'literal'` -> the literal.
pub(super) fn literal(s: &str) -> Option<&str> {
    s.strip_prefix('\'').and_then(|r| r.strip_suffix('\''))
}

fn header_name(name: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))
}

/// A mapping's source as written: a source read per request, or a stage variable, which becomes
/// a literal once a stage's variables are known (per stage, when the snapshot is compiled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped<S> {
    Source(S),
    StageVariable(Box<str>),
}

/// One `request_parameters` entry: `integration.request.*` <- its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParameter {
    pub target: ParamTarget,
    pub source: Mapped<ParamSource>,
}

/// One `headers` entry of an integration response: a header name <- its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    pub name: http::HeaderName,
    pub source: Mapped<HeaderSource>,
}

/// Parses one `request_parameters` entry (`target: source`).
pub fn parse_request_parameter(target: &str, source: &str) -> Result<RequestParameter, String> {
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
        Mapped::Source(ParamSource::Literal(l.into()))
    } else if let Some(m) = source.strip_prefix("method.request.") {
        Mapped::Source(match m.split_once('.') {
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
        })
    } else if let Some(n) = source.strip_prefix("context.") {
        Mapped::Source(ParamSource::Context(
            ContextField::parse(n).ok_or_else(|| format!("unknown context variable {source:?}"))?,
        ))
    } else if let Some(n) = source.strip_prefix("stageVariables.") {
        Mapped::StageVariable(n.into())
    } else {
        return Err(bad());
    };
    Ok(RequestParameter { target, source })
}

/// Parses one integration-response `headers` entry (`name: source`).
pub fn parse_response_header(name: &str, source: &str) -> Result<ResponseHeader, String> {
    Ok(ResponseHeader {
        name: header_name(name)?,
        source: parse_header_source(source)?,
    })
}

fn parse_header_source(source: &str) -> Result<Mapped<HeaderSource>, String> {
    if let Some(l) = literal(source) {
        return Ok(Mapped::Source(HeaderSource::Literal(l.into())));
    }
    if let Some(n) = source.strip_prefix("stageVariables.") {
        return Ok(Mapped::StageVariable(n.into()));
    }
    if let Some(n) = source.strip_prefix("context.") {
        return ContextField::parse(n)
            .map(|f| Mapped::Source(HeaderSource::Context(f)))
            .ok_or_else(|| format!("unknown context variable {source:?}"));
    }
    if let Some(r) = source.strip_prefix("integration.response.") {
        return match r.split_once('.') {
            Some(("header", n)) => Ok(HeaderSource::Header(header_name(n)?)),
            Some(("multivalueheader", n)) => Ok(HeaderSource::MultiHeader(header_name(n)?)),
            Some(("body", p)) => Ok(HeaderSource::BodyPath(JsonPath::parse(p)?)),
            None if r == "body" => Ok(HeaderSource::Body),
            _ => Err(format!("invalid header source {source:?}")),
        }
        .map(Mapped::Source);
    }
    Err(format!("invalid header source {source:?}: expected 'literal', integration.response.header.NAME, integration.response.body[.PATH], context.NAME or stageVariables.NAME"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_parameters_in_aws_syntax() {
        let p = parse_request_parameter;
        assert_eq!(
            p(
                "integration.request.header.x-user",
                "method.request.header.x-user"
            )
            .unwrap()
            .source,
            Mapped::Source(ParamSource::Header(http::HeaderName::from_static("x-user")))
        );
        assert_eq!(
            p("integration.request.querystring.v", "stageVariables.v")
                .unwrap()
                .source,
            Mapped::StageVariable("v".into())
        );
        assert_eq!(
            p("integration.request.path.id", "context.stage").unwrap(),
            RequestParameter {
                target: ParamTarget::Path("id".into()),
                source: Mapped::Source(ParamSource::Context(ContextField::Stage))
            }
        );
        assert_eq!(
            p("integration.request.header.x", "'fixed'").unwrap().source,
            Mapped::Source(ParamSource::Literal("fixed".into()))
        );
        for (t, s) in [
            ("integration.request.cookie.x", "'a'"),
            ("method.request.header.x", "'a'"),
            ("integration.request.header.x", "method.request.cookie.y"),
            ("integration.request.header.x", "context.nope"),
            ("integration.request.header.x", "fixed"),
        ] {
            assert!(p(t, s).is_err(), "{t} <- {s}");
        }
    }

    #[test]
    fn response_headers() {
        let h = parse_response_header("x-v", "integration.response.body.a[0]").unwrap();
        assert_eq!(h.name, http::HeaderName::from_static("x-v"));
        assert!(matches!(
            h.source,
            Mapped::Source(HeaderSource::BodyPath(_))
        ));
        assert_eq!(
            parse_response_header("x-v", "stageVariables.v")
                .unwrap()
                .source,
            Mapped::StageVariable("v".into())
        );
        assert!(parse_response_header("bad name", "'x'")
            .unwrap_err()
            .starts_with("invalid header name"));
        assert!(parse_response_header("x", "integration.response.nope").is_err());
    }

    #[test]
    fn json_path_syntax() {
        assert_eq!(
            JsonPath::parse("$.a.b[1]['c']").unwrap().steps(),
            [
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(1),
                Step::Key("c".into())
            ]
        );
        assert!(JsonPath::parse("a..b").is_err());
        assert!(JsonPath::parse("a[").is_err());
    }
}
