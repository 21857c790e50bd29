//! Part of the first stage of the data flow: route syntax, `"METHOD /path/{param}/{proxy+}"`
//! parsed into a typed `RouteSpec` when a file is read. Validation reports bad syntax and
//! clashes; the snapshot compiler builds the router from the parsed routes.

use super::typed::Syntax;
use std::fmt;

/// HTTP methods a route can name; `Any` matches every method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Options,
    Any,
}

impl Method {
    pub const CONCRETE: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Head,
        Method::Options,
    ];

    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "ANY" => Method::Any,
            _ => return None,
        })
    }

    /// The method of a request; methods no route can name (e.g. `TRACE`) are `None`.
    pub fn from_http(m: &http::Method) -> Option<Method> {
        match *m {
            http::Method::GET => Some(Method::Get),
            http::Method::POST => Some(Method::Post),
            http::Method::PUT => Some(Method::Put),
            http::Method::DELETE => Some(Method::Delete),
            http::Method::PATCH => Some(Method::Patch),
            http::Method::HEAD => Some(Method::Head),
            http::Method::OPTIONS => Some(Method::Options),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Param(String),
    /// `{name+}`: one or more segments; only last.
    Greedy(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    pub method: Method,
    pub segments: Vec<Segment>,
}

impl RouteSpec {
    /// The resource path as AWS prints it (`/orders/{id}`), used in `$context.resourcePath` and metric labels.
    pub fn resource_path(&self) -> String {
        if self.segments.is_empty() {
            return "/".to_string();
        }
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Param(p) => {
                    out.push('{');
                    out.push_str(p);
                    out.push('}');
                }
                Segment::Greedy(p) => {
                    out.push('{');
                    out.push_str(p);
                    out.push_str("+}");
                }
            }
        }
        out
    }

    /// Names of the captured parameters, in path order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(p) | Segment::Greedy(p) => Some(p.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.resource_path())
    }
}

fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn valid_literal(seg: &str) -> bool {
    !seg.is_empty()
        && seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*,;=:@%".contains(c))
}

/// Parses `"GET /orders/{id}"`. The error says what is wrong in words a user can act on.
pub fn parse_route(s: &str) -> Result<RouteSpec, String> {
    let mut parts = s.split_whitespace();
    let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "invalid route {s:?}: expected \"METHOD /path\", e.g. \"GET /orders/{{id}}\""
        ));
    };
    let method = Method::parse(method).ok_or_else(|| {
        format!("invalid route {s:?}: unknown method {method:?} (use GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or ANY)")
    })?;
    if !path.starts_with('/') {
        return Err(format!("invalid route {s:?}: the path must start with '/'"));
    }
    let mut segments = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let body = path.trim_start_matches('/');
    if !body.is_empty() {
        let raw: Vec<&str> = body.split('/').collect();
        for (i, seg) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            if let Some(inner) = seg.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                if !valid_param_name(name) {
                    return Err(format!(
                        "invalid route {s:?}: bad parameter name {{{inner}}}"
                    ));
                }
                if names.contains(&name) {
                    return Err(format!(
                        "invalid route {s:?}: parameter {{{name}}} appears twice"
                    ));
                }
                names.push(name);
                if greedy {
                    if !last {
                        return Err(format!(
                            "invalid route {s:?}: greedy parameter {{{inner}}} must be the last segment"
                        ));
                    }
                    segments.push(Segment::Greedy(name.to_string()));
                } else {
                    segments.push(Segment::Param(name.to_string()));
                }
            } else if valid_literal(seg) && !seg.contains('{') && !seg.contains('}') {
                segments.push(Segment::Literal((*seg).to_string()));
            } else if seg.is_empty() {
                return Err(format!("invalid route {s:?}: empty path segment"));
            } else {
                return Err(format!("invalid route {s:?}: bad path segment {seg:?}"));
            }
        }
    }
    Ok(RouteSpec { method, segments })
}

impl Syntax for RouteSpec {
    fn parse(text: &str) -> Result<RouteSpec, String> {
        parse_route(text)
    }
}

/// Two routes of one file with the same method and path shape: reported by validation, and by
/// compiling when it builds the router anyway (in the same words, so it is said once).
pub fn duplicate(route: &str, first_line: u64) -> String {
    format!("duplicate route {route:?}: the same method and path as the route on line {first_line}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_literal_param_and_greedy() {
        let r = parse_route("GET /orders/{id}/items/{rest+}").unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.segments,
            vec![
                Segment::Literal("orders".into()),
                Segment::Param("id".into()),
                Segment::Literal("items".into()),
                Segment::Greedy("rest".into()),
            ]
        );
        assert_eq!(r.resource_path(), "/orders/{id}/items/{rest+}");
        assert_eq!(r.param_names().collect::<Vec<_>>(), ["id", "rest"]);
    }

    #[test]
    fn root_route() {
        let r = parse_route("ANY /").unwrap();
        assert!(r.segments.is_empty());
        assert_eq!(r.to_string(), "ANY /");
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "GET orders",
            "FETCH /x",
            "GET /a/{p+}/b",
            "GET /a//b",
            "GET",
            "GET /a b",
            "GET /{}",
            "GET /{a}/{a}",
            "GET /a{b}",
        ] {
            let e = parse_route(bad).unwrap_err();
            assert!(e.starts_with("invalid route"), "{bad}: {e}");
        }
    }
}
