#!/usr/bin/env bash
# Benchmarks: this project's WebSocket echo and plain HTTP handler against axum-native,
# gorilla/websocket (Go) and a raw TCP echo. Writes BENCHMARKS.md and bench/chart.svg.
#
# usage: bash bench/run.sh [bench-run flags]   full run, about 7 minutes on 2 cores
#        bash bench/run.sh --smoke             build, then a 1 s run of one scenario against
#                                              this project's server only; exit 0 = it works
#   e.g. bash bench/run.sh --only c100_1k,idle --rounds 3
#   flags: --duration SECS (3) --warmup SECS (1) --rounds N (3) --idle-conns N (10000)
#          --only c1_16b,c100_1k,c10_64k,c10_1k_w32,c10_1m,handshake,idle,http
#
# Needs: cargo; taskset (util-linux) to pin server and client to different cores. Optional,
# installed with apt-get when missing and we are root: golang-go and
# golang-github-gorilla-websocket-dev (gorilla, built in GOPATH mode), wrk (plain HTTP load;
# without it the harness's own HTTP client is used). Without Go, gorilla is skipped, and the
# report says so.
#
# The bench workspace builds into bench/target (release for the full run, debug for --smoke).
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="$BENCH/target"
smoke=0
for arg in "$@"; do [ "$arg" = "--smoke" ] && smoke=1; done

# 10,000 idle connections: each side needs that many descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$smoke" = 1 ]; then
  cargo build --quiet --manifest-path "$BENCH/Cargo.toml" --bins
  exec "$CARGO_TARGET_DIR/debug/bench-run" "$@"
fi

mkdir -p "$CARGO_TARGET_DIR"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  command -v go >/dev/null || missing+=(golang-go)
  [ -d /usr/share/gocode/src/github.com/gorilla/websocket ] || missing+=(golang-github-gorilla-websocket-dev)
  command -v wrk >/dev/null || missing+=(wrk)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench: installing ${missing[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
      >"$BENCH/target/apt.log" 2>&1 || echo "bench: apt-get install failed (see bench/target/apt.log)" >&2
  fi
fi

cargo build --quiet --release --manifest-path "$BENCH/Cargo.toml" --bins

go_args=()
GO_BIN="$CARGO_TARGET_DIR/gorilla-echo"
if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/gorilla/websocket ]; then
  if GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$CARGO_TARGET_DIR/go-cache" \
    go build -o "$GO_BIN" "$BENCH/go/echo.go"; then
    go_args=(--go-bin "$GO_BIN")
  else
    echo "bench: building the gorilla server failed: gorilla is skipped" >&2
  fi
else
  echo "bench: Go or gorilla/websocket not installed (Debian: golang-go," \
    "golang-github-gorilla-websocket-dev): gorilla is skipped" >&2
fi

exec "$CARGO_TARGET_DIR/release/bench-run" "${go_args[@]}" "$@"
