//! The one load pipeline, from a configuration directory to a `Snapshot`: `config` reads the
//! files and parses them into typed values, `config::validate` checks what refers to what,
//! `snapshot::compile` builds the snapshot (and is the only step that touches certificate files
//! and DNS). `run`, every reload, `validate`, the lifecycle commands that write (`deploy`,
//! `rollback`, `canary`, `promote`) and `routes` all load through here, so they accept and
//! reject the same directories with the same problems.

use super::{compile, Carried, Snapshot};
use crate::config::{self, Problems, RawConfig, Scope, SourceSet};
use std::path::Path;

/// A directory that loads: its parsed configuration and the snapshot compiled from it, whose
/// `warnings` hold every warning of every step.
#[derive(Debug)]
pub struct Loaded {
    pub raw: RawConfig,
    pub snapshot: Snapshot,
}

/// A directory that does not load, with every problem found, by the step that found it: what
/// reading, parsing and validating found, and what compiling found besides. `deploy` tells them
/// apart (a new deployment's routes are validated in their draft); everyone else reads them
/// together through `Problems::from`.
#[derive(Debug, Default)]
pub struct Rejected {
    pub validation: Problems,
    pub compilation: Problems,
}

impl Rejected {
    fn new(validation: Problems, mut compilation: Problems) -> Rejected {
        // Compiling reports a value that did not parse too (it never drops one silently);
        // validation said the same thing first.
        compilation.0.retain(|p| !validation.0.contains(p));
        Rejected {
            validation,
            compilation,
        }
    }

    fn before_compiling(validation: Problems) -> Rejected {
        Rejected {
            validation,
            compilation: Problems::default(),
        }
    }
}

impl From<Rejected> for Problems {
    fn from(r: Rejected) -> Problems {
        let mut all = r.validation;
        all.extend(r.compilation);
        all
    }
}

/// Reads `dir` (the files `scope` names) and loads it. `generation` is the number the snapshot
/// will carry; `carried` is what it shares with the snapshot before it.
pub fn load(
    dir: &Path,
    scope: Scope,
    carried: &Carried,
    generation: u64,
) -> Result<Loaded, Rejected> {
    let sources = config::read_sources(dir, scope).map_err(Rejected::before_compiling)?;
    load_sources(&sources, carried, generation)
}

/// Loads files already read: the reloader compares their hash first, and `deploy` checks files
/// it has not written yet.
pub fn load_sources(
    sources: &SourceSet,
    carried: &Carried,
    generation: u64,
) -> Result<Loaded, Rejected> {
    let raw = config::parse_sources(sources).map_err(Rejected::before_compiling)?;
    let validation = config::validate::validate(&raw);
    // Compiled even when validation failed, so that what only shows per stage (a URI with the
    // stage's variables substituted, an unknown backend) is reported in the same run.
    match compile(&raw, carried, generation) {
        Ok(mut snapshot) if !validation.has_errors() => {
            let mut warnings = validation.0;
            warnings.append(&mut snapshot.warnings);
            snapshot.warnings = warnings;
            Ok(Loaded { raw, snapshot })
        }
        Ok(snapshot) => Err(Rejected::new(validation, Problems(snapshot.warnings))),
        Err(compilation) => Err(Rejected::new(validation, compilation)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sources(files: &[(&str, &str)]) -> SourceSet {
        SourceSet::in_memory(files)
    }

    const GATEWAY: &str = "listen: [\"127.0.0.1:1\"]\nbackends:\n  b:\n    versions:\n      v1: { targets: [\"127.0.0.1:2\"] }\n    aliases:\n      a: { v1: -1 }\n";

    #[test]
    fn every_problem_once_by_the_step_that_found_it() {
        let set = sources(&[
            ("gateway.yaml", GATEWAY),
            (
                "deployments/d-1.yaml",
                "api: s\nroutes:\n  - route: \"GET /x\"\n    integration: { type: http_proxy, uri: \"backend://nope:v1\" }\n",
            ),
            ("stages/s.yaml", "api: s\ndeployment: d-1\n"),
        ]);
        let r = load_sources(&set, &Carried::default(), 1).unwrap_err();
        let shown = |p: &Problems| p.0.iter().map(ToString::to_string).collect::<Vec<_>>();
        // Compiling found the negative weight too; validation said it first.
        assert_eq!(
            shown(&r.validation),
            [
                "error: gateway.yaml:7: alias \"a\" of backend \"b\" gives version \"v1\" a negative weight (-1)",
                "error: gateway.yaml:7: weights of alias \"a\" of backend \"b\" sum to zero: no version could ever be picked",
            ]
        );
        assert_eq!(
            shown(&r.compilation),
            ["error: deployments/d-1.yaml:4: unknown backend \"nope\" in uri \"backend://nope:v1\" (define it under backends: in gateway.yaml)"]
        );
        assert_eq!(Problems::from(r).0.len(), 3);
    }

    #[test]
    fn warnings_of_every_step_come_with_the_snapshot() {
        let gateway = GATEWAY.replace("a: { v1: -1 }", "a: { v1: 1 }").replace(
            "targets: [\"127.0.0.1:2\"] }",
            "targets: [\"127.0.0.1:2\"], tls: { verify: false } }",
        );
        let set = sources(&[
            ("gateway.yaml", &gateway),
            (
                "deployments/d-1.yaml",
                "api: s\nroutes:\n  - route: \"GET /x\"\n    integration: { type: http_proxy, uri: \"${stageVariables.u}\" }\n",
            ),
            ("stages/s.yaml", "api: s\ndeployment: d-1\n"),
        ]);
        let loaded = load_sources(&set, &Carried::default(), 3).unwrap();
        assert_eq!(loaded.snapshot.generation, 3);
        let files: Vec<&str> = loaded
            .snapshot
            .warnings
            .iter()
            .map(|w| w.file.as_str())
            .collect();
        assert_eq!(files, ["gateway.yaml", "stages/s.yaml"]);
        assert_eq!(loaded.raw.stages.len(), 1);
    }
}
