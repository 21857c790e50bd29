//! Part of `cli`, beside the data flow: `stagecraft history`: a table for people (oldest first, `*`
//! on the current deployment), or `--json` for scripts.

use super::{emit, failed, print_json, ConfigArg};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    /// Print JSON: {stage, api, deployment, canary, entries: [{deployment, at, created,
    /// description, current, exists}]}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &Args) -> ExitCode {
    let h = match crate::release::history(&a.config.dir, &a.stage) {
        Ok(h) => h,
        Err(e) => return failed("history", &e),
    };
    if a.json {
        return print_json(&h);
    }
    let mut out = format!(
        "stage {} (api {}) serves {}\n",
        h.stage, h.api, h.deployment
    );
    if let Some(c) = &h.canary {
        out.push_str(&format!("canary: {} at {}%\n", c.deployment, c.percent));
    }
    let width = h
        .entries
        .iter()
        .map(|e| e.deployment.len())
        .max()
        .unwrap_or(0)
        .max("DEPLOYMENT".len());
    out.push_str(&format!(
        "  {:width$}  {:20}  DESCRIPTION\n",
        "DEPLOYMENT", "SERVED FROM"
    ));
    for e in &h.entries {
        let description = match (&e.description, e.exists) {
            (_, false) => "(deployment file missing)".to_string(),
            (Some(d), true) => d.clone(),
            (None, true) => String::new(),
        };
        let line = format!(
            "{} {:width$}  {:20}  {description}",
            if e.current { "*" } else { " " },
            e.deployment,
            e.at.as_deref().unwrap_or("(not recorded)"),
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    emit(&out)
}
