//! Beside the data flow: the command line (the README's command reference). Each subcommand is a thin call
//! into the library; exit codes are 0 for success and 1 for a problem the user must fix.

mod canary;
mod deploy;
mod diff;
mod export;
mod history;
mod import;
mod keys;
mod promote;
mod render;
mod rollback;
mod routes;
mod usage;
mod vars;

use crate::config::{self, Scope};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "stagecraft",
    version,
    about = "API gateway data plane with stages, deployments and weighted versioned backends"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every stage of the configuration directory; reload when it changes.
    Run {
        /// The configuration directory.
        #[arg(long, default_value = "config")]
        config: PathBuf,
        /// Binary upgrade: take the listening sockets over from the running stagecraft (through
        /// gateway.yaml's `upgrade_sock`), then send the old process SIGQUIT.
        #[arg(short = 'u', long)]
        upgrade: bool,
    },
    /// Check the configuration directory: exit 0, or 1 with `file:line: problem` lines.
    Validate {
        #[arg(long, default_value = "config")]
        config: PathBuf,
    },
    /// Render one mapping template case (the format of tests/data/vtl/cases.json) and print it.
    Render {
        /// A JSON file: {"template", "body", "params", "stage_variables", "context"}.
        case: PathBuf,
    },
    /// Snapshot apis/API.yaml into a new immutable deployment and point a stage at it; prints its id.
    Deploy(deploy::Args),
    /// Point a stage back at its previous deployment, or at any deployment of its API.
    Rollback(rollback::Args),
    /// List the deployments a stage has served, the current one marked.
    History(history::Args),
    /// Routes added, removed and changed between an API's draft and what a stage serves.
    Diff(diff::Args),
    /// Send a share of a stage's requests to another deployment, with variable overrides.
    Canary(canary::Args),
    /// Make a stage's canary its deployment, merging the canary's variables; remove the canary.
    Promote(promote::Args),
    /// Set or remove a stage's variables.
    Vars(vars::Args),
    /// Show what each stage serves: routes, integrations and where their URIs resolve.
    Routes(routes::Args),
    /// API keys: create (the value is printed once), list, enable, disable, delete.
    Keys(keys::Args),
    /// Each key's quota used and left in the current period, from the running store.
    Usage(usage::Args),
    /// Write the draft apis/API.yaml from an OpenAPI definition with API Gateway's extensions.
    Import(import::Args),
    /// Print what a stage serves as OpenAPI 3.0 or Swagger 2.0 (AWS's get-export shape).
    Export(export::Args),
}

/// `--config DIR`, shared by the lifecycle commands.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The configuration directory.
    #[arg(long = "config", value_name = "DIR", default_value = "config")]
    pub dir: PathBuf,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, upgrade } => {
            init_logging();
            match crate::app::run(config.clone(), upgrade) {
                Ok(()) => ExitCode::SUCCESS,
                Err(problems) => {
                    eprintln!("stagecraft: cannot start with {}:", config.display());
                    eprintln!("{problems}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate { config } => validate(&config),
        Command::Render { case } => render::render(&case),
        Command::Deploy(args) => deploy::run(&args),
        Command::Rollback(args) => rollback::run(&args),
        Command::History(args) => history::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Canary(args) => canary::run(&args),
        Command::Promote(args) => promote::run(&args),
        Command::Vars(args) => vars::run(&args),
        Command::Routes(args) => routes::run(&args),
        Command::Keys(args) => keys::run(&args),
        Command::Usage(args) => usage::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Export(args) => export::run(&args),
    }
}

/// A lifecycle command's error on stderr, `stagecraft COMMAND: what is wrong`; exit 1.
fn failed(command: &str, e: &crate::release::Error) -> ExitCode {
    eprintln!("stagecraft {command}: {e}");
    ExitCode::FAILURE
}

/// Warnings about the files a command wrote go to stderr: stdout is for scripts.
fn warn(problems: &config::Problems) {
    for p in &problems.0 {
        eprintln!("{p}");
    }
}

/// Writes what a command prints for scripts; a closed pipe (`stagecraft history | head`) is
/// not an error worth a panic.
fn emit(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    ExitCode::SUCCESS
}

/// `--json` output: one pretty-printed document.
fn print_json(value: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(s) => emit(&format!("{s}\n")),
        Err(e) => {
            eprintln!("stagecraft: cannot write JSON: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Everything a reload checks, plus the drafts in `apis/` (which the proxy never reads).
fn validate(dir: &std::path::Path) -> ExitCode {
    let result = crate::snapshot::load::load(dir, Scope::All, &Default::default(), 0)
        .map(|loaded| config::Problems(loaded.snapshot.warnings))
        .map_err(config::Problems::from);
    match result {
        Ok(warnings) => {
            for w in &warnings.0 {
                println!("{w}");
            }
            println!("{}: valid", dir.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems.0 {
                println!("{p}");
            }
            let n = problems.errors().count();
            println!(
                "{}: {n} error{}",
                dir.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

/// Structured logs on stderr; the level comes from `STAGECRAFT_LOG`, else `RUST_LOG`, else
/// `info`; `STAGECRAFT_LOG_FORMAT=json` writes one JSON object per line. pingora logs through
/// the `log` crate, bridged in by tracing-subscriber's `tracing-log`.
pub fn init_logging() {
    let filter = std::env::var("STAGECRAFT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    let _ = if std::env::var("STAGECRAFT_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
    {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}
