//! Part of `release`, beside the data flow: `stagecraft vars`: sets and removes a stage's
//! variables. Like the other lifecycle commands it reads the stage under the lock, checks the
//! stage as it would be left like a reload would, and rewrites only `variables:`.

use super::files::DirLock;
use super::stage::StageDoc;
use super::switch::{apply, check_variables};
use super::yaml::{Change, Yaml};
use super::Error;
use crate::config::Problems;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A stage's variables after a change.
#[derive(Debug, Serialize)]
pub struct VariablesSet {
    pub stage: String,
    pub variables: BTreeMap<String, String>,
    /// False when the variables were already so (nothing was written).
    pub changed: bool,
    #[serde(skip)]
    pub warnings: Problems,
}

/// Sets `set` and removes `unset` (removal first, so `--unset a --set a=1` sets `a`).
pub fn set_variables(
    dir: &Path,
    stage: &str,
    set: &[(String, String)],
    unset: &[String],
) -> Result<VariablesSet, Error> {
    check_variables(set)?;
    let _lock = DirLock::acquire(dir)?;
    let doc = StageDoc::read(dir, stage)?;
    let m = doc.existing()?;
    let before = super::plain_variables(&m.variables);
    let mut after = before.clone();
    for k in unset {
        after.remove(k);
    }
    for (k, v) in set {
        after.insert(k.clone(), v.clone());
    }
    if after == before {
        return Ok(VariablesSet {
            stage: stage.to_string(),
            variables: after,
            changed: false,
            warnings: Problems::default(),
        });
    }
    let value = (!after.is_empty()).then(|| {
        Yaml::Map(
            after
                .iter()
                .map(|(k, v)| (k.clone(), Yaml::str(v)))
                .collect(),
        )
    });
    let warnings = apply(dir, &doc, &[Change::Set("variables".into(), value)])?;
    Ok(VariablesSet {
        stage: stage.to_string(),
        variables: after,
        changed: true,
        warnings,
    })
}
