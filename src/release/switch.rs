//! Part of `release`, beside the data flow: the commands that change which deployments a stage
//! serves without creating one: `rollback`, `canary` and `promote`. Each reads the stage under the
//! lock, checks the result like a reload would, and rewrites only the keys it owns.

use super::check;
use super::deployment::load_for;
use super::files::DirLock;
use super::stage::StageDoc;
use super::yaml::{Change, Yaml};
use super::{check_name, Error};
use crate::config::names::{valid_variable_name, valid_variable_value};
use crate::config::sticky::StickyKey;
use crate::config::{Problems, StageFile};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// A change of a stage's deployment.
#[derive(Debug, Serialize)]
pub struct Switched {
    pub stage: String,
    pub from: String,
    pub to: String,
    /// False when the stage already served `to` (nothing was written).
    pub changed: bool,
    #[serde(skip)]
    pub warnings: Problems,
}

fn now() -> String {
    crate::timefmt::rfc3339(SystemTime::now())
}

/// Checks the stage as `changes` would leave it and writes it.
pub(super) fn apply(dir: &Path, doc: &StageDoc, changes: &[Change]) -> Result<Problems, Error> {
    let edited = doc.edited(changes)?;
    let warnings = check::after(dir, &[doc.source(&edited.text)], None)?;
    doc.write(&edited)?;
    Ok(warnings)
}

/// The deployment before the current one: walking the history from its newest entry, the first
/// that differs from what the stage serves now. Like `kubectl rollout undo`, rolling back twice
/// returns to where it started, because the rollback itself is recorded; `--to` goes further.
fn previous(stage: &StageFile) -> Option<&str> {
    stage
        .history
        .iter()
        .rev()
        .map(|h| h.deployment.as_str())
        .find(|d| *d != stage.deployment.value)
}

/// `stagecraft rollback`: the stage serves `to`, or its previous deployment.
pub fn rollback(dir: &Path, stage: &str, to: Option<&str>) -> Result<Switched, Error> {
    let _lock = DirLock::acquire(dir)?;
    let doc = StageDoc::read(dir, stage)?;
    let m = doc.existing()?;
    let from = m.deployment.value.clone();
    let target = match to {
        Some(t) => t.to_string(),
        None => previous(m).map(str::to_string).ok_or_else(|| {
            Error::refused(format!(
                "stage {stage:?} has no earlier deployment in its history (it serves {from:?}); name one with --to ID"
            ))
        })?,
    };
    load_for(dir, &target, &m.api.value, stage)?;
    if target == from {
        return Ok(Switched {
            stage: stage.to_string(),
            to: target,
            from,
            changed: false,
            warnings: Problems::default(),
        });
    }
    let warnings = apply(dir, &doc, &doc.switch_to(&target, &now()))?;
    Ok(Switched {
        stage: stage.to_string(),
        from,
        to: target,
        changed: true,
        warnings,
    })
}

/// What `stagecraft canary` was asked; options left out keep the current canary's values.
#[derive(Debug, Default, Clone)]
pub struct CanaryRequest {
    pub deployment: Option<String>,
    pub percent: Option<f64>,
    /// Replaces the canary's variable overrides when given.
    pub variables: Option<Vec<(String, String)>>,
    pub sticky: Option<String>,
}

/// The canary a stage has after `stagecraft canary`.
#[derive(Debug, Serialize)]
pub struct CanarySet {
    pub stage: String,
    pub deployment: String,
    pub percent: f64,
    pub variables: BTreeMap<String, String>,
    pub sticky: Option<String>,
    #[serde(skip)]
    pub warnings: Problems,
}

fn check_request(req: &CanaryRequest) -> Result<(), Error> {
    if let Some(p) = req.percent {
        if !(0.0..=100.0).contains(&p) {
            return Err(Error::refused(format!(
                "--percent {p} must be between 0.0 and 100.0"
            )));
        }
    }
    if let Some(v) = &req.variables {
        check_variables(v)?;
    }
    if let Some(s) = &req.sticky {
        StickyKey::parse(s).map_err(Error::refused)?;
    }
    Ok(())
}

/// Stage variable names and values as AWS allows them.
pub(super) fn check_variables(vars: &[(String, String)]) -> Result<(), Error> {
    for (k, v) in vars {
        if !valid_variable_name(k) {
            return Err(Error::refused(format!(
                "invalid variable name {k:?}: letters, digits and '_' only, at most 64 characters"
            )));
        }
        if !valid_variable_value(v) {
            return Err(Error::refused(format!(
                "invalid value {v:?} for variable {k:?}: must match [A-Za-z0-9-._~:/?#&=,]+, at most 512 characters"
            )));
        }
    }
    Ok(())
}

/// `stagecraft canary`: writes the stage's `canary` block.
pub fn set_canary(dir: &Path, stage: &str, req: &CanaryRequest) -> Result<CanarySet, Error> {
    check_request(req)?;
    if let Some(id) = &req.deployment {
        check_name("deployment", id)?;
    }
    let _lock = DirLock::acquire(dir)?;
    let doc = StageDoc::read(dir, stage)?;
    let m = doc.existing()?;
    let current = m.canary.as_ref();
    let deployment = req
        .deployment
        .clone()
        .or_else(|| current.map(|c| c.deployment.value.clone()))
        .ok_or_else(|| {
            Error::refused(format!(
                "stage {stage:?} has no canary yet: --deployment ID is required"
            ))
        })?;
    let percent = req
        .percent
        .or_else(|| current.map(|c| c.percent.as_ref().map(|p| p.value).unwrap_or(0.0)))
        .ok_or_else(|| {
            Error::refused(format!(
                "stage {stage:?} has no canary yet: --percent P is required"
            ))
        })?;
    let variables: BTreeMap<String, String> = match &req.variables {
        Some(v) => v.iter().cloned().collect(),
        None => current
            .map(|c| super::plain_variables(&c.variables))
            .unwrap_or_default(),
    };
    let sticky = req
        .sticky
        .clone()
        .or_else(|| current.and_then(|c| c.sticky.as_ref().map(|s| s.text().to_string())));
    load_for(dir, &deployment, &m.api.value, stage)?;
    // The same deployment is a canary only of other variables (AWS's stage variable overrides).
    if deployment == m.deployment.value && variables.is_empty() {
        return Err(Error::refused(format!(
            "stage {stage:?} already serves {deployment:?}: a canary of it without --var overrides would split nothing"
        )));
    }

    let mut block = vec![
        ("deployment".to_string(), Yaml::str(&deployment)),
        ("percent".to_string(), Yaml::float(percent)),
    ];
    if !variables.is_empty() {
        block.push((
            "variables".into(),
            Yaml::Map(
                variables
                    .iter()
                    .map(|(k, v)| (k.clone(), Yaml::str(v)))
                    .collect(),
            ),
        ));
    }
    if let Some(s) = &sticky {
        block.push(("sticky".into(), Yaml::str(s)));
    }
    let warnings = apply(
        dir,
        &doc,
        &[Change::Set("canary".into(), Some(Yaml::Map(block)))],
    )?;
    Ok(CanarySet {
        stage: stage.to_string(),
        deployment,
        percent,
        variables,
        sticky,
        warnings,
    })
}

/// `stagecraft canary --remove`: the stage keeps its deployment and variables. `Ok(false)` when
/// there was no canary.
pub fn remove_canary(dir: &Path, stage: &str) -> Result<bool, Error> {
    let _lock = DirLock::acquire(dir)?;
    let doc = StageDoc::read(dir, stage)?;
    if doc.existing()?.canary.is_none() {
        return Ok(false);
    }
    apply(dir, &doc, &[Change::Set("canary".into(), None)])?;
    Ok(true)
}

#[derive(Debug, Serialize)]
pub struct Promoted {
    pub stage: String,
    pub from: String,
    pub to: String,
    /// The canary's overrides, now in the stage's variables.
    pub variables: BTreeMap<String, String>,
    #[serde(skip)]
    pub warnings: Problems,
}

/// `stagecraft promote`: the canary's deployment becomes the stage's (recorded in the history),
/// its variable overrides are merged into the stage's variables, and the canary is removed.
/// (AWS keeps the canary at 0%; a removed canary says the same with less to read.)
pub fn promote(dir: &Path, stage: &str) -> Result<Promoted, Error> {
    let _lock = DirLock::acquire(dir)?;
    let doc = StageDoc::read(dir, stage)?;
    let m = doc.existing()?;
    let c = m
        .canary
        .as_ref()
        .ok_or_else(|| Error::refused(format!("stage {stage:?} has no canary to promote")))?;
    let from = m.deployment.value.clone();
    let to = c.deployment.value.clone();
    load_for(dir, &to, &m.api.value, stage)?;
    let variables = super::plain_variables(&c.variables);
    let mut changes = Vec::new();
    if to != from {
        changes.extend(doc.switch_to(&to, &now()));
    }
    if !variables.is_empty() {
        changes.push(Change::Merge(
            "variables".into(),
            variables
                .iter()
                .map(|(k, v)| (k.clone(), Yaml::str(v)))
                .collect(),
        ));
    }
    changes.push(Change::Set("canary".into(), None));
    let warnings = apply(dir, &doc, &changes)?;
    Ok(Promoted {
        stage: stage.to_string(),
        from,
        to,
        variables,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stage(text: &str) -> StageFile {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn previous_skips_the_current_deployment_and_toggles_after_a_rollback() {
        let h = |list: &str| format!("api: a\ndeployment: d3\nhistory: [{list}]\n");
        let e = |d: &str| format!("{{deployment: {d}, at: t}}");
        let s = stage(&h(&[e("d1"), e("d2"), e("d3")].join(",")));
        assert_eq!(previous(&s), Some("d2"));
        // d3 -> d2 (rollback) recorded; rolling back again returns to d3.
        let s = stage(
            &h(&[e("d1"), e("d2"), e("d3"), e("d2")].join(","))
                .replace("deployment: d3\n", "deployment: d2\n"),
        );
        assert_eq!(previous(&s), Some("d3"));
        // A stage switched by hand: the history's newest entry is where it came from.
        let s = stage(&h(&e("d1")).replace("deployment: d3\n", "deployment: d9\n"));
        assert_eq!(previous(&s), Some("d1"));
        assert_eq!(previous(&stage("api: a\ndeployment: d1\n")), None);
    }
}
