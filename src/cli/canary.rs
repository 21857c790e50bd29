//! Part of `cli`, beside the data flow: `stagecraft canary`: sets or removes a stage's canary.
//! Prints the canary's deployment id on stdout (nothing for `--remove`).

use super::{emit, failed, warn, ConfigArg};
use crate::release::CanaryRequest;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    /// The canary deployment, a deployment of the stage's API (default: the current canary's).
    #[arg(long, value_name = "ID")]
    pub deployment: Option<String>,
    /// Share of the stage's requests for the canary, 0.0 to 100.0 (default: the current canary's).
    #[arg(long, value_name = "P")]
    pub percent: Option<f64>,
    /// A stage variable override for canary requests; repeat for more. Given at all, these
    /// replace the canary's overrides; left out, they are kept.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Keep each client on one side: split by a hash of this header or cookie.
    #[arg(long, value_name = "header:NAME|cookie:NAME")]
    pub sticky: Option<String>,
    /// Remove the canary: the stage keeps its deployment and variables.
    #[arg(long, conflicts_with_all = ["deployment", "percent", "vars", "sticky"])]
    pub remove: bool,
}

pub(super) fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

pub fn run(a: &Args) -> ExitCode {
    if a.remove {
        return match crate::release::remove_canary(&a.config.dir, &a.stage) {
            Ok(true) => {
                eprintln!("stage {}: canary removed", a.stage);
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("stage {} has no canary: nothing changed", a.stage);
                ExitCode::SUCCESS
            }
            Err(e) => failed("canary", &e),
        };
    }
    let req = CanaryRequest {
        deployment: a.deployment.clone(),
        percent: a.percent,
        variables: (!a.vars.is_empty()).then(|| a.vars.clone()),
        sticky: a.sticky.clone(),
    };
    match crate::release::set_canary(&a.config.dir, &a.stage, &req) {
        Ok(c) => {
            warn(&c.warnings);
            let vars: Vec<String> = c
                .variables
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            eprintln!(
                "stage {}: canary {} at {}%{}{}",
                c.stage,
                c.deployment,
                c.percent,
                if vars.is_empty() {
                    String::new()
                } else {
                    format!(", variables {}", vars.join(" "))
                },
                c.sticky
                    .as_deref()
                    .map(|s| format!(", sticky by {s}"))
                    .unwrap_or_default()
            );
            emit(&format!("{}\n", c.deployment))
        }
        Err(e) => failed("canary", &e),
    }
}
