//! Part of `release`, beside the data flow: before anything is written: the configuration as the
//! command would leave it, put through the load pipeline a reload runs (`snapshot::load`). A
//! command whose result the proxy would reject writes nothing and names the problems instead.

use super::Error;
use crate::config::{self, Problem, Problems, Scope, SourceFile};
use crate::snapshot::load::{load_sources, Rejected};
use std::path::Path;

/// The draft a deploy copies, so that problems in the new deployment are reported on the
/// draft's own lines (the file the user edits; the deployment does not exist yet).
#[derive(Debug)]
pub struct Draft {
    pub file: SourceFile,
    pub deployment_rel: String,
    pub offset: Option<u64>,
}

/// Replaces the file of `sources` with `f`'s path by `f`, or adds it: the directory as a command
/// would leave it.
pub fn put(sources: &mut config::SourceSet, f: &SourceFile) {
    match sources.files.iter_mut().find(|s| s.rel == f.rel) {
        Some(s) => s.text.clone_from(&f.text),
        None => sources.files.push(f.clone()),
    }
}

/// Checks the directory with `changed` files replaced or added (and the draft, if any). Returns
/// the warnings about the files the command touches; any error anywhere refuses.
pub fn after(dir: &Path, changed: &[SourceFile], draft: Option<&Draft>) -> Result<Problems, Error> {
    let mut sources =
        config::read_sources(dir, Scope::Served).map_err(|problems| Error::Invalid {
            what: format!("cannot read the configuration in {}", dir.display()),
            problems,
        })?;
    for f in changed {
        put(&mut sources, f);
    }
    if let Some(d) = draft {
        sources.files.push(d.file.clone());
    }
    let mut problems = match load_sources(&sources, &Default::default(), 0) {
        Ok(loaded) => Problems(loaded.snapshot.warnings),
        Err(Rejected {
            mut validation,
            compilation,
        }) => {
            if let Some(d) = draft {
                // The deployment holds the draft's routes, which are validated in the draft.
                validation.0.retain(|x| x.file != d.deployment_rel);
            }
            validation.extend(compilation);
            validation
        }
    };
    if let Some(d) = draft {
        for p in &mut problems.0 {
            if p.file == d.deployment_rel {
                p.file.clone_from(&d.file.rel);
                p.line = d
                    .offset
                    .and_then(|o| p.line.and_then(|l| l.checked_sub(o)))
                    .filter(|l| *l > 0);
            }
        }
    }
    let mut seen = Vec::<Problem>::new();
    problems.0.retain(|p| {
        let new = !seen.contains(p);
        if new {
            seen.push(p.clone());
        }
        new
    });
    if problems.has_errors() {
        let mut ordered: Vec<Problem> = problems.errors().cloned().collect();
        ordered.extend(problems.warnings().cloned());
        return Err(Error::Invalid {
            what: "nothing was written: the configuration would not load (a running proxy would keep serving its last good snapshot)".into(),
            problems: Problems(ordered),
        });
    }
    let touched: Vec<&str> = changed
        .iter()
        .map(|f| f.rel.as_str())
        .chain(draft.map(|d| d.file.rel.as_str()))
        .collect();
    problems.0.retain(|p| touched.contains(&p.file.as_str()));
    Ok(problems)
}
