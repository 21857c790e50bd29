//! Part of `cli`, beside the data flow: `stagecraft deploy`: prints only the new deployment's id on
//! stdout, so a script can capture it; what happened goes to stderr.

use super::{emit, failed, warn, ConfigArg};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The API to deploy: its draft is apis/API.yaml.
    #[arg(long, value_name = "API")]
    pub api: String,
    /// The stage to point at the new deployment (created if missing, base path /STAGE).
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    /// What this deployment changes, shown by `history`.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

pub fn run(a: &Args) -> ExitCode {
    match crate::release::deploy(&a.config.dir, &a.api, &a.stage, a.description.as_deref()) {
        Ok(d) => {
            warn(&d.warnings);
            match (&d.previous, d.created_stage) {
                (_, true) => eprintln!("deployed {}; created stage {}", d.id, d.stage),
                (Some(prev), false) => {
                    eprintln!("deployed {}; stage {}: {prev} -> {}", d.id, d.stage, d.id)
                }
                (None, false) => eprintln!("deployed {}; stage {}", d.id, d.stage),
            }
            emit(&format!("{}\n", d.id))
        }
        Err(e) => failed("deploy", &e),
    }
}
