#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): formatting, lints, unit and
# end-to-end tests (real gateway processes, real backends, real files and signals), and the
# mapping-template cases recorded against AWS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo build --bin stagecraft
bash scripts/vtl-cases.sh target/debug/stagecraft
cargo test --all-targets
bash deploy/check.sh
