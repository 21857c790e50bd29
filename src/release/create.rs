//! Part of `release`, beside the data flow: `stagecraft deploy`: the draft `apis/API.yaml` becomes a
//! new immutable deployment `API-N`, and the stage points at it (created if missing, as AWS's
//! CreateDeployment does).

use super::check::{self, Draft};
use super::deployment::{self, compose};
use super::files::{self, DirLock};
use super::stage::StageDoc;
use super::yaml::{Change, Yaml};
use super::{check_name, Error};
use crate::config::{parse_yaml, ApiFile, Problems, SourceFile, APIS_DIR, DEPLOYMENTS_DIR};
use serde::Serialize;
use std::path::Path;
use std::time::SystemTime;

#[derive(Debug, Serialize)]
pub struct DeployOutcome {
    pub id: String,
    pub stage: String,
    /// The deployment the stage served before; `None` for a new stage.
    pub previous: Option<String>,
    pub created_stage: bool,
    /// Warnings about the stage and the draft (e.g. an undefined stage variable).
    #[serde(skip)]
    pub warnings: Problems,
}

pub fn deploy(
    dir: &Path,
    api: &str,
    stage: &str,
    description: Option<&str>,
) -> Result<DeployOutcome, Error> {
    check_name("api", api)?;
    check_name("stage", stage)?;
    if description.is_some_and(|d| d.chars().any(char::is_control)) {
        return Err(Error::refused(
            "--description must be one line of text without control characters",
        ));
    }
    let _lock = DirLock::acquire(dir)?;

    let (draft_rel, draft_path) = files::config_file(dir, APIS_DIR, api);
    let draft_text = files::read_optional(&draft_path)?.ok_or_else(|| {
        Error::refused(format!(
            "no draft for api {api:?}: {} does not exist",
            draft_path.display()
        ))
    })?;
    let draft_file = SourceFile {
        rel: draft_rel.clone(),
        text: draft_text,
    };
    let draft = parse_yaml::<ApiFile>(&draft_file).map_err(|p| Error::Invalid {
        what: format!("cannot deploy {draft_rel}"),
        problems: Problems(vec![p]),
    })?;
    if draft.routes.is_empty() {
        return Err(Error::refused(format!(
            "{draft_rel} has no routes: nothing to deploy"
        )));
    }

    let doc = StageDoc::read(dir, stage)?;
    if let Some(m) = &doc.model {
        if m.api.value != api {
            return Err(Error::refused(format!(
                "stage {stage:?} serves api {:?}, not {api:?} ({})",
                m.api.value, doc.rel
            )));
        }
    }
    let now = crate::timefmt::rfc3339(SystemTime::now());
    let composed = compose(api, &now, description, &draft_rel, &draft_file.text)?;
    let stage_changes = |id: &str| {
        let mut changes = Vec::new();
        if doc.model.is_none() {
            changes.push(Change::Set("api".into(), Some(Yaml::str(api))));
        }
        changes.extend(doc.switch_to(id, &now));
        doc.edited(&changes)
    };

    let mut n = deployment::next_number(dir, api)?;
    let first_id = format!("{api}-{n}");
    let dep_rel = format!("{DEPLOYMENTS_DIR}/{first_id}.yaml");
    let checked = check::after(
        dir,
        &[
            SourceFile {
                rel: dep_rel.clone(),
                text: composed.text.clone(),
            },
            doc.source(&stage_changes(&first_id)?.text),
        ],
        Some(&Draft {
            file: draft_file.clone(),
            deployment_rel: dep_rel,
            offset: composed.draft_offset,
        }),
    )?;
    // The lock keeps other stagecraft commands out; a name taken anyway (a file copied in by
    // hand, an older tool) moves us to the next number. The id is not part of the content, so
    // the check above holds for any id.
    let id = loop {
        let id = format!("{api}-{n}");
        let path = dir.join(format!("{DEPLOYMENTS_DIR}/{id}.yaml"));
        if files::create_new(&path, &composed.text)? {
            break id;
        }
        n += 1;
    };
    doc.write(&stage_changes(&id)?)?;
    Ok(DeployOutcome {
        id,
        stage: stage.to_string(),
        previous: doc.model.as_ref().map(|m| m.deployment.value.clone()),
        created_stage: doc.model.is_none(),
        warnings: checked,
    })
}
