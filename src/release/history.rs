//! Part of `release`, beside the data flow: `stagecraft history`: every deployment a stage has
//! served, oldest first, with the time it started serving and the deployment's description; the one
//! serving now is marked.

use super::deployment;
use super::stage::StageDoc;
use super::Error;
use crate::config::StageFile;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct History {
    pub stage: String,
    pub api: String,
    pub deployment: String,
    pub canary: Option<CanaryInfo>,
    pub entries: Vec<HistoryRow>,
}

#[derive(Debug, Serialize)]
pub struct CanaryInfo {
    pub deployment: String,
    pub percent: f64,
}

#[derive(Debug, Serialize)]
pub struct HistoryRow {
    pub deployment: String,
    /// When the stage started serving it; `None` for a deployment set by hand and never recorded.
    pub at: Option<String>,
    pub created: Option<String>,
    pub description: Option<String>,
    /// The entry in effect now: the newest, when it is the stage's deployment.
    pub current: bool,
    /// False when the deployment file has been deleted since.
    pub exists: bool,
}

/// What a history row shows of a deployment: `None` when its file does not exist; for a file
/// that does not read, no date and no description (validate names the problem).
pub(super) type Summary = Option<(Option<String>, Option<String>)>;

pub fn history(dir: &Path, stage: &str) -> Result<History, Error> {
    let doc = StageDoc::read(dir, stage)?;
    let m = doc.existing()?;
    Ok(history_of(stage, m, |id| match deployment::load(dir, id) {
        Ok(Some(d)) => Some((d.model.created, d.model.description)),
        Ok(None) => None,
        Err(_) => Some((None, None)),
    }))
}

/// [`history`] of a stage already read, each deployment's date and description through
/// `summary`.
pub(super) fn history_of(
    stage: &str,
    m: &StageFile,
    mut summary: impl FnMut(&str) -> Summary,
) -> History {
    let current = &m.deployment.value;
    let mut rows: Vec<HistoryRow> = m
        .history
        .iter()
        .map(|h| HistoryRow {
            deployment: h.deployment.clone(),
            at: Some(h.at.clone()),
            created: None,
            description: None,
            current: false,
            exists: false,
        })
        .collect();
    match rows.last_mut() {
        Some(last) if &last.deployment == current => last.current = true,
        _ => rows.push(HistoryRow {
            deployment: current.clone(),
            at: None,
            created: None,
            description: None,
            current: true,
            exists: false,
        }),
    }
    for row in &mut rows {
        // Unreadable (validate names the problem): it still has its place in the history.
        if let Some((created, description)) = summary(&row.deployment) {
            row.exists = true;
            row.created = created;
            row.description = description;
        }
    }
    History {
        stage: stage.to_string(),
        api: m.api.value.clone(),
        deployment: current.clone(),
        canary: m.canary.as_ref().map(|c| CanaryInfo {
            deployment: c.deployment.value.clone(),
            percent: c.percent.as_ref().map(|p| p.value).unwrap_or(0.0),
        }),
        entries: rows,
    }
}
