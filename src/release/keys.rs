//! Part of `release`, beside the data flow: API key files (`api-keys/NAME.yaml`), written by
//! `stagecraft keys`. A key's value is made here (or given with `--value`), hashed, and shown
//! once by the command: only its SHA-256 is ever written. Like every command that writes, each
//! holds the directory lock and checks the configuration it leaves (`check::after`); a running
//! proxy applies the file on its next reload, within a second.

use super::files::{config_file, create_new, read_optional, write_atomic, DirLock};
use super::{check_name, Error};
use crate::config::usage::{check_key_value, ApiKeyFile, KeyHash, API_KEYS_DIR};
use crate::config::{self, Problems, SourceFile};
use rand::distr::{Alphanumeric, SampleString};
use std::path::Path;

/// Generated values: 40 characters from a CSPRNG (the thread RNG is ChaCha, reseeded from the OS).
pub const GENERATED_LEN: usize = 40;

#[derive(Debug)]
pub struct Created {
    pub name: String,
    /// The value, to show once.
    pub value: String,
    pub warnings: Problems,
}

/// One row of `keys list`: never the value, never the whole hash.
#[derive(Debug, serde::Serialize)]
pub struct KeyRow {
    pub name: String,
    pub enabled: bool,
    pub plans: Vec<String>,
    pub created: Option<String>,
    pub description: Option<String>,
}

fn text(
    hash: KeyHash,
    enabled: bool,
    plans: &[String],
    created: &str,
    description: Option<&str>,
) -> String {
    let mut out =
        String::from("# Written by `stagecraft keys`: the key's SHA-256, never its value.\n");
    out.push_str(&format!("hash: \"{}\"\n", hash.to_text()));
    out.push_str(&format!("enabled: {enabled}\n"));
    let plans: Vec<String> = plans.iter().map(|p| format!("{p:?}")).collect();
    out.push_str(&format!("plans: [{}]\n", plans.join(", ")));
    out.push_str(&format!("created: \"{created}\"\n"));
    if let Some(d) = description {
        out.push_str(&format!("description: {}\n", serde_json::Value::from(d)));
    }
    out
}

/// Creates `api-keys/NAME.yaml` in `plan`. `value`: an existing key's (20 to 128 characters);
/// `None`: a new one.
pub fn create(
    dir: &Path,
    name: &str,
    plan: &str,
    value: Option<&str>,
    description: Option<&str>,
) -> Result<Created, Error> {
    check_name("API key", name)?;
    let value = match value {
        Some(v) => {
            check_key_value(v).map_err(Error::Refused)?;
            v.to_string()
        }
        None => Alphanumeric.sample_string(&mut rand::rng(), GENERATED_LEN),
    };
    let _lock = DirLock::acquire(dir)?;
    let (rel, path) = config_file(dir, API_KEYS_DIR, name);
    if path.exists() {
        return Err(Error::Refused(format!(
            "API key {name:?} exists already ({rel}); delete it first or pick another name"
        )));
    }
    let plan_file = dir
        .join(config::USAGE_PLANS_DIR)
        .join(format!("{plan}.yaml"));
    if !plan_file.exists() {
        return Err(Error::Refused(format!(
            "usage plan {plan:?} does not exist: no {}/{plan}.yaml",
            config::USAGE_PLANS_DIR
        )));
    }
    let created = crate::timefmt::rfc3339(std::time::SystemTime::now());
    let body = text(
        KeyHash::of(&value),
        true,
        &[plan.to_string()],
        &created,
        description,
    );
    let changed = [SourceFile {
        rel: rel.clone(),
        text: body.clone(),
    }];
    let warnings = super::check::after(dir, &changed, None)?;
    if !create_new(&path, &body)? {
        return Err(Error::Refused(format!(
            "API key {name:?} exists already ({rel})"
        )));
    }
    Ok(Created {
        name: name.to_string(),
        value,
        warnings,
    })
}

fn read_key(dir: &Path, name: &str) -> Result<(String, std::path::PathBuf, ApiKeyFile), Error> {
    check_name("API key", name)?;
    let (rel, path) = config_file(dir, API_KEYS_DIR, name);
    let Some(body) = read_optional(&path)? else {
        return Err(Error::Refused(format!("no API key {name:?} (no {rel})")));
    };
    let file = SourceFile {
        rel: rel.clone(),
        text: body,
    };
    let key = config::parse_yaml::<ApiKeyFile>(&file).map_err(|p| Error::Invalid {
        what: format!("cannot read {rel}"),
        problems: Problems(vec![p]),
    })?;
    Ok((rel, path, key))
}

/// Enables or disables a key; `Ok(false)` when it already was.
pub fn set_enabled(dir: &Path, name: &str, enabled: bool) -> Result<bool, Error> {
    let _lock = DirLock::acquire(dir)?;
    let (rel, path, key) = read_key(dir, name)?;
    if key.enabled == enabled {
        return Ok(false);
    }
    let hash = *key
        .hash
        .get()
        .map_err(|e| Error::Refused(format!("{rel}: {e}")))?;
    let plans: Vec<String> = key.plans.iter().map(|p| p.value.clone()).collect();
    let created = key.created.clone().unwrap_or_default();
    let body = text(hash, enabled, &plans, &created, key.description.as_deref());
    let changed = [SourceFile {
        rel,
        text: body.clone(),
    }];
    super::check::after(dir, &changed, None)?;
    write_atomic(&path, &body)?;
    Ok(true)
}

/// Deletes a key's file: the key stops working on the next reload.
pub fn delete(dir: &Path, name: &str) -> Result<(), Error> {
    let _lock = DirLock::acquire(dir)?;
    let (_, path, _) = read_key(dir, name)?;
    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))
}

/// Every key file, by name.
pub fn list(dir: &Path) -> Result<Vec<KeyRow>, Error> {
    let names = super::files::names(dir, API_KEYS_DIR)?;
    let mut rows = Vec::with_capacity(names.len());
    for name in names {
        let (_, _, key) = read_key(dir, &name)?;
        rows.push(KeyRow {
            name,
            enabled: key.enabled,
            plans: key.plans.iter().map(|p| p.value.clone()).collect(),
            created: key.created,
            description: key.description,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir_with_plan() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("gateway.yaml"), "listen: [\"127.0.0.1:0\"]\n").unwrap();
        std::fs::create_dir_all(d.path().join("usage-plans")).unwrap();
        std::fs::write(
            d.path().join("usage-plans/gold.yaml"),
            "quota: {limit: 5, period: day}\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn create_writes_the_hash_and_never_the_value() {
        let d = dir_with_plan();
        let c = create(d.path(), "acme", "gold", None, Some("ACME \"prod\"")).unwrap();
        assert_eq!(c.value.len(), GENERATED_LEN);
        let body = std::fs::read_to_string(d.path().join("api-keys/acme.yaml")).unwrap();
        assert!(!body.contains(&c.value));
        assert!(body.contains(&KeyHash::of(&c.value).to_text()));
        let rows = list(d.path()).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].enabled);
        assert_eq!(rows[0].description.as_deref(), Some("ACME \"prod\""));
        // The same name again, or a value of another key, is refused.
        assert!(create(d.path(), "acme", "gold", None, None).is_err());
        let e = create(d.path(), "other", "gold", Some(&c.value), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("same value"), "{e}");
        assert!(!e.contains(&c.value), "{e}");
    }

    #[test]
    fn values_plans_enable_and_delete() {
        let d = dir_with_plan();
        let e = create(d.path(), "a", "gold", Some("short"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "API Key value should be at least 20 characters"
        );
        assert!(create(d.path(), "a", "silver", None, None).is_err());
        create(
            d.path(),
            "a",
            "gold",
            Some("an-existing-value-from-aws-123"),
            None,
        )
        .unwrap();
        assert!(set_enabled(d.path(), "a", false).unwrap());
        assert!(!set_enabled(d.path(), "a", false).unwrap());
        assert!(!list(d.path()).unwrap()[0].enabled);
        delete(d.path(), "a").unwrap();
        assert!(list(d.path()).unwrap().is_empty());
        assert!(delete(d.path(), "a").is_err());
    }
}
