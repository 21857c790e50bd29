//! Part of the first stage of the data flow (`config`): an API's `models` compiled into JSON
//! Schema (draft 4) validators, once per load. `validate` runs it to report a schema that does
//! not compile or a `$ref` to a model that does not exist, with the model's line; `snapshot`
//! keeps the validators it builds, so a request never compiles a schema.
//!
//! Models refer to each other as `#/models/NAME` or in AWS's form
//! `https://apigateway.amazonaws.com/restapis/API_ID/models/NAME` (any API id). Both are
//! rewritten to one base URI under which every model is registered, so references resolve
//! locally, recursion included, and nothing is ever fetched.

use super::method::ModelDef;
use super::model::Located;
use super::typed::line_of;
use indexmap::IndexMap;
use jsonschema::{Draft, Registry, Validator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Where every model is registered (AWS's own URL form, with a fixed API id).
const BASE: &str = "https://apigateway.amazonaws.com/restapis/stagecraft/models/";
const AWS_PREFIX: &str = "https://apigateway.amazonaws.com/restapis/";

/// The validators of one API's models, by name.
#[derive(Clone, Default)]
pub struct Models {
    by_name: HashMap<String, Arc<Validator>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_name.keys().collect();
        names.sort();
        f.debug_struct("Models").field("names", &names).finish()
    }
}

impl Models {
    pub fn get(&self, name: &str) -> Option<&Arc<Validator>> {
        self.by_name.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}

/// AWS's two models that every API has unless it defines its own.
fn builtin() -> [(&'static str, Value); 2] {
    [
        (
            "Empty",
            json!({"$schema": "http://json-schema.org/draft-04/schema#", "title": "Empty Schema", "type": "object"}),
        ),
        (
            "Error",
            json!({"$schema": "http://json-schema.org/draft-04/schema#", "title": "Error Schema", "type": "object", "properties": {"message": {"type": "string"}}}),
        ),
    ]
}

/// Model names: letters, digits, `_`, `-` and `.` (AWS allows letters and digits only).
pub fn valid_model_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The model a `$ref` names, and the fragment after it: `None` for a reference inside the
/// schema (`#/definitions/...`), `Err` for one that would need a fetch.
fn model_ref(r: &str) -> Result<Option<(&str, &str)>, String> {
    let (target, fragment) = match r.find('#') {
        Some(i) if i > 0 => (&r[..i], &r[i..]),
        _ => (r, ""),
    };
    if let Some(name) = r.strip_prefix("#/models/") {
        return Ok(Some((name, "")));
    }
    if r.starts_with('#') {
        return Ok(None);
    }
    if let Some(rest) = target.strip_prefix(AWS_PREFIX) {
        if let Some((_, name)) = rest.split_once("/models/") {
            return Ok(Some((name, fragment)));
        }
    }
    Err(format!(
        "$ref {r:?} is not a model: expected \"#/models/NAME\", AWS's \"https://apigateway.amazonaws.com/restapis/ID/models/NAME\" or a \"#/...\" pointer inside the schema"
    ))
}

/// Rewrites every model reference in `v` to the registered URI; the names of the models it
/// refers to go to `refs`.
fn rewrite(v: &mut Value, refs: &mut Vec<String>) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref" {
                    if let Value::String(r) = child {
                        if let Some((name, fragment)) = model_ref(r)? {
                            refs.push(name.to_string());
                            *r = format!("{BASE}{name}{fragment}");
                        }
                        continue;
                    }
                }
                rewrite(child, refs)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite(item, refs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Compiles every model of an API. Problems are `(line, message)` pairs; a model with a problem
/// is left out, the others compile.
pub fn compile(
    models: &IndexMap<String, Located<ModelDef>>,
) -> (Models, Vec<(Option<u64>, String)>) {
    let mut problems = Vec::new();
    let mut schemas: Vec<(String, Option<u64>, Value)> = Vec::new();
    for (name, def) in models {
        let line = line_of(def);
        if !valid_model_name(name) {
            problems.push((
                line,
                format!("model name {name:?} must use only letters, digits, '_', '-' and '.'"),
            ));
            continue;
        }
        let schema = &def.value.schema;
        if !schema.is_object() {
            problems.push((
                line,
                format!("model {name}: schema must be a JSON Schema object"),
            ));
            continue;
        }
        if let Err(e) = jsonschema::draft4::meta::validate(schema) {
            let at = e.instance_path().to_string();
            let place = if at.is_empty() {
                String::new()
            } else {
                format!(" (at schema{at})")
            };
            problems.push((
                line,
                format!("model {name}: not a valid JSON Schema (draft 4): {e}{place}"),
            ));
            continue;
        }
        schemas.push((name.clone(), line, schema.clone()));
    }
    for (name, schema) in builtin() {
        if !models.contains_key(name) {
            schemas.push((name.to_string(), None, schema));
        }
    }
    let known: std::collections::HashSet<String> = schemas.iter().map(|s| s.0.clone()).collect();
    let mut rewritten = Vec::with_capacity(schemas.len());
    for (name, line, mut schema) in schemas {
        let mut refs = Vec::new();
        if let Err(e) = rewrite(&mut schema, &mut refs) {
            problems.push((line, format!("model {name}: {e}")));
            continue;
        }
        if let Some(missing) = refs.iter().find(|r| !known.contains(*r)) {
            problems.push((
                line,
                format!("model {name}: $ref to model {missing:?}, which this API does not define"),
            ));
            continue;
        }
        rewritten.push((name, line, schema));
    }
    let registry = rewritten
        .iter()
        .try_fold(Registry::new().draft(Draft::Draft4), |b, (name, _, s)| {
            b.add(format!("{BASE}{name}"), s.clone())
        })
        .and_then(|b| b.prepare());
    let registry = match registry {
        Ok(r) => r,
        Err(e) => {
            problems.push((None, format!("models: {e}")));
            return (Models::default(), problems);
        }
    };
    let mut by_name = HashMap::new();
    for (name, line, _) in &rewritten {
        let root = json!({ "$ref": format!("{BASE}{name}") });
        match jsonschema::draft4::options()
            .with_registry(&registry)
            .build(&root)
        {
            Ok(v) => {
                by_name.insert(name.clone(), Arc::new(v));
            }
            Err(e) => problems.push((*line, format!("model {name}: {e}"))),
        }
    }
    problems.sort_by_key(|p| p.0);
    (Models { by_name }, problems)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn models(yaml: &str) -> IndexMap<String, Located<ModelDef>> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn references_in_both_forms_and_recursion() {
        let (m, problems) = compile(&models(
            r##"
Person:
  schema:
    type: object
    required: [name]
    properties:
      name: { type: string }
      house: { $ref: "#/models/House" }
House:
  schema:
    type: object
    properties:
      contains:
        type: array
        items: { $ref: "https://apigateway.amazonaws.com/restapis/abc123/models/Person" }
"##,
        ));
        assert!(problems.is_empty(), "{problems:?}");
        let p = m.get("Person").unwrap();
        assert!(p.is_valid(&json!({"name": "a", "house": {"contains": [{"name": "b"}]}})));
        assert!(!p.is_valid(&json!({"name": "a", "house": {"contains": [{"x": 1}]}})));
        assert!(m.get("Empty").unwrap().is_valid(&json!({})));
        assert!(!m.get("Empty").unwrap().is_valid(&json!([])));
    }

    #[test]
    fn dangling_references_and_bad_schemas_are_named_with_their_line() {
        let (m, problems) = compile(&models(
            "A:\n  schema: { $ref: \"#/models/Nope\" }\nB:\n  schema: { type: 12 }\nC:\n  schema: { $ref: \"http://example.com/x.json\" }\nD:\n  schema: { type: string }\n",
        ));
        assert!(m.contains("D") && !m.contains("A"));
        let text: Vec<String> = problems
            .iter()
            .map(|(l, p)| format!("{}: {p}", l.unwrap_or(0)))
            .collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text[0].starts_with("2: model A: $ref to model \"Nope\""),
            "{text:?}"
        );
        assert!(
            text[1].starts_with("4: model B: not a valid JSON Schema"),
            "{text:?}"
        );
        assert!(text[2].starts_with("6: model C: $ref"), "{text:?}");
    }
}
