//! Part of `release`, beside the data flow: `stagecraft diff`: what deploying the draft would change
//! on a stage. Routes are matched by their key (method and path, as `GET /orders/{id}`); a route
//! whose integration or method request (validator, parameters, models, throttle, fault) differs
//! as data (formatting and comments do not count) is changed; so are the API-level settings
//! (models, validators, CORS, gateway responses).

use super::deployment::{load_for, routes_of};
use super::stage::StageDoc;
use super::yaml::parse_value;
use super::{check_name, files, Error};
use crate::config::route::parse_route;
use crate::config::APIS_DIR;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Diff {
    pub api: String,
    pub stage: String,
    /// The deployment the stage serves, compared with the draft.
    pub deployment: String,
    pub draft: String,
    /// Routes in the draft only.
    pub added: Vec<String>,
    /// Routes in the deployment only.
    pub removed: Vec<String>,
    pub changed: Vec<RouteChange>,
    /// API-level settings (`models`, `request_validators`, `default_request_validator`, `cors`,
    /// `gateway_responses`, `authorizers`, `default_authorizer`) that differ.
    pub settings: Vec<FieldChange>,
}

#[derive(Debug, Serialize)]
pub struct RouteChange {
    pub route: String,
    pub fields: Vec<FieldChange>,
}

/// One key of the integration: its value deployed (`from`) and in the draft (`to`).
#[derive(Debug, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.settings.is_empty()
    }
}

/// `GET /orders/{id}` written the canonical way, so `"GET  /orders/{id}/"` is the same route.
fn route_key(route: &Value) -> String {
    let text = route.as_str().unwrap_or_default();
    parse_route(text)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| text.trim().to_string())
}

/// (key, what the route does) of each route, in file order: its integration's keys, and the
/// route's own (validator, parameters, models, throttle, fault) beside them; the method
/// request's `request_parameters` as `method_request_parameters`, apart from the integration's.
fn keyed(routes: &Value) -> Vec<(String, Value)> {
    routes
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|r| {
                    let mut what = match r.get("integration") {
                        Some(Value::Object(i)) => i.clone(),
                        Some(other) => {
                            serde_json::Map::from_iter([("integration".into(), other.clone())])
                        }
                        None => serde_json::Map::new(),
                    };
                    for (k, v) in r.as_object().into_iter().flatten() {
                        match k.as_str() {
                            "route" | "integration" => {}
                            "request_parameters" => {
                                what.insert("method_request_parameters".into(), v.clone());
                            }
                            _ => {
                                what.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    (
                        route_key(r.get("route").unwrap_or(&Value::Null)),
                        Value::Object(what),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The API-level settings of a draft or deployment that differ.
fn settings_changes(from: &Value, to: &Value) -> Vec<FieldChange> {
    [
        "models",
        "request_validators",
        "default_request_validator",
        "cors",
        "gateway_responses",
        "authorizers",
        "default_authorizer",
        "api_key_source",
        "binary_media_types",
        "info",
    ]
    .into_iter()
    .filter(|k| from.get(k) != to.get(k))
    .map(|k| FieldChange {
        field: k.to_string(),
        from: from.get(k).cloned(),
        to: to.get(k).cloned(),
    })
    .collect()
}

fn field_changes(from: &Value, to: &Value) -> Vec<FieldChange> {
    let (Some(a), Some(b)) = (from.as_object(), to.as_object()) else {
        return vec![FieldChange {
            field: "integration".into(),
            from: Some(from.clone()),
            to: Some(to.clone()),
        }];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            from: a.get(k).cloned(),
            to: b.get(k).cloned(),
        })
        .collect()
}

pub fn diff(dir: &Path, api: Option<&str>, stage: &str) -> Result<Diff, Error> {
    let doc = StageDoc::read(dir, stage)?;
    let m = doc.existing()?;
    let stage_api = m.api.value.clone();
    let api = match api {
        Some(a) if a != stage_api => {
            return Err(Error::refused(format!(
                "stage {stage:?} serves api {stage_api:?}, not {a:?}"
            )))
        }
        _ => stage_api,
    };
    check_name("api", &api)?;
    let deployed = load_for(dir, &m.deployment.value, &api, stage)?;
    let (draft_rel, draft_path) = files::config_file(dir, APIS_DIR, &api);
    let draft_text = files::read_optional(&draft_path)?.ok_or_else(|| {
        Error::refused(format!(
            "no draft for api {api:?}: {draft_rel} does not exist"
        ))
    })?;
    let read = |rel: &str, text: &str| {
        parse_value(text).map_err(|e| Error::refused(format!("{rel}: {e}")))
    };
    let (draft_doc, live_doc) = (
        read(&draft_rel, &draft_text)?,
        read(&deployed.rel, &deployed.text)?,
    );
    let settings = settings_changes(&live_doc, &draft_doc);
    let draft = keyed(&routes_of(&draft_doc));
    let live = keyed(&routes_of(&live_doc));
    let find = |list: &[(String, Value)], key: &str| {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for (key, integration) in &draft {
        match find(&live, key) {
            None => added.push(key.clone()),
            Some(old) if old != *integration => changed.push(RouteChange {
                route: key.clone(),
                fields: field_changes(&old, integration),
            }),
            Some(_) => {}
        }
    }
    let removed = live
        .iter()
        .filter(|(k, _)| find(&draft, k).is_none())
        .map(|(k, _)| k.clone())
        .collect();
    Ok(Diff {
        api,
        stage: stage.to_string(),
        deployment: m.deployment.value.clone(),
        draft: draft_rel,
        added,
        removed,
        changed,
        settings,
    })
}
