//! Part of `release`, beside the data flow: read-only views of the directory for the admin API:
//! every stage with its deployment, canary, variables and history, and every deployment with
//! its routes. They read the files the lifecycle commands write, so the console shows what the
//! next reload serves.
//!
//! A deployment file never changes once written (its hash seals it), so its view is kept, keyed
//! by path, size and modification time: a console polling every second parses each deployment
//! once, not once per stage and history entry per poll. The cache is the admin side's alone; the
//! request path never sees it.

use super::history::{history_of, HistoryRow};
use super::stage::StageDoc;
use super::{check_name, deployment, Error};
use crate::config::{DEPLOYMENTS_DIR, STAGES_DIR};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::SystemTime;

#[derive(Debug, Serialize, Default)]
pub struct StageView {
    pub name: String,
    /// Why the stage's file cannot be read (the other fields are then empty): one broken
    /// stage must not hide the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub api: String,
    pub deployment: String,
    pub base_path: String,
    pub host: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub canary: Option<CanaryView>,
    /// Oldest first; the entry in effect is `current`.
    pub history: Vec<HistoryRow>,
}

#[derive(Debug, Serialize, Default)]
pub struct CanaryView {
    pub deployment: String,
    pub percent: f64,
    pub variables: BTreeMap<String, String>,
    pub sticky: Option<String>,
}

#[derive(Debug, Serialize, Clone)]
pub struct DeploymentView {
    pub id: String,
    pub api: String,
    pub created: Option<String>,
    pub description: Option<String>,
    pub hash: Option<String>,
    pub routes: Vec<RouteView>,
}

#[derive(Debug, Serialize, Clone)]
pub struct RouteView {
    pub route: String,
    /// `http_proxy`, `mock`...
    pub integration: String,
    /// As written, stage variables unresolved.
    pub uri: Option<String>,
    pub authorizer: Option<String>,
    pub api_key_required: bool,
}

pub fn stage(dir: &Path, name: &str) -> Result<StageView, Error> {
    let doc = StageDoc::read(dir, name)?;
    let m = doc.existing()?;
    Ok(StageView {
        name: name.to_string(),
        error: None,
        api: m.api.value.clone(),
        deployment: m.deployment.value.clone(),
        base_path: m
            .base_path
            .as_ref()
            .map_or_else(|| format!("/{name}"), |b| b.value.clone()),
        host: m.host.as_ref().map(|h| h.value.clone()),
        variables: super::plain_variables(&m.variables),
        canary: m.canary.as_ref().map(|c| CanaryView {
            deployment: c.deployment.value.clone(),
            percent: c.percent.as_ref().map_or(0.0, |p| p.value),
            variables: super::plain_variables(&c.variables),
            sticky: c.sticky.as_ref().map(|s| s.text().to_string()),
        }),
        history: history_of(name, m, |id| match deployment_cached(dir, id) {
            Ok(d) => Some((d.created.clone(), d.description.clone())),
            Err(Error::Refused(_)) => None,
            Err(_) => Some((None, None)),
        })
        .entries,
    })
}

/// The API a stage serves, from its file alone.
pub fn stage_api(dir: &Path, name: &str) -> Result<String, Error> {
    Ok(StageDoc::read(dir, name)?.existing()?.api.value.clone())
}

/// Every stage; one whose file does not read is listed with its `error`.
pub fn stages(dir: &Path) -> Result<Vec<StageView>, Error> {
    Ok(super::files::names(dir, STAGES_DIR)?
        .iter()
        .map(|n| {
            stage(dir, n).unwrap_or_else(|e| StageView {
                name: n.clone(),
                error: Some(e.to_string()),
                ..StageView::default()
            })
        })
        .collect())
}

type CacheKey = (PathBuf, u64, Option<SystemTime>);

static DEPLOYMENTS: LazyLock<Mutex<HashMap<CacheKey, Arc<DeploymentView>>>> =
    LazyLock::new(Mutex::default);

/// [`deployment`], from the cache while the file is the one it was read from.
fn deployment_cached(dir: &Path, id: &str) -> Result<Arc<DeploymentView>, Error> {
    check_name("deployment", id)?;
    let (_, path) = super::files::config_file(dir, DEPLOYMENTS_DIR, id);
    let key = std::fs::metadata(&path)
        .ok()
        .map(|m| (path.clone(), m.len(), m.modified().ok()));
    if let Some(k) = &key {
        let cache = DEPLOYMENTS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = cache.get(k) {
            return Ok(v.clone());
        }
    }
    let view = Arc::new(read_deployment(dir, id)?);
    if let Some(k) = key {
        let mut cache = DEPLOYMENTS.lock().unwrap_or_else(PoisonError::into_inner);
        // Files of deleted or replaced deployments would otherwise stay forever.
        cache.retain(|(p, _, _), _| p != &k.0);
        cache.insert(k, view.clone());
    }
    Ok(view)
}

pub fn deployment(dir: &Path, id: &str) -> Result<DeploymentView, Error> {
    deployment_cached(dir, id).map(|d| (*d).clone())
}

fn read_deployment(dir: &Path, id: &str) -> Result<DeploymentView, Error> {
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
    let mut out = super::files::names(dir, DEPLOYMENTS_DIR)?
        .iter()
        .map(|id| deployment(dir, id))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    Ok(out)
}
