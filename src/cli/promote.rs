//! Part of `cli`, beside the data flow: `stagecraft promote`: prints the deployment the stage now
//! serves on stdout.

use super::{emit, failed, warn, ConfigArg};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
}

pub fn run(a: &Args) -> ExitCode {
    match crate::release::promote(&a.config.dir, &a.stage) {
        Ok(p) => {
            warn(&p.warnings);
            let vars: Vec<String> = p
                .variables
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            eprintln!(
                "stage {}: {} -> {}{}; canary removed",
                p.stage,
                p.from,
                p.to,
                if vars.is_empty() {
                    String::new()
                } else {
                    format!(", variables {}", vars.join(" "))
                }
            );
            emit(&format!("{}\n", p.to))
        }
        Err(e) => failed("promote", &e),
    }
}
