//! Part of `release`, beside the data flow: deployment files: composing one from a draft, choosing
//! its id, reading one back.
//!
//! A deployment is a header (`api`, `created`, `description`, `hash`) followed by the draft's
//! text copied verbatim, comments and layout included, so that `diff apis/shop.yaml
//! deployments/shop-3.yaml` shows only the header and a problem found in the deployment maps
//! back to the draft's line. The copy is checked to read back as exactly the draft's routes;
//! a draft whose layout does not allow that (a flow-style document) is written as data instead.

use super::yaml::{parse_value, scalar};
use super::{check_name, Error};
use crate::config::{integrity, parse_yaml, DeploymentFile, SourceFile, DEPLOYMENTS_DIR};
use serde_json::Value;
use std::path::Path;

#[derive(Debug)]
pub struct Composed {
    pub text: String,
    /// How many lines precede the draft's first line when it was copied verbatim: a problem on
    /// line L of the deployment is on line L - offset of the draft.
    pub draft_offset: Option<u64>,
}

/// A draft's `routes`, as data (absent or null: none).
pub fn routes_of(value: &Value) -> Value {
    match value.get("routes") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(r) => r.clone(),
    }
}

/// Document markers before the first key (`%YAML`, `---`) would start a second document after
/// the header; commenting them out keeps the line count, so draft lines still map.
fn without_doc_markers(draft: &str) -> String {
    let mut out = String::with_capacity(draft.len() + 8);
    let mut in_preamble = true;
    for line in draft.split_inclusive('\n') {
        let t = line.trim();
        if in_preamble && (t == "---" || t.starts_with('%')) {
            out.push_str("# ");
        } else if !t.is_empty() && !t.starts_with('#') {
            in_preamble = false;
        }
        out.push_str(line);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// What a deployment carries of its draft: every key but the deployment's own header, with
/// absent routes as none. Models, validators, CORS and gateway responses travel with the routes.
fn content_of(value: &Value) -> Value {
    let mut content = match value {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    for header in ["api", "created", "description", "hash"] {
        content.remove(header);
    }
    content.insert("routes".into(), routes_of(value));
    content.retain(|_, v| !v.is_null());
    Value::Object(content)
}

fn reads_back(text: &str, content: &Value) -> bool {
    let as_data = parse_value(text).is_ok_and(|v| content_of(&v) == *content);
    as_data && serde_saphyr::from_str::<DeploymentFile>(text).is_ok()
}

/// The text of a new deployment of `api` from the draft's text, sealed with its hash.
pub fn compose(
    api: &str,
    created: &str,
    description: Option<&str>,
    draft_rel: &str,
    draft: &str,
) -> Result<Composed, Error> {
    let content = parse_value(draft)
        .map(|v| content_of(&v))
        .map_err(|e| Error::refused(format!("{draft_rel}: {e}")))?;
    let mut head = format!(
        "# Written by `stagecraft deploy` from {draft_rel}. Never edit it: the hash covers the whole file.\napi: {}\ncreated: {}\n",
        scalar(api),
        scalar(created)
    );
    if let Some(d) = description {
        head.push_str(&format!("description: {}\n", scalar(d)));
    }
    let verbatim = without_doc_markers(draft);
    let (body, offset) = if reads_back(&format!("{head}{verbatim}"), &content) {
        (verbatim, Some(head.lines().count() as u64 + 1))
    } else {
        let data = serde_saphyr::to_string(&content)
            .map_err(|e| Error::refused(format!("{draft_rel}: cannot copy the routes: {e}")))?;
        (data, None)
    };
    let hash = integrity::deployment_hash(&format!("{head}{body}"));
    let text = format!("{head}hash: {}\n{body}", scalar(&hash));
    if !reads_back(&text, &content) || integrity::check(&text).is_err() {
        return Err(Error::refused(format!(
            "{draft_rel}: cannot write its routes into a deployment that reads back the same"
        )));
    }
    Ok(Composed {
        text,
        draft_offset: offset,
    })
}

/// One more than the highest `N` of the existing `API-N` deployments (1 for the first).
pub fn next_number(dir: &Path, api: &str) -> Result<u64, Error> {
    let folder = dir.join(DEPLOYMENTS_DIR);
    let entries = match std::fs::read_dir(&folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(1),
        Err(e) => return Err(Error::io(&folder, e)),
    };
    let prefix = format!("{api}-");
    let highest = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|name| {
            let stem = name
                .strip_suffix(".yaml")
                .or_else(|| name.strip_suffix(".yml"))?;
            let n = stem.strip_prefix(&prefix)?;
            // Digits only: `shop-api-2` is not deployment 2 of `shop`.
            n.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
        .max()
        .unwrap_or(0);
    Ok(highest + 1)
}

#[derive(Debug)]
pub struct Loaded {
    pub rel: String,
    pub text: String,
    pub model: DeploymentFile,
}

/// `deployments/ID.yaml`, parsed; `None` when there is no such file.
pub fn load(dir: &Path, id: &str) -> Result<Option<Loaded>, Error> {
    check_name("deployment", id)?;
    let (rel, path) = super::files::config_file(dir, DEPLOYMENTS_DIR, id);
    let Some(text) = super::files::read_optional(&path)? else {
        return Ok(None);
    };
    let file = SourceFile { rel, text };
    let model = parse_yaml::<DeploymentFile>(&file).map_err(|p| Error::Invalid {
        what: format!("cannot read deployment {id:?}"),
        problems: crate::config::Problems(vec![p]),
    })?;
    Ok(Some(Loaded {
        rel: file.rel,
        text: file.text,
        model,
    }))
}

/// Deployment `id`, which must exist and belong to `api` (the API of `stage`).
pub fn load_for(dir: &Path, id: &str, api: &str, stage: &str) -> Result<Loaded, Error> {
    let d = load(dir, id)?.ok_or_else(|| {
        Error::refused(format!(
            "deployment {id:?} does not exist (no {DEPLOYMENTS_DIR}/{id}.yaml)"
        ))
    })?;
    if d.model.api.value != api {
        return Err(Error::refused(format!(
            "deployment {id:?} belongs to api {:?}, but stage {stage:?} serves api {api:?}",
            d.model.api.value
        )));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DRAFT: &str = "# The shop API.\nroutes:\n  - route: \"GET /ping\"   # health\n    integration:\n      type: http_proxy\n      uri: \"http://127.0.0.1:9/ping\"\n";

    #[test]
    fn a_deployment_is_the_draft_verbatim_under_a_sealed_header() {
        let c = compose(
            "shop",
            "2026-11-24T12:00:00Z",
            Some("first \"one\""),
            "apis/shop.yaml",
            DRAFT,
        )
        .unwrap();
        assert!(c.text.ends_with(DRAFT), "{}", c.text);
        assert_eq!(integrity::check(&c.text), Ok(()));
        let d: DeploymentFile = serde_saphyr::from_str(&c.text).unwrap();
        assert_eq!(d.api.value, "shop");
        assert_eq!(d.description.as_deref(), Some("first \"one\""));
        assert_eq!(d.created.as_deref(), Some("2026-11-24T12:00:00Z"));
        assert_eq!(d.routes.len(), 1);
        // Line 3 of the draft (the route) is line 3 + offset of the deployment.
        let off = c.draft_offset.unwrap() as usize;
        assert_eq!(c.text.lines().nth(off + 2), DRAFT.lines().nth(2));
    }

    #[test]
    fn document_markers_and_flow_style_drafts_still_deploy() {
        let marked = format!("%YAML 1.2\n---\n{DRAFT}");
        let c = compose("shop", "t", None, "apis/shop.yaml", &marked).unwrap();
        assert!(c.draft_offset.is_some());
        let flow = "{routes: [{route: \"GET /a\", integration: {type: mock}}]}\n";
        let c = compose("shop", "t", None, "apis/shop.yaml", flow).unwrap();
        assert_eq!(c.draft_offset, None);
        let d: DeploymentFile = serde_saphyr::from_str(&c.text).unwrap();
        assert_eq!(d.routes[0].route.text(), "GET /a");
        assert_eq!(integrity::check(&c.text), Ok(()));
    }

    #[test]
    fn numbers_continue_from_the_highest_of_the_api() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(next_number(dir.path(), "shop").unwrap(), 1);
        let d = dir.path().join(DEPLOYMENTS_DIR);
        std::fs::create_dir_all(&d).unwrap();
        for f in [
            "shop-2.yaml",
            "shop-10.yml",
            "shop-api-30.yaml",
            "shop-x.yaml",
            "other-50.yaml",
        ] {
            std::fs::write(d.join(f), "").unwrap();
        }
        assert_eq!(next_number(dir.path(), "shop").unwrap(), 11);
        assert_eq!(next_number(dir.path(), "shop-api").unwrap(), 31);
    }
}
