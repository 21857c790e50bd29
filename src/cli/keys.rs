//! Part of `cli`, beside the data flow: `stagecraft keys`: create (prints the value once, on
//! stdout, and nothing else there), list, enable, disable, delete. The files are
//! `api-keys/NAME.yaml`; a running proxy applies them on its next reload.

use super::{emit, failed, print_json, warn, ConfigArg};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Make a key in a usage plan and print its value (shown this once: only its hash is kept).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        plan: String,
        /// Import an existing value (20 to 128 characters), e.g. a key moved from AWS.
        #[arg(long)]
        value: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Every key: name, enabled, plans, created.
    List {
        #[arg(long)]
        json: bool,
    },
    Enable {
        name: String,
    },
    /// Refuse the key from the next reload on (within a second on a running proxy).
    Disable {
        name: String,
    },
    Delete {
        name: String,
    },
}

pub fn run(a: &Args) -> ExitCode {
    let dir = &a.config.dir;
    match &a.action {
        Action::Create {
            name,
            plan,
            value,
            description,
        } => match crate::release::keys::create(
            dir,
            name,
            plan,
            value.as_deref(),
            description.as_deref(),
        ) {
            Ok(c) => {
                warn(&c.warnings);
                eprintln!(
                    "API key {:?} created in plan {plan:?}; its value is shown once:",
                    c.name
                );
                emit(&format!("{}\n", c.value))
            }
            Err(e) => failed("keys create", &e),
        },
        Action::List { json } => match crate::release::keys::list(dir) {
            Ok(rows) if *json => print_json(&rows),
            Ok(rows) => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&format!(
                        "{}\t{}\t{}\t{}{}\n",
                        r.name,
                        if r.enabled { "enabled" } else { "disabled" },
                        if r.plans.is_empty() {
                            "-".to_string()
                        } else {
                            r.plans.join(",")
                        },
                        r.created.as_deref().unwrap_or("-"),
                        r.description.map(|d| format!("\t{d}")).unwrap_or_default(),
                    ));
                }
                emit(&out)
            }
            Err(e) => failed("keys list", &e),
        },
        Action::Enable { name } | Action::Disable { name } => {
            let enable = matches!(a.action, Action::Enable { .. });
            match crate::release::keys::set_enabled(dir, name, enable) {
                Ok(changed) => {
                    let state = if enable { "enabled" } else { "disabled" };
                    if changed {
                        eprintln!("API key {name:?} {state}");
                    } else {
                        eprintln!("API key {name:?} was {state} already");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => failed(
                    if enable {
                        "keys enable"
                    } else {
                        "keys disable"
                    },
                    &e,
                ),
            }
        }
        Action::Delete { name } => match crate::release::keys::delete(dir, name) {
            Ok(()) => {
                eprintln!("API key {name:?} deleted");
                ExitCode::SUCCESS
            }
            Err(e) => failed("keys delete", &e),
        },
    }
}
