//! Part of the second stage of the data flow (`snapshot`): route table of one deployment: a segment
//! trie built once per snapshot and matched per request without allocating strings. Precedence
//! follows API Gateway: a literal segment beats `{param}`, which beats `{param+}`; a specific
//! method beats `ANY`; a path whose method does not match falls through to less specific paths (so
//! `OPTIONS /test` reaches `/{proxy+}` when `/test` has only POST), and only when nothing matches
//! the method is the answer 405.

use crate::config::route::{Method, RouteSpec, Segment};
use std::collections::HashMap;

/// Routes that end at one trie position, by method.
#[derive(Debug, Default, Clone)]
struct MethodTable {
    by_method: [Option<u32>; 7],
    any: Option<u32>,
}

impl MethodTable {
    fn slot(&mut self, m: Method) -> &mut Option<u32> {
        match m {
            Method::Any => &mut self.any,
            m => &mut self.by_method[m as usize],
        }
    }

    fn get(&self, m: Method) -> Option<u32> {
        match m {
            Method::Any => self.any,
            m => self.by_method[m as usize].or(self.any),
        }
    }

    fn is_empty(&self) -> bool {
        self.any.is_none() && self.by_method.iter().all(Option::is_none)
    }

    /// The `Allow` header value: every method this position answers.
    fn allow(&self) -> String {
        let methods: Vec<&str> = if self.any.is_some() {
            Method::CONCRETE.iter().map(|m| m.as_str()).collect()
        } else {
            Method::CONCRETE
                .iter()
                .filter(|m| self.by_method[**m as usize].is_some())
                .map(|m| m.as_str())
                .collect()
        };
        methods.join(", ")
    }
}

#[derive(Debug, Default, Clone)]
struct Node {
    literals: HashMap<Box<str>, Node>,
    param: Option<Box<Node>>,
    /// Routes whose last segment is `{name+}` at this position.
    greedy: MethodTable,
    /// Routes that end exactly here.
    here: MethodTable,
}

/// A byte range of the request path captured by a `{param}` or `{param+}`, in path order.
pub type Capture = (u32, u32);

#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Found { route: u32, captures: Vec<Capture> },
    MethodNotAllowed { allow: String },
    NotFound,
}

#[derive(Debug, Default, Clone)]
pub struct Router {
    root: Node,
}

impl Router {
    /// Adds a route; returns `false` (and keeps the first) if a route with the same method and
    /// path shape exists.
    pub fn insert(&mut self, spec: &RouteSpec, route: u32) -> bool {
        self.try_insert(spec, route).is_ok()
    }

    /// Adds a route, or returns the route that has the same method and path shape.
    pub fn try_insert(&mut self, spec: &RouteSpec, route: u32) -> Result<(), u32> {
        let mut node = &mut self.root;
        let mut slot = None;
        for seg in &spec.segments {
            match seg {
                Segment::Literal(l) => node = node.literals.entry(l.as_str().into()).or_default(),
                Segment::Param(_) => node = node.param.get_or_insert_with(Default::default),
                Segment::Greedy(_) => {
                    slot = Some(node.greedy.slot(spec.method));
                    break;
                }
            }
        }
        let slot = match slot {
            Some(s) => s,
            None => node.here.slot(spec.method),
        };
        match *slot {
            Some(first) => Err(first),
            None => {
                *slot = Some(route);
                Ok(())
            }
        }
    }

    /// Matches `path` (the part after the stage's base path: "" or "/...").
    /// `method` is `None` for methods no route can name, which only `ANY` routes answer.
    pub fn lookup(&self, method: Option<Method>, path: &str) -> Lookup {
        let mut segs: Vec<Capture> = Vec::with_capacity(8);
        split_segments(path, &mut segs);
        let mut captures = Vec::with_capacity(4);
        let mut first_path_match: Option<&MethodTable> = None;
        let m = method.unwrap_or(Method::Any);
        match find(
            &self.root,
            path,
            &segs,
            0,
            m,
            &mut captures,
            &mut first_path_match,
        ) {
            Some(route) => Lookup::Found { route, captures },
            None => match first_path_match {
                Some(t) => Lookup::MethodNotAllowed { allow: t.allow() },
                None => Lookup::NotFound,
            },
        }
    }
}

/// Segment byte ranges of `path`; a single trailing slash is ignored (`/orders/` = `/orders`).
fn split_segments(path: &str, out: &mut Vec<Capture>) {
    let bytes = path.as_bytes();
    let mut end = bytes.len();
    if end > 1 && bytes[end - 1] == b'/' {
        end -= 1;
    }
    let mut i = 0;
    if i < end && bytes[i] == b'/' {
        i += 1;
    }
    if i >= end {
        return;
    }
    let mut start = i;
    while i <= end {
        if i == end || bytes[i] == b'/' {
            out.push((start as u32, i as u32));
            start = i + 1;
        }
        i += 1;
    }
}

fn find<'a>(
    node: &'a Node,
    path: &str,
    segs: &[Capture],
    idx: usize,
    method: Method,
    captures: &mut Vec<Capture>,
    first_path_match: &mut Option<&'a MethodTable>,
) -> Option<u32> {
    if idx == segs.len() {
        if node.here.is_empty() {
            return None;
        }
        first_path_match.get_or_insert(&node.here);
        return node.here.get(method);
    }
    let (s, e) = segs[idx];
    let seg = &path[s as usize..e as usize];
    if let Some(child) = node.literals.get(seg) {
        if let Some(r) = find(
            child,
            path,
            segs,
            idx + 1,
            method,
            captures,
            first_path_match,
        ) {
            return Some(r);
        }
    }
    if let Some(child) = &node.param {
        if !seg.is_empty() {
            captures.push((s, e));
            if let Some(r) = find(
                child,
                path,
                segs,
                idx + 1,
                method,
                captures,
                first_path_match,
            ) {
                return Some(r);
            }
            captures.pop();
        }
    }
    if !node.greedy.is_empty() {
        first_path_match.get_or_insert(&node.greedy);
        if let Some(r) = node.greedy.get(method) {
            let last = segs[segs.len() - 1].1;
            captures.push((s, last));
            return Some(r);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::route::parse_route;

    fn router(routes: &[&str]) -> Router {
        let mut r = Router::default();
        for (i, s) in routes.iter().enumerate() {
            assert!(r.insert(&parse_route(s).unwrap(), i as u32), "{s}");
        }
        r
    }

    fn found(r: &Router, m: Method, path: &str) -> (u32, Vec<String>) {
        match r.lookup(Some(m), path) {
            Lookup::Found { route, captures } => (
                route,
                captures
                    .iter()
                    .map(|(s, e)| path[*s as usize..*e as usize].to_string())
                    .collect(),
            ),
            other => panic!("{m} {path}: {other:?}"),
        }
    }

    #[test]
    fn literal_beats_param_beats_greedy() {
        let r = router(&["GET /orders/new", "GET /orders/{id}", "GET /{proxy+}"]);
        assert_eq!(found(&r, Method::Get, "/orders/new").0, 0);
        assert_eq!(found(&r, Method::Get, "/orders/42"), (1, vec!["42".into()]));
        assert_eq!(
            found(&r, Method::Get, "/orders/42/x"),
            (2, vec!["orders/42/x".into()])
        );
        assert_eq!(
            found(&r, Method::Get, "/orders/"),
            (2, vec!["orders".into()])
        );
    }

    #[test]
    fn specific_method_beats_any_and_falls_through_on_method() {
        let r = router(&["ANY /test", "POST /test", "POST /only", "ANY /{proxy+}"]);
        assert_eq!(found(&r, Method::Post, "/test").0, 1);
        assert_eq!(found(&r, Method::Get, "/test").0, 0);
        // AWS: OPTIONS /only falls to the greedy resource rather than 405.
        assert_eq!(found(&r, Method::Options, "/only").0, 3);
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let r = router(&["GET /a/{id}", "DELETE /a/{id}"]);
        assert_eq!(
            r.lookup(Some(Method::Post), "/a/1"),
            Lookup::MethodNotAllowed {
                allow: "GET, DELETE".into()
            }
        );
        assert_eq!(r.lookup(Some(Method::Get), "/b"), Lookup::NotFound);
        assert_eq!(r.lookup(Some(Method::Get), "/a"), Lookup::NotFound);
    }

    #[test]
    fn root_and_backtracking() {
        let r = router(&["GET /", "GET /a/b/c", "GET /a/{x}/d"]);
        assert_eq!(found(&r, Method::Get, "").0, 0);
        assert_eq!(found(&r, Method::Get, "/").0, 0);
        // The literal branch /a/b fails at "d", the param branch matches.
        assert_eq!(found(&r, Method::Get, "/a/b/d"), (2, vec!["b".into()]));
    }

    #[test]
    fn greedy_needs_one_segment_and_params_need_text() {
        let r = router(&["GET /{proxy+}", "GET /x/{id}/y"]);
        assert_eq!(r.lookup(Some(Method::Get), "/"), Lookup::NotFound);
        assert_eq!(found(&r, Method::Get, "/x//y").0, 0);
    }

    #[test]
    fn unknown_methods_reach_only_any() {
        let r = router(&["GET /a", "ANY /b"]);
        assert!(matches!(
            r.lookup(None, "/b"),
            Lookup::Found { route: 1, .. }
        ));
        assert!(matches!(
            r.lookup(None, "/a"),
            Lookup::MethodNotAllowed { .. }
        ));
    }

    #[test]
    fn duplicate_insert_is_reported() {
        let mut r = Router::default();
        assert!(r.insert(&parse_route("GET /a/{x}").unwrap(), 0));
        assert!(!r.insert(&parse_route("GET /a/{y}").unwrap(), 1));
    }
}
