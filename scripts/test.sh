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
# The binary just built, wherever cargo put it: CARGO_TARGET_DIR or build.target-dir may move it
# out of target/, and a stale binary left there would otherwise be the one checked.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/debug/stagecraft
bash scripts/vtl-cases.sh "$bin"
cargo test --all-targets
STAGECRAFT_BIN=$bin bash deploy/check.sh
