//! The `stagecraft` command line (every command but `run`) as a child process.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::patience;

/// A command that finishes in milliseconds; the deadline (scaled by [`patience`]) only bounds
/// a hang.
const CLI_DEADLINE: Duration = Duration::from_secs(60);

/// A started `stagecraft COMMAND --config DIR ARGS...`; its output goes to files outside the
/// configuration directory (so it never looks like configuration to a watching gateway).
pub struct CliRun {
    child: Child,
    what: String,
    out: TempDir,
}

/// Starts `stagecraft ARGS[0] --config DIR ARGS[1..]` without waiting for it.
pub fn spawn_cli(dir: &Path, args: &[&str]) -> CliRun {
    spawn_cli_env(dir, args, &[])
}

/// [`spawn_cli`] with environment variables.
pub fn spawn_cli_env(dir: &Path, args: &[&str], env: &[(String, String)]) -> CliRun {
    let out = tempfile::Builder::new()
        .prefix("stagecraft-cli-")
        .tempdir()
        .expect("create cli output dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stagecraft"));
    if let Some((command, rest)) = args.split_first() {
        cmd.arg(command).arg("--config").arg(dir).args(rest);
    }
    let child = cmd
        .env("STAGECRAFT_LOG", "warn")
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out.path().join("stdout")).expect("stdout file"))
        .stderr(std::fs::File::create(out.path().join("stderr")).expect("stderr file"))
        .spawn()
        .expect("spawn stagecraft");
    CliRun {
        child,
        what: format!("stagecraft {}", args.join(" ")),
        out,
    }
}

impl CliRun {
    /// Waits for the exit: (exit code, stdout, stderr).
    pub fn wait(mut self) -> (i32, String, String) {
        let deadline = patience(CLI_DEADLINE);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!("{} did not finish within {deadline:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let read =
            |name: &str| std::fs::read_to_string(self.out.path().join(name)).unwrap_or_default();
        (status.code().unwrap_or(-1), read("stdout"), read("stderr"))
    }
}

/// Runs `stagecraft ARGS[0] --config DIR ARGS[1..]`: (exit code, stdout, stderr).
pub fn run_cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    spawn_cli(dir, args).wait()
}

/// [`run_cli`] with environment variables.
pub fn run_cli_env(dir: &Path, args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    spawn_cli_env(dir, args, env).wait()
}
