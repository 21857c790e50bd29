//! Part of the second stage of the data flow (`snapshot`): a route's request validation, as
//! compiled: the required parameters in AWS's order and, by content type, the model validators
//! (built once per deployment by `config::models`). The proxy's validate step only reads it.
//! A route without a validator, or whose validator checks nothing it has, has none.

use crate::config::method::MethodParam;
use crate::config::models::Models;
use crate::config::{ApiSettings, RouteDef};
use jsonschema::Validator;
use std::sync::Arc;

/// What a route checks before its integration runs.
#[derive(Debug)]
pub struct RequestValidation {
    /// Checked when the validator checks parameters, in AWS's listing order (headers, path,
    /// query string; file order within each).
    pub required: Box<[MethodParam]>,
    /// Checked when the validator checks bodies.
    pub body: Option<BodyModels>,
}

/// The route's `request_models` with their validators.
pub struct BodyModels {
    /// Lowercase media type -> validator.
    pub by_type: Box<[(Box<str>, Arc<Validator>)]>,
    /// `$default`: any other content type.
    pub default: Option<Arc<Validator>>,
    /// The model names, for `stagecraft routes`.
    pub names: Box<[(Box<str>, Box<str>)]>,
}

impl std::fmt::Debug for BodyModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyModels")
            .field("names", &self.names)
            .finish()
    }
}

impl BodyModels {
    /// The validator for a request's `Content-Type` (none sent: `application/json`, as AWS);
    /// `None`: this content type is not validated.
    pub fn for_content_type(&self, content_type: Option<&str>) -> Option<&Arc<Validator>> {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("application/json");
        self.by_type
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(media))
            .map(|(_, v)| v)
            .or(self.default.as_ref())
    }
}

/// The name of the validator a route uses: its own (`none` opts out), else the API's default.
pub fn validator_name<'a>(api: &'a ApiSettings<'a>, route: &'a RouteDef) -> Option<&'a str> {
    match &route.request_validator {
        Some(v) if v.value == "none" => None,
        Some(v) => Some(v.value.as_str()),
        None => api.default_request_validator.map(|d| d.value.as_str()),
    }
}

/// The validation of `route`, `None` when it checks nothing.
pub fn compile(
    api: &ApiSettings<'_>,
    models: &Models,
    route: &RouteDef,
) -> Option<RequestValidation> {
    let name = validator_name(api, route)?;
    let v = api.request_validators.get(name)?.value;
    let mut required: Vec<MethodParam> = if v.parameters {
        route
            .request_parameters
            .iter()
            .filter(|(_, req)| req.value)
            .filter_map(|(name, _)| MethodParam::parse(name).ok())
            .collect()
    } else {
        Vec::new()
    };
    // Stable: file order within each kind (AWS records one kind each; file order is what a
    // reader of the file expects).
    required.sort_by_key(MethodParam::rank);
    let body = (v.body && !route.request_models.is_empty()).then(|| {
        let mut by_type = Vec::new();
        let mut default = None;
        let mut names = Vec::new();
        for (ct, model) in &route.request_models {
            let Some(validator) = models.get(&model.value) else {
                continue;
            };
            names.push((ct.as_str().into(), model.value.as_str().into()));
            if ct == "$default" {
                default = Some(validator.clone());
            } else {
                by_type.push((ct.to_ascii_lowercase().into(), validator.clone()));
            }
        }
        BodyModels {
            by_type: by_type.into(),
            default,
            names: names.into(),
        }
    });
    (!required.is_empty() || body.is_some()).then(|| RequestValidation {
        required: required.into(),
        body,
    })
}

/// At most this many schema errors go to `$context.error.validationErrorString`.
const MAX_REPORTED: usize = 8;

impl RequestValidation {
    /// The names of the required parameters the request lacks or sends blank, in AWS's order.
    pub fn missing<'a>(
        &'a self,
        present: impl Fn(&MethodParam) -> bool + 'a,
    ) -> impl Iterator<Item = &'a MethodParam> + 'a {
        self.required.iter().filter(move |p| !present(p))
    }
}

/// Checks a request body against the model for its content type. `Err` carries the detail for
/// `$context.error.validationErrorString`. An empty body is validated as `{}` (AWS validates
/// it too: a model with required properties refuses it, `Empty` accepts it).
pub fn check_body(
    models: &BodyModels,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let Some(validator) = models.for_content_type(content_type) else {
        return Ok(());
    };
    let owned;
    let instance = if body.iter().all(u8::is_ascii_whitespace) {
        owned = serde_json::Value::Object(serde_json::Map::new());
        &owned
    } else {
        owned = serde_json::from_slice(body)
            .map_err(|e| format!("[Invalid JSON in request body: {e}]"))?;
        &owned
    };
    if validator.is_valid(instance) {
        return Ok(());
    }
    let mut detail = String::from("[");
    for (i, e) in validator.iter_errors(instance).enumerate() {
        if i == MAX_REPORTED {
            detail.push_str(", ...");
            break;
        }
        if i > 0 {
            detail.push_str(", ");
        }
        let at = e.instance_path().to_string();
        if at.is_empty() {
            detail.push_str(&e.to_string());
        } else {
            detail.push_str(&format!("{e} (at {at})"));
        }
    }
    detail.push(']');
    Err(detail)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::ModelDef;

    fn models() -> BodyModels {
        let defs: indexmap::IndexMap<String, crate::config::model::Located<ModelDef>> =
            serde_saphyr::from_str(
                "ab: { schema: { type: object, required: [a, b], properties: { a: { type: number }, b: { type: number } } } }\n",
            )
            .unwrap();
        let (m, p) = crate::config::models::compile(&defs);
        assert!(p.is_empty());
        BodyModels {
            by_type: Box::new([("application/json".into(), m.get("ab").unwrap().clone())]),
            default: None,
            names: Box::new([]),
        }
    }

    #[test]
    fn bodies_are_checked_by_content_type_and_the_empty_body_is_an_empty_object() {
        let m = models();
        assert_eq!(check_body(&m, None, br#"{"a": 1, "b": 2}"#), Ok(()));
        assert_eq!(
            check_body(
                &m,
                Some("Application/JSON; charset=utf-8"),
                br#"{"a": 1, "b": 2}"#
            ),
            Ok(())
        );
        let empty = check_body(&m, None, b"").unwrap_err();
        assert!(empty.contains(r#""a" is a required property"#), "{empty}");
        let wrong = check_body(&m, None, br#"{"a": "x", "b": 2}"#).unwrap_err();
        assert!(wrong.contains("(at /a)"), "{wrong}");
        assert!(check_body(&m, None, b"[1]").is_err());
        assert!(check_body(&m, None, b"not json")
            .unwrap_err()
            .starts_with("[Invalid JSON"));
        // No model for XML: not validated (AWS passes it through).
        assert_eq!(check_body(&m, Some("application/xml"), b"<a/>"), Ok(()));
    }
}
