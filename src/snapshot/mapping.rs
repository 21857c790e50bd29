//! Part of the second stage of the data flow (`snapshot`): parameter mappings compiled per stage:
//! the parsed `request_parameters` and response `headers` (`config::mapping`) with the stage's
//! variables substituted, so a request only reads request data. JSON paths are evaluated here, per
//! request.

use std::collections::BTreeMap;

pub use crate::config::mapping::{
    ContextField, HeaderSource, JsonPath, ParamSource, ParamTarget, Step,
};
use crate::config::mapping::{Mapped, RequestParameter, ResponseHeader};

/// A request parameter as requests use it: where it goes and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamMapping {
    pub target: ParamTarget,
    pub source: ParamSource,
}

impl JsonPath {
    /// The value at this path as a mapping sees it: strings bare, anything else as compact JSON.
    pub fn text(&self, doc: &serde_json::Value) -> Option<String> {
        let mut v = doc;
        for step in self.steps() {
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

/// A stage variable's value; an undefined one is "" and reported in `missing`.
pub fn stage_variable(
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

/// A `request_parameters` entry with a stage's variables. Undefined stage variables map to ""
/// and are reported in `missing` (a warning, as in URIs).
pub fn request_parameter(
    p: &RequestParameter,
    vars: &BTreeMap<String, String>,
    missing: &mut Vec<String>,
) -> ParamMapping {
    let source = match &p.source {
        Mapped::Source(s) => s.clone(),
        Mapped::StageVariable(n) => ParamSource::Literal(stage_variable(n, vars, missing)),
    };
    ParamMapping {
        target: p.target.clone(),
        source,
    }
}

/// An integration-response `headers` entry with a stage's variables (see `request_parameter`).
pub fn response_header(
    h: &ResponseHeader,
    vars: &BTreeMap<String, String>,
    missing: &mut Vec<String>,
) -> (http::HeaderName, HeaderSource) {
    let source = match &h.source {
        Mapped::Source(s) => s.clone(),
        Mapped::StageVariable(n) => HeaderSource::Literal(stage_variable(n, vars, missing)),
    };
    (h.name.clone(), source)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::mapping::{parse_request_parameter, parse_response_header};

    #[test]
    fn stage_variables_become_literals_per_stage() {
        let vars: BTreeMap<String, String> = [("v".to_string(), "7".to_string())].into();
        let mut missing = vec![];
        let p = parse_request_parameter("integration.request.querystring.v", "stageVariables.v")
            .unwrap();
        assert_eq!(
            request_parameter(&p, &vars, &mut missing).source,
            ParamSource::Literal("7".into())
        );
        let h = parse_response_header("x", "stageVariables.nope").unwrap();
        assert_eq!(
            response_header(&h, &vars, &mut missing).1,
            HeaderSource::Literal("".into())
        );
        assert_eq!(missing, ["nope"]);
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
    }
}
