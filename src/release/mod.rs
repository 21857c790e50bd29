//! Beside the data flow: the release workflow on the configuration directory (the deployment
//! lifecycle of the README's "Deployments, history, rollback and canaries"). This module
//! writes the files that `config` reads (new immutable `deployments/ID.yaml`, and the
//! `deployment`, `history`, `canary` and `variables` of `stages/NAME.yaml`), and the running
//! proxy serves them through its ordinary reload. It never talks to the proxy.
//!
//! Every command that writes holds the directory lock (`files::DirLock`) from its first read to
//! its last write, checks the configuration it is about to leave with the same validation and
//! compilation a reload runs (`check`), and writes each file atomically, so the proxy never sees
//! a half-written file nor one it would reject.
//!
//! Stage history (newest last) records every change of a stage's deployment: `deploy`,
//! `rollback` and `promote` each append `{deployment, at}`.

mod check;
mod create;
mod deployment;
mod diff;
mod draft;
mod files;
mod history;
pub mod keys;
mod routes;
mod stage;
mod switch;
mod vars;
pub mod view;
mod yaml;

pub use create::{deploy, DeployOutcome};
pub use diff::{diff, Diff, FieldChange, RouteChange};
pub use draft::write_draft;
pub use history::{history, History, HistoryRow};
pub use routes::{routes, RouteRow, VersionRow};
pub use switch::{
    promote, remove_canary, rollback, set_canary, CanaryRequest, CanarySet, Promoted, Switched,
};
pub use vars::{set_variables, VariablesSet};

use crate::config::Problems;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What was asked cannot be done: an unknown stage or deployment, a draft that is missing...
    #[error("{0}")]
    Refused(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The configuration (as it is, or as the command would leave it) does not validate.
    #[error("{what}:\n{problems}")]
    Invalid { what: String, problems: Problems },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn refused(msg: impl Into<String>) -> Error {
        Error::Refused(msg.into())
    }
}

/// A stage's (or canary's) variables without the lines they were read at.
fn plain_variables(
    v: &std::collections::BTreeMap<String, crate::config::Located<String>>,
) -> std::collections::BTreeMap<String, String> {
    v.iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect()
}

/// Names of APIs, stages and deployments: they become file names, so they follow the stage-name
/// rule (letters, digits, `-`, `_`), which also keeps them from escaping the directory.
fn check_name(what: &str, name: &str) -> Result<(), Error> {
    if crate::config::names::valid_stage_name(name) {
        Ok(())
    } else {
        Err(Error::refused(format!(
            "invalid {what} name {name:?}: letters, digits, '-' and '_' only, at most 128 characters"
        )))
    }
}
