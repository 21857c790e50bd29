//! First stage of the data flow: the configuration directory on disk -> `RawConfig`, the serde
//! model of its files (`model`) with every string that has a syntax of its own parsed once into
//! a typed value (`typed`: routes, URIs, sticky keys, access-log formats, addresses, parameter
//! mappings), plus the checks of what refers to what and of the AWS rules (`validate`), which
//! name the file and line a user must fix. Pure: no sockets, no pingora, no file but the
//! configuration's own. Uses no other module of the crate: `snapshot` compiles what this module
//! accepts, and `deploy` writes what it reads.

pub mod access_log;
pub mod addr;
pub mod authorizer;
pub mod integrity;
pub mod mapping;
pub mod method;
pub mod model;
pub mod models;
pub mod names;
pub mod plans;
pub mod problem;
pub mod response_type;
pub mod route;
pub mod sticky;
pub mod throttle;
pub mod typed;
pub mod uri;
pub mod usage;
pub mod validate;

pub use model::*;
pub use problem::{Problem, Problems, Severity};

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const GATEWAY_FILE: &str = "gateway.yaml";
pub const APIS_DIR: &str = "apis";
pub const DEPLOYMENTS_DIR: &str = "deployments";
pub const STAGES_DIR: &str = "stages";
pub use usage::{API_KEYS_DIR, USAGE_PLANS_DIR};

/// One file read from the configuration directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the configuration directory, with `/` separators.
    pub rel: String,
    pub text: String,
}

impl SourceFile {
    /// The file stem: the name of the stage, API or deployment the file defines.
    pub fn stem(&self) -> &str {
        let name = self.rel.rsplit('/').next().unwrap_or(&self.rel);
        name.strip_suffix(".yaml")
            .or_else(|| name.strip_suffix(".yml"))
            .unwrap_or(name)
    }
}

/// Which files a load reads. The proxy never reads `apis/` (drafts are not served, so editing one
/// must not even cause a reload); `validate` and the CLI read everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Served,
    All,
}

/// The files of a configuration directory, in a stable order, with their content hash.
#[derive(Debug, Clone)]
pub struct SourceSet {
    pub dir: PathBuf,
    pub files: Vec<SourceFile>,
    /// `sha256:` of every file's path and contents: equal hashes mean nothing changed.
    pub hash: String,
}

impl SourceSet {
    /// Files that exist only in memory, as if read from a directory that does not exist.
    #[cfg(test)]
    pub(crate) fn in_memory(files: &[(&str, &str)]) -> SourceSet {
        SourceSet {
            dir: "/nonexistent".into(),
            files: files
                .iter()
                .map(|(rel, text)| SourceFile {
                    rel: rel.to_string(),
                    text: text.to_string(),
                })
                .collect(),
            hash: "sha256:test".into(),
        }
    }
}

/// Hidden files, editor swap/backup files and Kubernetes' `..data` folders are never configuration.
fn is_config_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// Reads every configuration file (following symlinks, as Kubernetes ConfigMaps need).
pub fn read_sources(dir: &Path, scope: Scope) -> Result<SourceSet, Problems> {
    let mut files = Vec::new();
    let mut problems = Problems::default();
    match std::fs::read_to_string(dir.join(GATEWAY_FILE)) {
        Ok(text) => files.push(SourceFile {
            rel: GATEWAY_FILE.to_string(),
            text,
        }),
        Err(e) => problems.push(Problem::error(
            GATEWAY_FILE,
            None,
            format!("cannot read {}: {e}", dir.join(GATEWAY_FILE).display()),
        )),
    }
    let subdirs: &[&str] = match scope {
        Scope::Served => &[DEPLOYMENTS_DIR, STAGES_DIR, USAGE_PLANS_DIR, API_KEYS_DIR],
        Scope::All => &[
            APIS_DIR,
            DEPLOYMENTS_DIR,
            STAGES_DIR,
            USAGE_PLANS_DIR,
            API_KEYS_DIR,
        ],
    };
    for sub in subdirs {
        let path = dir.join(sub);
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(Problem::error(
                    *sub,
                    None,
                    format!("cannot list folder: {e}"),
                ));
                continue;
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_config_name(n))
            .collect();
        names.sort();
        for name in names {
            let rel = format!("{sub}/{name}");
            match std::fs::read_to_string(path.join(&name)) {
                Ok(text) => files.push(SourceFile { rel, text }),
                // A file deleted between listing and reading: the next event reloads again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(Problem::error(rel, None, format!("cannot read: {e}"))),
            }
        }
    }
    if problems.has_errors() {
        return Err(problems);
    }
    let mut h = Sha256::new();
    for f in &files {
        h.update(f.rel.as_bytes());
        h.update([0]);
        h.update((f.text.len() as u64).to_le_bytes());
        h.update(f.text.as_bytes());
    }
    let hash = format!("sha256:{}", hex(&h.finalize()));
    Ok(SourceSet {
        dir: dir.to_path_buf(),
        files,
        hash,
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The parsed configuration directory: every file's serde model, keyed by the name its file
/// stem gives it. `hash` identifies the exact contents it was parsed from.
#[derive(Debug, Clone)]
pub struct RawConfig {
    pub dir: PathBuf,
    pub hash: String,
    pub gateway: GatewayFile,
    pub apis: BTreeMap<String, ApiFile>,
    pub deployments: BTreeMap<String, DeploymentFile>,
    pub stages: BTreeMap<String, StageFile>,
    pub usage_plans: BTreeMap<String, usage::UsagePlanFile>,
    pub api_keys: BTreeMap<String, usage::ApiKeyFile>,
    /// The text of each deployment file, by id: the model cannot show whether a deployment was
    /// edited after `stagecraft deploy` sealed it (see `integrity`), its text can.
    pub deployment_texts: BTreeMap<String, String>,
}

/// Parses one YAML file into `T`, turning a syntax or shape error into a located problem. The
/// strings with a syntax of their own are parsed too (`typed`); their errors stay in the model
/// for `validate` to report with every other problem.
pub fn parse_yaml<T: FileModel>(file: &SourceFile) -> Result<T, Problem> {
    let mut model = serde_saphyr::from_str::<T>(&file.text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        Problem::error(file.rel.clone(), line, yaml_message(&e))
    })?;
    model.explain();
    Ok(model)
}

/// serde-saphyr renders errors with a source snippet; a problem line wants the first sentence.
pub fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // The problem line carries the line number already; keep only the column.
    let first = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, msg)) => match pos.split_once(" column ") {
            Some((_, col)) => format!("{msg} (column {col})"),
            None => msg.to_string(),
        },
        None => first.to_string(),
    };
    if first.is_empty() {
        "invalid YAML".to_string()
    } else {
        first
    }
}

/// Parses every file of `sources`, collecting every problem rather than stopping at the first.
pub fn parse_sources(sources: &SourceSet) -> Result<RawConfig, Problems> {
    let mut problems = Problems::default();
    let mut gateway = None;
    let mut apis = BTreeMap::new();
    let mut deployments = BTreeMap::new();
    let mut stages = BTreeMap::new();
    let mut usage_plans = BTreeMap::new();
    let mut api_keys = BTreeMap::new();
    let mut deployment_texts = BTreeMap::new();
    for f in &sources.files {
        let stem = f.stem().to_string();
        let folder = f.rel.split('/').next().unwrap_or("");
        let result = match folder {
            APIS_DIR => parse_yaml::<ApiFile>(f).map(|v| {
                apis.insert(stem, v);
            }),
            DEPLOYMENTS_DIR => parse_yaml::<DeploymentFile>(f).map(|v| {
                deployment_texts.insert(stem.clone(), f.text.clone());
                deployments.insert(stem, v);
            }),
            STAGES_DIR => parse_yaml::<StageFile>(f).map(|v| {
                stages.insert(stem, v);
            }),
            USAGE_PLANS_DIR => parse_yaml::<usage::UsagePlanFile>(f).map(|v| {
                usage_plans.insert(stem, v);
            }),
            API_KEYS_DIR => parse_yaml::<usage::ApiKeyFile>(f).map(|v| {
                api_keys.insert(stem, v);
            }),
            _ => parse_yaml::<GatewayFile>(f).map(|v| gateway = Some(v)),
        };
        if let Err(p) = result {
            problems.push(p);
        }
    }
    match gateway {
        Some(gateway) if !problems.has_errors() => Ok(RawConfig {
            dir: sources.dir.clone(),
            hash: sources.hash.clone(),
            gateway,
            apis,
            deployments,
            stages,
            usage_plans,
            api_keys,
            deployment_texts,
        }),
        _ => Err(problems),
    }
}
