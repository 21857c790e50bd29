//! Part of `template` (beside the data flow): `stagecraft render CASE.json`: render one recorded
//! case.
//!
//! CASE.json: `{"template": "...", "body": "..." | null, "params": {"path": {}, "querystring":
//! {}, "header": {}}, "stage_variables": {}, "context": {}}`. `body` null means an empty payload.
//! `context` entries are deep-merged over `$context` (`{"identity": {"sourceIp": ".."}}` changes
//! one identity field); snake_case or camelCase names of the fixed fields both work
//! (`"isCanaryRequest"`, `"requestOverride"`, ...).

use std::collections::BTreeMap;

use super::error::CaseError;
use super::json::to_serde;
use super::value::{Heap, Value};
use super::{ContextData, Limits, Params, RenderInput, Template};

fn object_pairs(heap: &Heap, v: &Value, what: &str) -> Result<Vec<(String, String)>, CaseError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Map(id) => {
            let mut out = Vec::new();
            for (k, x) in heap.map(*id).entries.iter() {
                let s = match x {
                    Value::Null => continue,
                    other => heap
                        .to_java_string(other, 64)
                        .map_err(|_| CaseError::InvalidCase(format!("{what} too deep")))?,
                };
                out.push((k.to_string(), s));
            }
            Ok(out)
        }
        _ => Err(CaseError::InvalidCase(format!("{what} must be an object"))),
    }
}

/// Renders a CASE.json document with the default limits and returns the output text.
pub fn render_case(case_json: &str) -> Result<String, CaseError> {
    let mut heap = Heap::default();
    let doc = super::json::parse(case_json.as_bytes(), &mut heap, 128)
        .map_err(|e| CaseError::InvalidCase(e.to_string()))?;
    if !matches!(doc, Value::Map(_)) {
        return Err(CaseError::InvalidCase(
            "the case must be a JSON object".into(),
        ));
    }
    let template = match heap.map_get(&doc, "template") {
        Value::Str(s) => s,
        _ => {
            return Err(CaseError::InvalidCase(
                "\"template\" must be a string".into(),
            ))
        }
    };
    let body: Vec<u8> = match heap.map_get(&doc, "body") {
        Value::Null => Vec::new(),
        Value::Str(s) => s.as_bytes().to_vec(),
        other => {
            let mut s = String::new();
            heap.write_json(&other, &mut s, 0, 128)
                .map_err(|_| CaseError::InvalidCase("body too deep".into()))?;
            s.into_bytes()
        }
    };
    let p = heap.map_get(&doc, "params");
    let params = Params {
        path: object_pairs(&heap, &heap.map_get(&p, "path"), "params.path")?,
        querystring: object_pairs(
            &heap,
            &heap.map_get(&p, "querystring"),
            "params.querystring",
        )?,
        header: object_pairs(&heap, &heap.map_get(&p, "header"), "params.header")?,
    };
    let stage_variables: BTreeMap<String, String> = object_pairs(
        &heap,
        &heap.map_get(&doc, "stage_variables"),
        "stage_variables",
    )?
    .into_iter()
    .collect();
    let context = context_from_case(&heap, &heap.map_get(&doc, "context"))?;
    let tpl = Template::compile(&template)?;
    let input = RenderInput {
        body: &body,
        params: &params,
        stage_variables: &stage_variables,
        context: &context,
    };
    Ok(tpl.render(&input, &Limits::default())?.output)
}

fn context_from_case(heap: &Heap, v: &Value) -> Result<ContextData, CaseError> {
    let mut ctx = ContextData::default();
    let Value::Map(id) = v else {
        if v.is_null() {
            return Ok(ctx);
        }
        return Err(CaseError::InvalidCase("context must be an object".into()));
    };
    for (k, x) in heap.map(*id).entries.iter() {
        let val = to_serde(heap, x);
        let camel = snake_to_camel(k);
        ctx.extra.push((camel, val));
    }
    Ok(ctx)
}

fn snake_to_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}
