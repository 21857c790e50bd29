//! The `stagecraft` binary: everything lives in the library; see `cli`.

/// mimalloc: the request path allocates many small, short-lived buffers (headers, bodies,
/// futures) on one thread and frees them there; glibc's malloc spent about 13% of the proxy's
/// CPU on them (profile in benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    stagecraft::cli::main()
}
