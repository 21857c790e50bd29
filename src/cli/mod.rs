//! Beside the data flow: the command line (DESIGN.md section 7). Each subcommand is a thin call
//! into the library; exit codes are 0 for success and 1 for a problem the user must fix.

mod render;

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
    },
    /// Check the configuration directory: exit 0, or 1 with `file:line: problem` lines.
    Validate {
        #[arg(long, default_value = "config")]
        config: PathBuf,
    },
    /// Render one mapping template case (the format of shared/vtl/cases.json) and print it.
    Render {
        /// A JSON file: {"template", "body", "params", "stage_variables", "context"}.
        case: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => {
            init_logging();
            match crate::app::run(config.clone()) {
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
    }
}

/// Everything a reload checks, plus the drafts in `apis/` (which the proxy never reads).
fn validate(dir: &std::path::Path) -> ExitCode {
    let result = config::read_sources(dir, Scope::All)
        .and_then(|sources| config::parse_sources(&sources))
        .and_then(|raw| {
            // Compile even when validation failed, so problems that only show per stage (URIs,
            // backends) are reported in the same run.
            let mut problems = config::validate::validate(&raw);
            match crate::snapshot::compile(&raw, 0) {
                Ok(snap) => problems.0.extend(snap.warnings),
                Err(more) => problems.extend(more),
            }
            if problems.has_errors() {
                Err(problems)
            } else {
                Ok(problems)
            }
        });
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

/// Structured logs; the level comes from `STAGECRAFT_LOG`, else `RUST_LOG`, else `info`.
/// pingora logs through the `log` crate, bridged in by tracing-subscriber's `tracing-log`.
pub fn init_logging() {
    let filter = std::env::var("STAGECRAFT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
