//! The `stagecraft` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    stagecraft::cli::main()
}
