//! Part of `cli`, beside the data flow: `stagecraft rollback`: prints the deployment the stage now
//! serves on stdout.

use super::{emit, failed, warn, ConfigArg};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    /// The deployment to serve (any deployment of the stage's API). Default: the one the stage
    /// served before its current one; rolling back twice returns to where it started.
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
}

pub fn run(a: &Args) -> ExitCode {
    match crate::release::rollback(&a.config.dir, &a.stage, a.to.as_deref()) {
        Ok(s) => {
            warn(&s.warnings);
            if s.changed {
                eprintln!("stage {}: {} -> {}", s.stage, s.from, s.to);
            } else {
                eprintln!("stage {} already serves {}: nothing changed", s.stage, s.to);
            }
            emit(&format!("{}\n", s.to))
        }
        Err(e) => failed("rollback", &e),
    }
}
