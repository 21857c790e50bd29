//! Part of the second stage of the data flow (`snapshot`): a deployment's `gateway_responses`
//! compiled with one stage's variables: for each customized type its status, headers and
//! template, parsed once. The proxy's `respond` step renders from it; a deployment that
//! customizes nothing has no table at all, and its refusals cost what they did before.
//!
//! AWS's rule (recorded against AWS, see the README): a type the API sets, even partly, is
//! answered with what it sets and the type's own defaults for the rest; every other type takes
//! DEFAULT_4XX or DEFAULT_5XX (by its status class) whole, when that is set.

use crate::config::method::{parse_template, MethodParam, Piece, ResponseValue};
use crate::config::model::Located;
use crate::config::response_type::ResponseType;
use crate::config::GatewayResponseDef;
use crate::snapshot::mapping::{stage_variable, ContextField};
use std::collections::BTreeMap;

/// A gateway-response header value, stage variables substituted.
#[derive(Debug, Clone)]
pub enum Value {
    Literal(Box<str>),
    Param(MethodParam),
    Context(ContextField),
}

/// A template piece, stage variables substituted.
#[derive(Debug, Clone)]
pub enum Part {
    Text(Box<str>),
    Context(ContextField),
    /// `$input.params('x')`.
    Param(Box<str>),
}

/// A template by content type.
pub type Templates = Box<[(Box<str>, Box<[Part]>)]>;

/// What one `gateway_responses` entry sets.
#[derive(Debug)]
pub struct Custom {
    pub status: Option<u16>,
    pub headers: Box<[(http::HeaderName, Value)]>,
    /// Content type and template, in file order; empty: the type's default body.
    pub templates: Templates,
}

/// A deployment's customized gateway responses, indexed by type.
#[derive(Debug)]
pub struct GatewayResponses {
    own: Box<[Option<Custom>]>,
}

impl GatewayResponses {
    /// The entry that answers `t` with `status` (the status class picks DEFAULT_4XX/5XX), if the
    /// API customized one.
    pub fn pick(&self, t: ResponseType, status: u16) -> Option<&Custom> {
        let own = |t: ResponseType| self.own.get(t as usize).and_then(Option::as_ref);
        own(t).or_else(|| own(ResponseType::fallback(status)))
    }

    /// The table of `defs` with the stage's `vars`; `None` when nothing is customized.
    /// Undefined stage variables become "" and are reported in `missing`.
    pub fn compile(
        defs: &BTreeMap<String, Located<GatewayResponseDef>>,
        vars: &BTreeMap<String, String>,
        missing: &mut Vec<String>,
    ) -> Option<GatewayResponses> {
        let mut own: Vec<Option<Custom>> = ResponseType::ALL.iter().map(|_| None).collect();
        let mut any = false;
        let mut var = |n: &str| stage_variable(n, vars, missing);
        for (name, def) in defs {
            // Validation reports what does not parse; compiling skips it.
            let Some(t) = ResponseType::parse(name) else {
                continue;
            };
            let def = &def.value;
            let headers = def
                .headers
                .iter()
                .filter_map(|(h, v)| {
                    let name = http::HeaderName::from_bytes(h.as_bytes()).ok()?;
                    let value = match ResponseValue::parse(&v.value).ok()? {
                        ResponseValue::Literal(l) => Value::Literal(l),
                        ResponseValue::Param(p) => Value::Param(p),
                        ResponseValue::Context(c) => Value::Context(c),
                        ResponseValue::StageVariable(n) => Value::Literal(var(&n)),
                    };
                    Some((name, value))
                })
                .collect();
            let templates = def
                .templates
                .iter()
                .filter_map(|(ct, t)| {
                    let mut parts: Vec<Part> = Vec::new();
                    for p in parse_template(&t.value).ok()? {
                        let part = match p {
                            Piece::Text(t) => Part::Text(t),
                            Piece::Context(c) => Part::Context(c),
                            Piece::Param(n) => Part::Param(n),
                            Piece::StageVariable(n) => Part::Text(var(&n)),
                        };
                        // Stage variables are text now: one piece with the text around them.
                        match (parts.last_mut(), part) {
                            (Some(Part::Text(prev)), Part::Text(t)) => {
                                *prev = format!("{prev}{t}").into();
                            }
                            (_, part) => parts.push(part),
                        }
                    }
                    Some((ct.as_str().into(), parts.into()))
                })
                .collect();
            if let Some(slot) = own.get_mut(t as usize) {
                *slot = Some(Custom {
                    status: def.status.as_ref().map(|s| s.value),
                    headers,
                    templates,
                });
                any = true;
            }
        }
        any.then(|| GatewayResponses { own: own.into() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table(yaml: &str) -> GatewayResponses {
        let defs: BTreeMap<String, Located<GatewayResponseDef>> =
            serde_saphyr::from_str(yaml).unwrap();
        let vars = BTreeMap::from([("a".to_string(), "x".to_string())]);
        GatewayResponses::compile(&defs, &vars, &mut Vec::new()).unwrap()
    }

    /// AWS's whole-answer rule: a type set partly keeps its own defaults; the others take the
    /// class default whole.
    #[test]
    fn class_defaults_fill_only_types_the_api_does_not_set() {
        let t = table(
            "DEFAULT_5XX: { status: 599, templates: { application/json: '{\"s\": \"$stageVariables.a\"}' } }\nAUTHORIZER_FAILURE: { headers: { foo: \"'bar'\" } }\n",
        );
        let api = t.pick(ResponseType::ApiConfigurationError, 500).unwrap();
        assert_eq!(api.status, Some(599));
        assert!(matches!(&*api.templates[0].1, [Part::Text(s)] if &**s == "{\"s\": \"x\"}"));
        let auth = t.pick(ResponseType::AuthorizerFailure, 500).unwrap();
        assert_eq!(auth.status, None);
        assert!(auth.templates.is_empty());
        assert_eq!(auth.headers.len(), 1);
        assert!(t.pick(ResponseType::ResourceNotFound, 404).is_none());
    }
}
