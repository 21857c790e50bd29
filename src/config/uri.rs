//! Part of the first stage of the data flow: integration URIs, `http://host:port/path`,
//! `https://...` and `backend://NAME:SELECTOR/path`, with `${stageVariables.x}` placeholders
//! (substituted per stage when the snapshot is compiled) and `{param}` placeholders (filled per
//! request from the matched route). A URI is parsed once when its file is read
//! (`IntegrationUri`); one that uses stage variables is parsed again only in its substituted
//! form, once per stage.

use super::typed::Syntax;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A URI as written, split into literal text and stage-variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    StageVar(String),
}

const STAGE_VAR_OPEN: &str = "${stageVariables.";

impl UriTemplate {
    /// Only `${stageVariables.NAME}` is a placeholder; any other `${...}` stays literal, as in AWS.
    pub fn parse(s: &str) -> Result<UriTemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(at) = rest.find(STAGE_VAR_OPEN) {
            if at > 0 {
                pieces.push(Piece::Text(rest[..at].to_string()));
            }
            let after = &rest[at + STAGE_VAR_OPEN.len()..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("invalid uri {s:?}: unclosed ${{stageVariables."))?;
            let name = &after[..end];
            if !super::names::valid_variable_name(name) {
                return Err(format!(
                    "invalid uri {s:?}: bad stage variable name {name:?} in ${{stageVariables.{name}}}"
                ));
            }
            pieces.push(Piece::StageVar(name.to_string()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(UriTemplate { pieces })
    }

    pub fn uses_stage_variables(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::StageVar(_)))
    }

    /// Substitutes the stage variables; the names that are not defined are returned instead.
    pub fn substitute(&self, vars: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
        let mut out = String::new();
        let mut missing = Vec::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::StageVar(v) => match vars.get(v) {
                    Some(val) => out.push_str(val),
                    None => missing.push(v.clone()),
                },
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }
}

/// Where an integration sends requests, after stage variables are substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUri {
    pub endpoint: Endpoint,
    /// Path template, always starting with `/`.
    pub path: Vec<PathPiece>,
    /// Query string from the URI itself (without `?`), sent before the client's own.
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Http { host: String, port: u16, tls: bool },
    Backend { name: String, selector: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPiece {
    Text(String),
    /// `{name}` or `{name+}`: the captured value of route parameter `name`.
    Param(String),
}

impl TargetUri {
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.path.iter().filter_map(|p| match p {
            PathPiece::Param(n) => Some(n.as_str()),
            PathPiece::Text(_) => None,
        })
    }
}

/// An integration's `uri:` as written. Without stage variables it is the same for every stage
/// and parsed whole right away; with them, only the placeholders are, until a stage's
/// variables are known (`resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationUri {
    template: UriTemplate,
    fixed: Option<TargetUri>,
}

/// An integration URI with a stage's variables substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// The URI as it reads with the variables.
    pub uri: String,
    pub target: Cow<'a, TargetUri>,
}

/// Why an integration URI does not resolve for a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// The stage does not define these variables.
    Missing(Vec<String>),
    /// The substituted URI does not parse.
    Invalid { uri: String, error: String },
}

impl IntegrationUri {
    pub fn uses_stage_variables(&self) -> bool {
        self.fixed.is_none()
    }

    /// The target of a URI without stage variables.
    pub fn fixed(&self) -> Option<&TargetUri> {
        self.fixed.as_ref()
    }

    /// The URI with `vars` substituted, and where it points.
    pub fn resolve(&self, vars: &BTreeMap<String, String>) -> Result<Resolved<'_>, Unresolved> {
        let uri = self
            .template
            .substitute(vars)
            .map_err(Unresolved::Missing)?;
        let target = match &self.fixed {
            Some(t) => Cow::Borrowed(t),
            None => match parse_target(&uri) {
                Ok(t) => Cow::Owned(t),
                Err(error) => return Err(Unresolved::Invalid { uri, error }),
            },
        };
        Ok(Resolved { uri, target })
    }
}

impl Syntax for IntegrationUri {
    fn parse(text: &str) -> Result<IntegrationUri, String> {
        let template = UriTemplate::parse(text)?;
        let fixed = if template.uses_stage_variables() {
            None
        } else {
            Some(parse_target(text)?)
        };
        Ok(IntegrationUri { template, fixed })
    }
}

fn host_ok(h: &str) -> bool {
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
}

/// Parses a URI whose stage variables are already substituted.
pub fn parse_target(s: &str) -> Result<TargetUri, String> {
    let bad = |why: &str| format!("invalid uri {s:?}: {why}");
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| bad("expected http://, https:// or backend://"))?;
    let (authority, path_and_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        },
    };
    let endpoint = match scheme {
        "http" | "https" => {
            let tls = scheme == "https";
            let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
                let port = match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if after.is_empty() => None,
                    None => return Err(bad("unexpected text after IPv6 host")),
                };
                (h.to_string(), port)
            } else {
                match authority.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), Some(p)),
                    None => (authority.to_string(), None),
                }
            };
            if host.is_empty() || (!host.contains(':') && !host_ok(&host)) {
                return Err(bad(&format!("bad host {host:?}")));
            }
            let port = match port {
                None => {
                    if tls {
                        443
                    } else {
                        80
                    }
                }
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad(&format!("bad port {p:?}")))?,
            };
            Endpoint::Http { host, port, tls }
        }
        "backend" => {
            let (name, selector) = authority
                .split_once(':')
                .ok_or_else(|| bad("expected backend://NAME:ALIAS_OR_VERSION/path"))?;
            if name.is_empty() || selector.is_empty() {
                return Err(bad("expected backend://NAME:ALIAS_OR_VERSION/path"));
            }
            Endpoint::Backend {
                name: name.to_string(),
                selector: selector.to_string(),
            }
        }
        other => return Err(bad(&format!("unknown scheme {other:?}"))),
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, (!q.is_empty()).then(|| q.to_string())),
        None => (path_and_query, None),
    };
    if path.contains(char::is_whitespace)
        || query
            .as_deref()
            .is_some_and(|q| q.contains(char::is_whitespace))
    {
        return Err(bad("white space in path or query"));
    }
    let path = parse_path(if path.is_empty() { "/" } else { path }).map_err(|e| bad(&e))?;
    Ok(TargetUri {
        endpoint,
        path,
        query,
    })
}

fn parse_path(p: &str) -> Result<Vec<PathPiece>, String> {
    let mut out = Vec::new();
    let mut rest = p;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(PathPiece::Text(rest[..open].to_string()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| "unclosed { in path".to_string())?
            + open;
        let inner = &rest[open + 1..close];
        let name = inner.strip_suffix('+').unwrap_or(inner);
        if name.is_empty() || name.contains(['{', '/']) {
            return Err(format!("bad path parameter {{{inner}}}"));
        }
        out.push(PathPiece::Param(name.to_string()));
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("unmatched } in path".to_string());
    }
    if !rest.is_empty() {
        out.push(PathPiece::Text(rest.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_stage_variables_anywhere() {
        let t = UriTemplate::parse(
            "http://${stageVariables.host}:${stageVariables.port}/v/${stageVariables.ver}/x?env=${stageVariables.env}",
        )
        .unwrap();
        let s = t
            .substitute(&vars(&[
                ("host", "127.0.0.1"),
                ("port", "81"),
                ("ver", "2"),
                ("env", "prod"),
            ]))
            .unwrap();
        assert_eq!(s, "http://127.0.0.1:81/v/2/x?env=prod");
        let t = parse_target(&s).unwrap();
        assert_eq!(
            t.endpoint,
            Endpoint::Http {
                host: "127.0.0.1".into(),
                port: 81,
                tls: false
            }
        );
        assert_eq!(t.query.as_deref(), Some("env=prod"));
    }

    #[test]
    fn reports_missing_variables_and_keeps_other_dollar_braces() {
        let t = UriTemplate::parse("http://h/${path}/${stageVariables.a}").unwrap();
        assert_eq!(t.substitute(&vars(&[])), Err(vec!["a".to_string()]));
        assert_eq!(
            t.substitute(&vars(&[("a", "x")])).unwrap(),
            "http://h/${path}/x"
        );
    }

    #[test]
    fn parses_backend_uris_with_params() {
        let t = parse_target("backend://orders:live/orders/{id}/{proxy+}").unwrap();
        assert_eq!(
            t.endpoint,
            Endpoint::Backend {
                name: "orders".into(),
                selector: "live".into()
            }
        );
        assert_eq!(t.param_names().collect::<Vec<_>>(), ["id", "proxy"]);
        let root = parse_target("backend://orders:v1").unwrap();
        assert_eq!(root.path, vec![PathPiece::Text("/".into())]);
    }

    #[test]
    fn integration_uris_parse_once_and_resolve_per_stage() {
        let fixed = <IntegrationUri as Syntax>::parse("http://h:81/x/{id}").unwrap();
        assert!(!fixed.uses_stage_variables());
        let r = fixed.resolve(&vars(&[])).unwrap();
        assert!(matches!(r.target, Cow::Borrowed(_)));
        assert_eq!(r.uri, "http://h:81/x/{id}");
        let per_stage = <IntegrationUri as Syntax>::parse("${stageVariables.u}/x").unwrap();
        assert!(per_stage.uses_stage_variables());
        assert_eq!(
            per_stage.resolve(&vars(&[])),
            Err(Unresolved::Missing(vec!["u".into()]))
        );
        let r = per_stage
            .resolve(&vars(&[("u", "backend://b:v1")]))
            .unwrap();
        assert_eq!(r.uri, "backend://b:v1/x");
        assert!(matches!(
            per_stage.resolve(&vars(&[("u", "nope")])),
            Err(Unresolved::Invalid { .. })
        ));
        for bad in ["htp:/x", "http://h/${stageVariables.a-b}"] {
            assert!(<IntegrationUri as Syntax>::parse(bad)
                .unwrap_err()
                .starts_with("invalid uri"));
        }
    }

    #[test]
    fn rejects_unparsable() {
        for bad in [
            "htp:/x",
            "http://host:notaport/",
            "http://:80/",
            "ftp://x/",
            "backend://orders/x",
            "http://h/a{b",
            "http://h:0/",
        ] {
            assert!(
                parse_target(bad).unwrap_err().starts_with("invalid uri"),
                "{bad}"
            );
        }
    }
}
