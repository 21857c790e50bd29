//! `stagecraft render CASE.json`: renders one mapping template exactly as the gateway would,
//! so users can test a template before deploying it.

use std::path::Path;
use std::process::ExitCode;

pub fn render(case: &Path) -> ExitCode {
    let _ = case;
    eprintln!("stagecraft render: mapping templates are not in this build yet");
    ExitCode::FAILURE
}
