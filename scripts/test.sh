#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): formatting, lints, unit and
# end-to-end tests (real gateway processes, real backends, real files and signals), and the
# mapping-template cases recorded against AWS.
#
# The tests run in two lanes: everything in parallel, except the end-to-end tests that assert a
# wall-clock bound (tests/timing), which run afterwards one at a time so that no other test's
# load eats into what they measure. STAGECRAFT_TEST_PATIENCE (default 1) scales every bound and
# deadline of the tests on a slow machine (README, "Tests").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
# ARCHITECTURE.md names code by file:line; it must match the tree it describes.
python3 scripts/architecture-anchors.py --check
# Each vendor/CRATE must be exactly a pingora release plus its series in patches/CRATE.
bash scripts/pingora-patches.sh check
cargo clippy --all-targets -- -D warnings
cargo build --bin stagecraft
# The binary just built, wherever cargo put it: CARGO_TARGET_DIR or build.target-dir may move it
# out of target/, and a stale binary left there would otherwise be the one checked.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/debug/stagecraft
bash scripts/vtl-cases.sh "$bin"
# --all-targets but the timing lane.
cargo test --lib --bins --test e2e --benches --examples
cargo test --test timing -- --test-threads=1
STAGECRAFT_BIN=$bin bash deploy/check.sh
