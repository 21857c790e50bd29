//! Part of `cli`, beside the data flow: `stagecraft diff`: one line per added (`+`), removed (`-`)
//! and changed (`~`) route, and one for changed API-level settings, or `--json` for scripts. Exit 0 either way: a difference is not an
//! error.

use super::{emit, failed, print_json, ConfigArg};
use serde_json::Value;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The API whose draft (apis/API.yaml) to compare (default: the stage's API).
    #[arg(long, value_name = "API")]
    pub api: Option<String>,
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    /// Print JSON: {api, stage, deployment, draft, added: [route], removed: [route],
    /// changed: [{route, fields: [{field, from, to}]}], settings: [{field, from, to}]}.
    #[arg(long)]
    pub json: bool,
}

fn short(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v.to_string(),
        Some(_) => "{...}".into(),
    }
}

pub fn run(a: &Args) -> ExitCode {
    let d = match crate::release::diff(&a.config.dir, a.api.as_deref(), &a.stage) {
        Ok(d) => d,
        Err(e) => return failed("diff", &e),
    };
    if a.json {
        return print_json(&d);
    }
    let mut out = format!(
        "{} (draft) vs {} (served by stage {})\n",
        d.draft, d.deployment, d.stage
    );
    for r in &d.added {
        out.push_str(&format!("+ {r}\n"));
    }
    for r in &d.removed {
        out.push_str(&format!("- {r}\n"));
    }
    for c in &d.changed {
        let fields: Vec<String> = c
            .fields
            .iter()
            .map(|f| format!("{}: {} -> {}", f.field, short(&f.from), short(&f.to)))
            .collect();
        out.push_str(&format!("~ {}  ({})\n", c.route, fields.join("; ")));
    }
    if !d.settings.is_empty() {
        let fields: Vec<String> = d
            .settings
            .iter()
            .map(|f| format!("{}: {} -> {}", f.field, short(&f.from), short(&f.to)))
            .collect();
        out.push_str(&format!("~ api settings  ({})\n", fields.join("; ")));
    }
    if d.is_empty() {
        out.push_str("no differences\n");
    }
    emit(&out)
}
