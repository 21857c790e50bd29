//! Part of `release`, beside the data flow: `stagecraft routes`: what each stage serves. For every
//! route of a stage's deployment (and of its canary): the integration type, its URI with the stage
//! variables substituted, and where that URI goes: the versions of a backend alias with their share
//! and targets, or the host of an `http://` URI. The directory must load (validate and compile) as
//! the proxy would load it.

use super::Error;
use crate::config::uri::{Endpoint, Unresolved};
use crate::config::{ApiSettings, RawConfig, RouteDef, Scope};
use crate::snapshot::load::load;
use crate::snapshot::validation::validator_name;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct RouteRow {
    pub stage: String,
    pub base_path: String,
    pub host: Option<String>,
    /// `false` for the stage's deployment, `true` for its canary.
    pub canary: bool,
    pub deployment: String,
    /// The share of the stage's requests this side takes.
    pub traffic_percent: f64,
    pub route: String,
    /// `http_proxy`, `http`, `mock`...
    pub integration: String,
    /// The URI with the stage variables substituted (`None` for mock integrations).
    pub uri: Option<String>,
    /// `backend://NAME:ALIAS` or `http://host:port`: what the versions belong to.
    pub endpoint: Option<String>,
    pub versions: Vec<VersionRow>,
    /// Why requests to this route cannot reach a backend (they get 500).
    pub error: Option<String>,
    /// The request validator the route uses (its own or the API's default) and what it checks.
    pub validator: Option<ValidatorRow>,
    /// `request_models`: content type -> model name.
    pub models: BTreeMap<String, String>,
    /// The route's authorizer (its own or the API's default; `None` for none), its type and
    /// the scopes the route requires.
    pub authorizer: Option<AuthorizerRow>,
    /// `api_key_required`, and where the key is read (`header` or `authorizer`).
    pub api_key: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct AuthorizerRow {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ValidatorRow {
    pub name: String,
    pub body: bool,
    pub parameters: bool,
}

#[derive(Debug, Serialize)]
pub struct VersionRow {
    /// The version's name; `None` for a plain `http://` endpoint.
    pub name: Option<String>,
    pub weight: u64,
    pub percent: f64,
    pub targets: Vec<String>,
}

/// `HttpProxy` -> `http_proxy`, as the files spell it.
pub(super) fn type_name(kind: &impl std::fmt::Debug) -> String {
    let mut out = String::new();
    for (i, c) in format!("{kind:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The versions an endpoint spreads requests over, with their shares.
fn versions(raw: &RawConfig, endpoint: &Endpoint) -> Result<Vec<VersionRow>, String> {
    let (name, selector) = match endpoint {
        Endpoint::Http { host, port, .. } => {
            return Ok(vec![VersionRow {
                name: None,
                weight: 1,
                percent: 100.0,
                targets: vec![format!("{host}:{port}")],
            }])
        }
        Endpoint::Backend { name, selector } => (name, selector),
    };
    let b = &raw
        .gateway
        .backends
        .get(name)
        .ok_or_else(|| format!("unknown backend {name:?}"))?
        .value;
    let weights: Vec<(String, u64)> = match b.aliases.get(selector) {
        Some(alias) => alias
            .value
            .iter()
            .map(|(v, w)| (v.clone(), u64::try_from(w.value).unwrap_or(0)))
            .collect(),
        None if b.versions.contains_key(selector) => vec![(selector.clone(), 1)],
        None => {
            return Err(format!(
                "backend {name:?} has no alias or version {selector:?}"
            ))
        }
    };
    let total: u64 = weights.iter().map(|(_, w)| w).sum();
    Ok(weights
        .into_iter()
        .map(|(v, weight)| VersionRow {
            targets: b
                .versions
                .get(&v)
                .map(|ver| {
                    ver.value
                        .targets
                        .iter()
                        .map(|t| t.text().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            name: Some(v),
            weight,
            percent: if total == 0 {
                0.0
            } else {
                weight as f64 * 100.0 / total as f64
            },
        })
        .collect())
}

struct Side<'a> {
    stage: &'a str,
    base_path: String,
    host: Option<String>,
    canary: bool,
    deployment: &'a str,
    traffic_percent: f64,
    variables: BTreeMap<String, String>,
}

fn row(raw: &RawConfig, side: &Side, api: &ApiSettings<'_>, def: &RouteDef) -> RouteRow {
    let route = def
        .route
        .get()
        .map_or_else(|_| def.route.text().to_string(), ToString::to_string);
    let mut out = RouteRow {
        stage: side.stage.to_string(),
        base_path: side.base_path.clone(),
        host: side.host.clone(),
        canary: side.canary,
        deployment: side.deployment.to_string(),
        traffic_percent: side.traffic_percent,
        route,
        integration: type_name(&def.integration.kind.value),
        uri: None,
        endpoint: None,
        versions: Vec::new(),
        error: None,
        validator: validator_name(api, def).map(|name| {
            let v = api
                .request_validators
                .get(name)
                .map(|v| v.value)
                .unwrap_or_default();
            ValidatorRow {
                name: name.to_string(),
                body: v.body,
                parameters: v.parameters,
            }
        }),
        models: def
            .request_models
            .iter()
            .map(|(ct, m)| (ct.clone(), m.value.clone()))
            .collect(),
        authorizer: def
            .authorizer
            .as_ref()
            .or(api.default_authorizer)
            .filter(|a| a.value != "none")
            .map(|a| AuthorizerRow {
                name: a.value.clone(),
                kind: api
                    .authorizers
                    .get(&a.value)
                    .map_or("undefined", |d| d.value.kind.value.name())
                    .to_string(),
                scopes: def
                    .authorization_scopes
                    .iter()
                    .map(|s| s.value.clone())
                    .collect(),
            }),
        api_key: def.api_key_required.as_ref().filter(|r| r.value).map(|_| {
            match api.api_key_source.map(|s| s.value).unwrap_or_default() {
                crate::config::usage::ApiKeySource::Header => "header",
                crate::config::usage::ApiKeySource::Authorizer => "authorizer",
            }
        }),
    };
    let Some(uri) = &def.integration.uri else {
        return out;
    };
    let target =
        uri.get()
            .map_err(str::to_string)
            .and_then(|uri| match uri.resolve(&side.variables) {
                Ok(r) => {
                    out.uri = Some(r.uri);
                    Ok(r.target.into_owned())
                }
                Err(Unresolved::Missing(missing)) => Err(format!(
                    "undefined stage variable(s) {}",
                    missing.join(", ")
                )),
                Err(Unresolved::Invalid { uri, error }) => {
                    out.uri = Some(uri);
                    Err(error)
                }
            });
    match target.and_then(|t| {
        out.endpoint = Some(match &t.endpoint {
            Endpoint::Backend { name, selector } => format!("backend://{name}:{selector}"),
            Endpoint::Http { host, port, tls } => {
                format!("{}://{host}:{port}", if *tls { "https" } else { "http" })
            }
        });
        versions(raw, &t.endpoint)
    }) {
        Ok(v) => out.versions = v,
        Err(e) => out.error = Some(e),
    }
    out
}

pub fn routes(dir: &Path) -> Result<Vec<RouteRow>, Error> {
    let invalid = |problems| Error::Invalid {
        what: format!("{} does not load", dir.display()),
        problems,
    };
    // What the proxy would load: a directory it would reject has nothing to show.
    let raw = load(dir, Scope::Served, &Default::default(), 0)
        .map_err(|r| invalid(r.into()))?
        .raw;
    let mut rows = Vec::new();
    for (name, s) in &raw.stages {
        let variables = super::plain_variables(&s.variables);
        let canary_percent = s
            .canary
            .as_ref()
            .map(|c| c.percent.as_ref().map(|p| p.value).unwrap_or(0.0))
            .unwrap_or(0.0);
        let base = Side {
            stage: name,
            base_path: s
                .base_path
                .as_ref()
                .map(|b| b.value.clone())
                .unwrap_or_else(|| format!("/{name}")),
            host: s.host.as_ref().map(|h| h.value.clone()),
            canary: false,
            deployment: &s.deployment.value,
            traffic_percent: 100.0 - canary_percent,
            variables,
        };
        let mut sides = Vec::new();
        if let Some(c) = &s.canary {
            let mut merged = base.variables.clone();
            merged.extend(super::plain_variables(&c.variables));
            sides.push(Side {
                base_path: base.base_path.clone(),
                host: base.host.clone(),
                canary: true,
                deployment: &c.deployment.value,
                traffic_percent: canary_percent,
                variables: merged,
                ..base
            });
        }
        sides.insert(0, base);
        for side in &sides {
            if let Some(dep) = raw.deployments.get(side.deployment) {
                let api = dep.settings();
                rows.extend(dep.routes.iter().map(|def| row(&raw, side, &api, def)));
            }
        }
    }
    Ok(rows)
}
