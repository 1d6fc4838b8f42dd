#!/usr/bin/env bash
# The project's single test command: bash scripts/test.sh
# Runs, failing fast: rustfmt check, clippy (-D warnings), rustdoc (-D warnings), cargo test
# (unit, integration, doc),
# then the Autobahn conformance run (scripts/autobahn.sh) once examples/autobahn.rs exists.
# SKIP_AUTOBAHN=1 skips the Autobahn step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STEP=""
T0=$SECONDS
finish() {
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "test.sh: ALL PASSED in $((SECONDS - T0))s"
  else
    echo "test.sh: FAILED at step '$STEP' (exit $rc) after $((SECONDS - T0))s"
  fi
}
trap finish EXIT

step() {
  STEP="$*"
  echo
  echo "==> $STEP"
}

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

# --all-features: the websocket crate's `rustls` feature (wss:// in the Dialer) is linted and
# tested too.
step "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc --workspace --no-deps --all-features (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

step "cargo test --workspace --all-features"
cargo test --workspace --all-features

step "autobahn"
if [ "${SKIP_AUTOBAHN:-0}" = 1 ]; then
  echo "autobahn: skipped (SKIP_AUTOBAHN=1)"
elif [ -f examples/autobahn.rs ]; then
  bash scripts/autobahn.sh
else
  echo "autobahn: skipped (examples/autobahn.rs not present yet)"
fi
step "bench smoke"
if [ -f bench/run.sh ]; then
  # Builds the bench workspace and runs one second of one scenario, so the harness keeps
  # working; the measured run is `bash bench/run.sh` (see BENCHMARKS.md).
  bash bench/run.sh --smoke
else
  echo "bench: skipped (bench/run.sh not present)"
fi
STEP="done"
