//! Part of `release`, beside the data flow: read-only views of the directory for the admin API:
//! every stage with its deployment, canary, variables and history, and every deployment with
//! its routes. They read the files the lifecycle commands write, so the console shows what the
//! next reload serves, and a stage whose file does not load still shows with its problem.

use super::history::{history, HistoryRow};
use super::stage::StageDoc;
use super::{check_name, deployment, Error};
use crate::config::{DEPLOYMENTS_DIR, STAGES_DIR};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct StageView {
    pub name: String,
    pub api: String,
    pub deployment: String,
    pub base_path: String,
    pub host: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub canary: Option<CanaryView>,
    /// Oldest first; the entry in effect is `current`.
    pub history: Vec<HistoryRow>,
}

#[derive(Debug, Serialize)]
pub struct CanaryView {
    pub deployment: String,
    pub percent: f64,
    pub variables: BTreeMap<String, String>,
    pub sticky: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DeploymentView {
    pub id: String,
    pub api: String,
    pub created: Option<String>,
    pub description: Option<String>,
    pub hash: Option<String>,
    pub routes: Vec<RouteView>,
}

#[derive(Debug, Serialize)]
pub struct RouteView {
    pub route: String,
    /// `http_proxy`, `mock`...
    pub integration: String,
    /// As written, stage variables unresolved.
    pub uri: Option<String>,
    pub authorizer: Option<String>,
    pub api_key_required: bool,
}

/// The `NAME` of every `FOLDER/NAME.yaml`, sorted.
fn names(dir: &Path, folder: &str) -> Result<Vec<String>, Error> {
    let path = dir.join(folder);
    let entries = match std::fs::read_dir(&path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .filter_map(|n| n.strip_suffix(".yaml").map(str::to_string))
        .collect();
    out.sort();
    Ok(out)
}

pub fn stage(dir: &Path, name: &str) -> Result<StageView, Error> {
    let doc = StageDoc::read(dir, name)?;
    let m = doc.existing()?;
    let vars = |v: &BTreeMap<String, crate::config::Located<String>>| {
        v.iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    Ok(StageView {
        name: name.to_string(),
        api: m.api.value.clone(),
        deployment: m.deployment.value.clone(),
        base_path: m
            .base_path
            .as_ref()
            .map_or_else(|| format!("/{name}"), |b| b.value.clone()),
        host: m.host.as_ref().map(|h| h.value.clone()),
        variables: vars(&m.variables),
        canary: m.canary.as_ref().map(|c| CanaryView {
            deployment: c.deployment.value.clone(),
            percent: c.percent.as_ref().map_or(0.0, |p| p.value),
            variables: vars(&c.variables),
            sticky: c.sticky.as_ref().map(|s| s.text().to_string()),
        }),
        history: history(dir, name)?.entries,
    })
}

pub fn stages(dir: &Path) -> Result<Vec<StageView>, Error> {
    names(dir, STAGES_DIR)?
        .iter()
        .map(|n| stage(dir, n))
        .collect()
}

pub fn deployment(dir: &Path, id: &str) -> Result<DeploymentView, Error> {
    check_name("deployment", id)?;
    let d = deployment::load(dir, id)?.ok_or_else(|| {
        Error::refused(format!(
            "deployment {id:?} does not exist (no {DEPLOYMENTS_DIR}/{id}.yaml)"
        ))
    })?;
    let m = d.model;
    let default_authorizer = m.default_authorizer.as_ref().map(|a| a.value.clone());
    Ok(DeploymentView {
        id: id.to_string(),
        api: m.api.value.clone(),
        created: m.created.clone(),
        description: m.description.clone(),
        hash: m.hash.as_ref().map(|h| h.value.clone()),
        routes: m
            .routes
            .iter()
            .map(|r| RouteView {
                route: r.route.text().to_string(),
                integration: super::routes::type_name(&r.integration.kind.value),
                uri: r.integration.uri.as_ref().map(|u| u.text().to_string()),
                authorizer: r
                    .authorizer
                    .as_ref()
                    .map(|a| a.value.clone())
                    .or_else(|| default_authorizer.clone())
                    .filter(|a| a != "none"),
                api_key_required: r.api_key_required.as_ref().is_some_and(|k| k.value),
            })
            .collect(),
    })
}

/// Every deployment, newest first (by `created`, then id).
pub fn deployments(dir: &Path) -> Result<Vec<DeploymentView>, Error> {
    let mut out = names(dir, DEPLOYMENTS_DIR)?
        .iter()
        .map(|id| deployment(dir, id))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    Ok(out)
}
