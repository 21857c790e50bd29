//! Part of `cli`, beside the data flow: `stagecraft render CASE.json`: renders one mapping template
//! exactly as the gateway would, so users can test a template before deploying it. Prints the
//! rendered text with no added newline; exits 1 with `line:column: message` on a template syntax
//! error.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn render(case: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(case) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("stagecraft render: cannot read {}: {e}", case.display());
            return ExitCode::FAILURE;
        }
    };
    match crate::template::render_case(&text) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", case.display());
            ExitCode::FAILURE
        }
    }
}
