//! Part of `release`, beside the data flow: writing a whole draft `apis/NAME.yaml` made by a
//! command (`stagecraft import`). Under the directory lock, the directory as the draft would
//! leave it is validated as `stagecraft validate` does (drafts are not compiled until a deploy),
//! and the file is written atomically: a draft that would not validate, or one that exists
//! without `force`, writes nothing.

use super::files::{create_new, write_atomic, DirLock};
use super::{check_name, Error};
use crate::config::{self, Problems, Scope, SourceFile, APIS_DIR};
use std::path::Path;

/// Writes `text` as `apis/API.yaml`; returns the warnings about it.
pub fn write_draft(dir: &Path, api: &str, text: &str, force: bool) -> Result<Problems, Error> {
    check_name("API", api)?;
    let _lock = DirLock::acquire(dir)?;
    let rel = format!("{APIS_DIR}/{api}.yaml");
    let path = dir.join(&rel);
    let exists = || Error::refused(format!("{rel} exists: import with --force to replace it"));
    if path.exists() && !force {
        return Err(exists());
    }
    let mut sources = config::read_sources(dir, Scope::All).map_err(|problems| Error::Invalid {
        what: format!("cannot read the configuration in {}", dir.display()),
        problems,
    })?;
    let file = SourceFile {
        rel: rel.clone(),
        text: text.to_string(),
    };
    super::check::put(&mut sources, &file);
    let problems = match config::parse_sources(&sources) {
        Ok(raw) => config::validate::validate(&raw),
        Err(problems) => problems,
    };
    if problems.has_errors() {
        return Err(Error::Invalid {
            what: format!(
                "the draft {rel} would not validate (lines are those of the draft it would have \
                 been); nothing was written"
            ),
            problems,
        });
    }
    std::fs::create_dir_all(dir.join(APIS_DIR)).map_err(|e| Error::io(&dir.join(APIS_DIR), e))?;
    if force {
        write_atomic(&path, text)?;
    } else if !create_new(&path, text)? {
        return Err(exists());
    }
    Ok(Problems(
        problems.0.into_iter().filter(|p| p.file == rel).collect(),
    ))
}
