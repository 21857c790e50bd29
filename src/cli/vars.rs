//! Part of `cli`, beside the data flow: `stagecraft vars`: sets and removes a stage's variables.
//! Prints the stage's variables after the change on stdout, one `NAME=VALUE` per line.

use super::{emit, failed, warn, ConfigArg};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    /// Set a variable; repeat for more.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = super::canary::parse_var)]
    pub set: Vec<(String, String)>,
    /// Remove a variable; repeat for more. Removals apply before `--set`.
    #[arg(long = "unset", value_name = "NAME")]
    pub unset: Vec<String>,
}

pub fn run(a: &Args) -> ExitCode {
    match crate::release::set_variables(&a.config.dir, &a.stage, &a.set, &a.unset) {
        Ok(v) => {
            warn(&v.warnings);
            if !v.changed {
                eprintln!("stage {}: variables unchanged", v.stage);
            }
            let lines: String = v
                .variables
                .iter()
                .map(|(k, val)| format!("{k}={val}\n"))
                .collect();
            emit(&lines)
        }
        Err(e) => failed("vars", &e),
    }
}
