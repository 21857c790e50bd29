//! Part of `release`, beside the data flow: a stage file as the lifecycle commands see it: its text
//! (edited, never regenerated, see `yaml`), its parsed model, and the history entries a switch of
//! deployment adds.

use super::yaml::{self, Change, Edited, Yaml};
use super::{check_name, files, Error};
use crate::config::{parse_yaml, Problems, SourceFile, StageFile, STAGES_DIR};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug)]
pub struct StageDoc {
    pub name: String,
    /// `stages/NAME.yaml`.
    pub rel: String,
    pub path: PathBuf,
    /// `None` while the stage does not exist.
    pub text: Option<String>,
    pub model: Option<StageFile>,
    modified: Option<SystemTime>,
}

impl StageDoc {
    pub fn read(dir: &Path, name: &str) -> Result<StageDoc, Error> {
        check_name("stage", name)?;
        let (rel, path) = files::config_file(dir, STAGES_DIR, name);
        let text = files::read_optional(&path)?;
        let model = match &text {
            Some(t) => {
                let file = SourceFile {
                    rel: rel.clone(),
                    text: t.clone(),
                };
                Some(parse_yaml::<StageFile>(&file).map_err(|p| Error::Invalid {
                    what: format!("cannot read stage {name:?}"),
                    problems: Problems(vec![p]),
                })?)
            }
            None => None,
        };
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Ok(StageDoc {
            name: name.to_string(),
            rel,
            path,
            text,
            model,
            modified,
        })
    }

    /// The stage's model; an error naming the missing file when there is none.
    pub fn existing(&self) -> Result<&StageFile, Error> {
        self.model.as_ref().ok_or_else(|| {
            Error::refused(format!(
                "stage {:?} does not exist (no {})",
                self.name, self.rel
            ))
        })
    }

    /// The changes that point the stage at deployment `id` at time `at` and record it in the
    /// history. A stage switched by hand (its history does not end with its current deployment)
    /// first gets that deployment recorded, dated by the file's modification time, so that
    /// `rollback` can return to it.
    pub fn switch_to(&self, id: &str, at: &str) -> Vec<Change> {
        let mut entries = Vec::new();
        if let Some(m) = &self.model {
            let current = &m.deployment.value;
            if m.history.last().map(|h| &h.deployment) != Some(current) {
                let when = self
                    .modified
                    .map(crate::timefmt::rfc3339)
                    .unwrap_or_else(|| at.to_string());
                entries.push(history_entry(current, &when));
            }
        }
        entries.push(history_entry(id, at));
        vec![
            Change::Set("deployment".into(), Some(Yaml::str(id))),
            Change::Append("history".into(), entries),
        ]
    }

    /// The stage's text after `changes`.
    pub fn edited(&self, changes: &[Change]) -> Result<Edited, Error> {
        yaml::edit(self.text.as_deref().unwrap_or(""), changes)
            .map_err(|e| Error::refused(format!("cannot edit {}: {e}", self.rel)))
    }

    pub fn source(&self, text: &str) -> SourceFile {
        SourceFile {
            rel: self.rel.clone(),
            text: text.to_string(),
        }
    }

    /// Writes the edited text; says so when comments could not be kept.
    pub fn write(&self, edited: &Edited) -> Result<(), Error> {
        files::write_atomic(&self.path, &edited.text)?;
        if !edited.comments_kept && self.text.as_deref().is_some_and(|t| t.contains('#')) {
            eprintln!(
                "note: {} was rewritten whole (its layout is not one the line editor handles); its comments were not kept",
                self.rel
            );
        }
        Ok(())
    }
}

pub fn history_entry(id: &str, at: &str) -> Yaml {
    Yaml::Flow(vec![
        ("deployment".into(), Yaml::str(id)),
        ("at".into(), Yaml::str(at)),
    ])
}
