//! Part of `admin`, beside the data flow: the JSON API under `/api/` (README, "Admin API").
//! Reads come from the directory (`release::view`, what the next reload serves) and from the
//! store (what is served now); writes are the CLI's own `release` functions, run off the async
//! threads under the directory lock, so a console action and a CLI command cannot disagree and
//! the watcher reloads as for any file change. Every write needs a bearer token (`auth`), and
//! every answer to one says which CLI command does the same.

use super::auth;
use super::traffic::Traffic;
use crate::release::{self, CanaryRequest};
use crate::store::Store;
use http::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One request to `/api/...`, as the listener read it.
pub struct Call {
    pub method: Method,
    /// Below `/api/`: `stages/prod/canary`.
    pub path: String,
    pub query: Option<String>,
    /// The bearer token, when the request had one.
    pub token: Option<String>,
    pub body: Vec<u8>,
}

/// A status and a JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer { status: 200, body }
    }

    fn error(status: u16, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: json!({ "message": message.into() }),
        }
    }
}

pub struct Api {
    dir: PathBuf,
    store: Arc<Store>,
    traffic: Traffic,
}

type Outcome = Result<Value, release::Error>;

/// A read: the directory, the path's segments and the query.
type Read = fn(&Path, &[&str], Option<&str>) -> Outcome;

/// A write: what to run under the lock, and the CLI command that does the same
/// (`stagecraft COMMAND --config DIR ...`).
struct Write {
    cli: Vec<String>,
    run: Box<dyn FnOnce(&Path) -> Outcome + Send>,
}

impl Api {
    pub fn new(dir: PathBuf, store: Arc<Store>, traffic: Traffic) -> Api {
        // The CLI commands the answers show must work from any working directory.
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        Api {
            dir,
            store,
            traffic,
        }
    }

    pub async fn answer(&self, call: Call) -> Answer {
        // `stages/bad%20name` names the stage `bad name` (which the lifecycle then refuses).
        let decoded: Vec<String> = call
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(crate::proxy::integration::mapping::percent_decode)
            .collect();
        let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let m = &call.method;
        let read = |f: Read| {
            let dir = self.dir.clone();
            let segs: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
            let query = call.query.clone();
            async move {
                let done = tokio::task::spawn_blocking(move || {
                    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
                    f(&dir, &segs, query.as_deref())
                })
                .await;
                match done {
                    Ok(Ok(v)) => Answer::ok(v),
                    Ok(Err(e)) => failure(None, &e, true),
                    Err(e) => Answer::error(500, format!("the read did not finish: {e}")),
                }
            }
        };
        match (m.as_str(), segments.as_slice()) {
            ("GET", ["status"]) => Answer::ok(self.status()),
            ("GET", ["traffic"]) => {
                let window = query_param(call.query.as_deref(), "window")
                    .and_then(|w| w.parse::<f64>().ok())
                    .filter(|w| w.is_finite() && *w > 0.0)
                    .map_or(super::traffic::MAX_WINDOW, Duration::from_secs_f64);
                Answer::ok(json!(self.traffic.report(window)))
            }
            ("GET", ["stages"]) => read(|d, _, _| Ok(json!(release::view::stages(d)?))).await,
            ("GET", ["stages", _]) => {
                read(|d, s, _| Ok(json!(release::view::stage(d, s[1])?))).await
            }
            ("GET", ["stages", _, "diff"]) => {
                read(|d, s, q| {
                    Ok(json!(release::diff(
                        d,
                        query_param(q, "api").as_deref(),
                        s[1]
                    )?))
                })
                .await
            }
            ("GET", ["deployments"]) => {
                read(|d, _, _| Ok(json!(release::view::deployments(d)?))).await
            }
            ("GET", ["deployments", _]) => {
                read(|d, s, _| Ok(json!(release::view::deployment(d, s[1])?))).await
            }
            ("GET", ["keys"]) => read(|d, _, _| Ok(json!(release::keys::list(d)?))).await,
            (_, path) => match self.write(m, path, &call.body) {
                Ok(Some(w)) => self.run_write(w, call.token).await,
                Err(bad) => bad,
                Ok(None) if known_path(path) => {
                    Answer::error(405, format!("{m} is not allowed here"))
                }
                Ok(None) => Answer::error(404, "no such admin API endpoint"),
            },
        }
    }

    /// `/api/status`: what is served now, and how the last reloads went.
    fn status(&self) -> Value {
        let snap = self.store.current();
        let server = &snap.server;
        let mut out = super::served(&self.store, "serving", "stage");
        out.insert(
            "listeners".into(),
            server
                .listen
                .iter()
                .map(|l| json!({ "addr": l.addr.to_string(), "tls": l.tls.is_some() }))
                .collect(),
        );
        out.insert("admin".into(), json!(server.admin.map(|a| a.to_string())));
        out.insert("writable".into(), server.admin_tokens_file.is_some().into());
        out.insert("config_dir".into(), self.dir.display().to_string().into());
        Value::Object(out)
    }

    /// The write a method and path name, `None` when they name none, or the answer to a body
    /// that is not what the write takes.
    fn write(&self, m: &Method, path: &[&str], body: &[u8]) -> Result<Option<Write>, Answer> {
        let cfg = self.dir.display().to_string();
        let base = |command: &'static str| {
            vec![
                "stagecraft".to_string(),
                command.to_string(),
                "--config".into(),
                cfg.clone(),
            ]
        };
        // Every stage's lifecycle command names the stage right after the directory.
        let for_stage = |command: &'static str, stage: &str| {
            let mut cli = base(command);
            cli.extend(["--stage".into(), stage.to_string()]);
            cli
        };
        let w = match (m.as_str(), path) {
            ("POST", ["stages", stage, "deploy"]) => {
                let b: DeployBody = parse(body)?;
                let stage = stage.to_string();
                let cli_for = {
                    let base = base("deploy");
                    let stage = stage.clone();
                    let description = b.description.clone();
                    move |api: &str| {
                        let mut cli = base.clone();
                        if !api.is_empty() {
                            cli.extend(["--api".into(), api.to_string()]);
                        }
                        cli.extend(["--stage".into(), stage.clone()]);
                        if let Some(d) = &description {
                            cli.extend(["--description".into(), d.clone()]);
                        }
                        cli
                    }
                };
                let cli = cli_for(&b.api);
                Write {
                    cli,
                    run: Box::new(move |dir| {
                        // An existing stage deploys its own API's draft by default.
                        let api = if b.api.is_empty() {
                            release::view::stage_api(dir, &stage).map_err(|_| {
                                    release::Error::Refused(format!(
                                        "stage {stage:?} does not exist yet: name the api to deploy to it"
                                    ))
                                })?
                        } else {
                            b.api
                        };
                        let out = release::deploy(dir, &api, &stage, b.description.as_deref())?;
                        let mut v = with_warnings(json!(out), &out.warnings);
                        v["cli"] = json!(shell_words(&cli_for(&api)));
                        Ok(v)
                    }),
                }
            }
            ("POST", ["stages", stage, "rollback"]) => {
                let b: RollbackBody = parse(body)?;
                let stage = stage.to_string();
                let mut cli = for_stage("rollback", &stage);
                if let Some(to) = &b.to {
                    cli.extend(["--to".into(), to.clone()]);
                }
                Write {
                    cli,
                    run: Box::new(move |dir| {
                        let out = release::rollback(dir, &stage, b.to.as_deref())?;
                        Ok(with_warnings(json!(out), &out.warnings))
                    }),
                }
            }
            ("PUT", ["stages", stage, "canary"]) => {
                let b: CanaryBody = parse(body)?;
                let stage = stage.to_string();
                let mut cli = for_stage("canary", &stage);
                if let Some(d) = &b.deployment {
                    cli.extend(["--deployment".into(), d.clone()]);
                }
                if let Some(p) = b.percent {
                    cli.extend(["--percent".into(), p.to_string()]);
                }
                for (k, v) in b.variables.iter().flatten() {
                    cli.extend(["--var".into(), format!("{k}={v}")]);
                }
                if let Some(s) = &b.sticky {
                    cli.extend(["--sticky".into(), s.clone()]);
                }
                Write {
                    cli,
                    run: Box::new(move |dir| {
                        let req = CanaryRequest {
                            deployment: b.deployment,
                            percent: b.percent,
                            variables: b.variables.map(|v| v.into_iter().collect()),
                            sticky: b.sticky,
                        };
                        let out = release::set_canary(dir, &stage, &req)?;
                        Ok(with_warnings(json!(out), &out.warnings))
                    }),
                }
            }
            ("DELETE", ["stages", stage, "canary"]) => {
                let stage = stage.to_string();
                let mut cli = for_stage("canary", &stage);
                cli.push("--remove".into());
                Write {
                    cli,
                    run: Box::new(move |dir| {
                        let removed = release::remove_canary(dir, &stage)?;
                        Ok(json!({ "stage": stage, "removed": removed }))
                    }),
                }
            }
            ("POST", ["stages", stage, "promote"]) => {
                let stage = stage.to_string();
                let cli = for_stage("promote", &stage);
                Write {
                    cli,
                    run: Box::new(move |dir| {
                        let out = release::promote(dir, &stage)?;
                        Ok(with_warnings(json!(out), &out.warnings))
                    }),
                }
            }
            ("PATCH", ["stages", stage, "variables"]) => {
                let b: VariablesBody = parse(body)?;
                let stage = stage.to_string();
                let mut cli = for_stage("vars", &stage);
                for k in &b.unset {
                    cli.extend(["--unset".into(), k.clone()]);
                }
                for (k, v) in &b.set {
                    cli.extend(["--set".into(), format!("{k}={v}")]);
                }
                Write {
                    cli,
                    run: Box::new(move |dir| {
                        let set: Vec<(String, String)> = b.set.into_iter().collect();
                        let out = release::set_variables(dir, &stage, &set, &b.unset)?;
                        Ok(with_warnings(json!(out), &out.warnings))
                    }),
                }
            }
            ("POST", ["keys", name, action @ ("enable" | "disable")]) => {
                let name = name.to_string();
                let enable = *action == "enable";
                let mut cli = base("keys");
                cli.extend([action.to_string(), name.clone()]);
                Write {
                    cli,
                    run: Box::new(move |dir| {
                        let changed = release::keys::set_enabled(dir, &name, enable)?;
                        Ok(json!({ "name": name, "enabled": enable, "changed": changed }))
                    }),
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(w))
    }

    async fn run_write(&self, w: Write, token: Option<String>) -> Answer {
        let dir = self.dir.clone();
        let tokens = self.store.current().server.admin_tokens_file.clone();
        let cli = shell_words(&w.cli);
        // `stagecraft COMMAND ...`: the command's name, as the CLI's errors start with it.
        let command = w.cli.get(1).cloned().unwrap_or_default();
        let run = w.run;
        let done = tokio::task::spawn_blocking(move || {
            auth::check(tokens.as_deref(), token.as_deref())?;
            Ok::<_, auth::Denied>(run(&dir))
        })
        .await;
        match done {
            Ok(Err(denied)) => Answer::error(denied.status(), denied.message()),
            Ok(Ok(Ok(mut body))) => {
                if let Value::Object(o) = &mut body {
                    o.entry("cli").or_insert(Value::String(cli));
                }
                Answer::ok(body)
            }
            Ok(Ok(Err(e))) => {
                let mut a = failure(Some(&command), &e, false);
                if let Value::Object(o) = &mut a.body {
                    o.insert("cli".into(), Value::String(cli));
                }
                a
            }
            Err(e) => Answer::error(500, format!("the write did not finish: {e}")),
        }
    }
}

/// A `release` error as JSON: the CLI's text, and for a configuration that would not validate,
/// each problem on its own.
fn failure(command: Option<&str>, e: &release::Error, read: bool) -> Answer {
    let status = match e {
        release::Error::Refused(_) if read => 404,
        release::Error::Refused(_) => 409,
        release::Error::Invalid { .. } => 422,
        release::Error::Io { .. } => 500,
    };
    let mut body = json!({ "message": e.to_string() });
    if let Some(c) = command {
        body["command"] = json!(c);
    }
    // The CLI prints the problems under its message; here they are a list of their own, and
    // the warnings that came with them apart from the errors that refused the write.
    if let release::Error::Invalid { what, problems } = e {
        let text = |p: Vec<&crate::config::Problem>| {
            p.into_iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        let (errors, warnings): (Vec<_>, Vec<_>) = problems.0.iter().partition(|p| p.is_error());
        body["message"] = json!(what);
        body["problems"] = json!(text(errors));
        body["warnings"] = json!(text(warnings));
    }
    Answer { status, body }
}

fn with_warnings(mut v: Value, warnings: &crate::config::Problems) -> Value {
    if let Value::Object(o) = &mut v {
        o.insert(
            "warnings".into(),
            json!(warnings
                .0
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()),
        );
    }
    v
}

fn known_path(path: &[&str]) -> bool {
    matches!(
        path,
        ["status" | "traffic" | "stages" | "deployments" | "keys"]
            | ["stages" | "deployments", _]
            | [
                "stages",
                _,
                "diff" | "deploy" | "rollback" | "canary" | "promote" | "variables"
            ]
            | ["keys", _, "enable" | "disable"]
    )
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The body of a write: a JSON object of what the write takes (nothing else), or none at all.
fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Answer> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Answer::error(
            400,
            format!("the request body is not what this write takes: {e}"),
        )
    })
}

/// A command line a shell reads back as the same words.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    #[serde(default)]
    api: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    #[serde(default)]
    to: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CanaryBody {
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    percent: Option<f64>,
    #[serde(default)]
    variables: Option<BTreeMap<String, String>>,
    #[serde(default)]
    sticky: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VariablesBody {
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    unset: Vec<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cli_equivalents_quote_what_a_shell_would_split() {
        let words: Vec<String> = [
            "stagecraft",
            "deploy",
            "--description",
            "it's new",
            "--api",
            "shop",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            shell_words(&words),
            r"stagecraft deploy --description 'it'\''s new' --api shop"
        );
    }

    #[test]
    fn bodies_take_only_their_fields() {
        assert!(parse::<RollbackBody>(b"").unwrap().to.is_none());
        assert!(parse::<RollbackBody>(br#"{"to": "shop-1"}"#).is_ok());
        let Err(a) = parse::<RollbackBody>(br#"{"too": "shop-1"}"#) else {
            panic!("an unknown field is refused");
        };
        assert_eq!(a.status, 400);
    }
}
