#!/usr/bin/env bash
# Autobahn WebSocket conformance via kosoku (PyPI, a port of the Autobahn TestSuite):
# the server side (kosoku's fuzzingclient against examples/autobahn) and the client side
# (examples/autobahn_client against kosoku's fuzzingserver).
#
# usage: bash scripts/autobahn.sh            both: the server endpoints, then the client
#        bash scripts/autobahn.sh --server   build + run examples/autobahn, test each endpoint, gate
#        bash scripts/autobahn.sh --client   run kosoku's fuzzingserver, drive it with
#                                            examples/autobahn_client, gate (label "client")
#        bash scripts/autobahn.sh --install  only make sure kosoku is installed (used by .ci/run)
#
# env:
#   AUTOBAHN_ENDPOINTS            paths to test (default "m f p")
#   AUTOBAHN_ALLOW_UNIMPLEMENTED  case globs that may be UNIMPLEMENTED (default: none)
#   AUTOBAHN_PARALLELISM          kosoku -p (default 2)
#   AUTOBAHN_TIMEOUT              seconds per endpoint run before kosoku is killed (default 600)
#   AUTOBAHN_PORT                 port to use (default: a free one)
#   AUTOBAHN_SERVER_CMD           server command instead of the built example; "{addr}" in it is
#                                 replaced by host:port, else "--addr host:port" is appended
#   AUTOBAHN_KOSOKU_ARGS          extra kosoku args, e.g. "-i 1.* -i 2.*" (not glob-expanded);
#                                 both modes take -i/-x
#   AUTOBAHN_CLIENT_PARALLELISM   cases the client runs at once (default 2)
#   AUTOBAHN_CLIENT_TIMEOUT       seconds for the whole client run (default 1800: the compression
#                                 cases 12.*/13.* take most of it, kosoku being the bottleneck)
#   KOSOKU                        kosoku executable to use instead of the venv
#   KOSOKU_VENV                   venv path (default: $CARGO_TARGET_DIR or target/, + /kosoku-venv)
# Reports: target/autobahn/<endpoint>/ (index.html, index.json, kosoku.log), server log
# target/autobahn/server.log; client: target/autobahn/client/ (kosoku.log, client.log there).
# Exit 0 = every run passes the gate, 1 = some fail, 2 = setup error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
KOSOKU_VERSION=0.1.0
VENV="${KOSOKU_VENV:-$TARGET_DIR/kosoku-venv}"
PY="${PYTHON:-python3}"

die() { echo "autobahn: error: $*" >&2; exit 2; }

# Make sure $KOSOKU is runnable; (re)create the venv when missing, broken or the wrong version.
ensure_kosoku() {
  if [ -n "${KOSOKU:-}" ]; then
    "$KOSOKU" --help >/dev/null 2>&1 || die "KOSOKU=$KOSOKU does not run"
    return
  fi
  KOSOKU="$VENV/bin/kosoku"
  if "$KOSOKU" --help >/dev/null 2>&1 &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kosoku"))' 2>/dev/null)" = "$KOSOKU_VERSION" ]; then
    return
  fi
  echo "autobahn: installing kosoku==$KOSOKU_VERSION into $VENV"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV" || die "'$PY -m venv' failed (Debian: apt-get install python3-venv)"
  PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/python" -m pip install -q "kosoku==$KOSOKU_VERSION" || die "pip install kosoku==$KOSOKU_VERSION failed"
  "$KOSOKU" --help >/dev/null || die "kosoku installed but does not run"
}

RUN_SERVER=1
RUN_CLIENT=1
if [ "${1:-}" = "--install" ]; then
  ensure_kosoku
  echo "autobahn: kosoku $KOSOKU_VERSION ready: $KOSOKU"
  exit 0
elif [ $# -eq 1 ] && [ "$1" = "--server" ]; then
  RUN_CLIENT=0
elif [ $# -eq 1 ] && [ "$1" = "--client" ]; then
  RUN_SERVER=0
elif [ $# -gt 0 ]; then
  awk 'NR>1 && /^#/ {print; next} NR>1 {exit}' "$0" >&2
  exit 2
fi

ensure_kosoku
read -r -a ENDPOINTS <<<"${AUTOBAHN_ENDPOINTS:-m f p}"
read -r -a ALLOW <<<"${AUTOBAHN_ALLOW_UNIMPLEMENTED-}"
read -r -a EXTRA <<<"${AUTOBAHN_KOSOKU_ARGS:-}"
PAR="${AUTOBAHN_PARALLELISM:-2}"
TMO="${AUTOBAHN_TIMEOUT:-600}"
OUT="$TARGET_DIR/autobahn"
mkdir -p "$OUT"

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ -n "${AUTOBAHN_PORT:-}" ]; then
  PORT="$AUTOBAHN_PORT"
else
  PORT="$(free_port)"
fi
ADDR="127.0.0.1:$PORT"

if [ -n "${AUTOBAHN_SERVER_CMD:-}" ]; then
  CMD="$AUTOBAHN_SERVER_CMD"
  if [[ "$CMD" == *"{addr}"* ]]; then CMD="${CMD//\{addr\}/$ADDR}"; else CMD="$CMD --addr $ADDR"; fi
fi
BUILD=()
if [ "$RUN_SERVER" = 1 ] && [ -z "${AUTOBAHN_SERVER_CMD:-}" ]; then BUILD+=(--example autobahn); fi
if [ "$RUN_CLIENT" = 1 ]; then BUILD+=(--example autobahn_client); fi
if [ "${#BUILD[@]}" -gt 0 ]; then
  echo "autobahn: cargo build --release ${BUILD[*]}"
  cargo build --release "${BUILD[@]}"
fi
if [ -z "${AUTOBAHN_SERVER_CMD:-}" ]; then
  CMD="$(printf '%q' "$TARGET_DIR/release/examples/autobahn") --addr $ADDR"
fi

SERVER_PID=""
KOSOKU_PID=""
CLIENT_PID=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [ -n "$CLIENT_PID" ]; then
    kill "$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" 2>/dev/null || true
  fi
  if [ -n "$KOSOKU_PID" ]; then
    kill "$KOSOKU_PID" 2>/dev/null || true
    wait "$KOSOKU_PID" 2>/dev/null || true
  fi
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() { echo "--- last lines of $OUT/server.log:"; tail -n 20 "$OUT/server.log" || true; }

ALLOW_ARGS=()
for g in "${ALLOW[@]}"; do ALLOW_ARGS+=(--allow-unimplemented "$g"); done

rc=0
PASSED=()

# The server side: examples/autobahn (or AUTOBAHN_SERVER_CMD), kosoku's fuzzingclient per endpoint.
run_server() {
  echo "autobahn: starting server: $CMD"
  bash -c "exec $CMD" </dev/null >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!

  # wait for the port (and notice a server that died on start-up)
  deadline=$((SECONDS + ${AUTOBAHN_WAIT:-30}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "autobahn: server exited before listening on $ADDR"; server_log_tail; exit 2
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "autobahn: server not listening on $ADDR after ${AUTOBAHN_WAIT:-30}s"; server_log_tail; exit 2
    fi
    sleep 0.1
  done

  for ep in "${ENDPOINTS[@]}"; do
    ep="${ep#/}"
    dir="$OUT/${ep//\//_}"
    [ -n "$ep" ] || dir="$OUT/root"
    rm -rf "$dir"
    mkdir -p "$dir"
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "autobahn: server died"; server_log_tail; exit 1; }
    t0=$SECONDS
    # kosoku exits 1 whenever any case is not OK/NON-STRICT/INFORMATIONAL (UNIMPLEMENTED too),
    # so its status only matters for timeouts; index.json is what the gate judges.
    # (in the background + wait, so that INT/TERM are handled at once, not after kosoku ends)
    krc=0
    timeout --kill-after=10 "$TMO" "$KOSOKU" -m fuzzingclient "$ADDR/$ep" -o "$dir" -p "$PAR" "${EXTRA[@]}" \
      >"$dir/kosoku.log" 2>&1 </dev/null &
    KOSOKU_PID=$!
    wait "$KOSOKU_PID" || krc=$?
    KOSOKU_PID=""
    if [ "$krc" -eq 124 ] || [ "$krc" -eq 137 ]; then
      echo "autobahn /$ep: kosoku killed after ${TMO}s (log: $dir/kosoku.log)"
    fi
    echo "autobahn /$ep: kosoku ran $((SECONDS - t0))s (exit $krc), report $dir/index.html"
    grc=0
    "$PY" scripts/autobahn_gate.py "$dir" --label "/$ep" "${ALLOW_ARGS[@]}" || grc=$?
    if [ "$grc" -ne 0 ]; then
      rc=1
      [ "$grc" -eq 2 ] && tail -n 20 "$dir/kosoku.log"
    fi
  done

  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "autobahn: server is no longer running at the end of the run"; server_log_tail; rc=1
  fi
  [ "$rc" -ne 0 ] || PASSED+=("${ENDPOINTS[@]}")
}

# The client side: kosoku's fuzzingserver on a free port, examples/autobahn_client driving it
# (it runs every case, then asks for the reports), the report gated with the same allow list.
run_client() {
  local port dir t0 crc=0 krc=0 grc=0
  port="$(free_port)"
  dir="$OUT/client"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "autobahn client: starting kosoku fuzzingserver on 127.0.0.1:$port"
  local tmo="${AUTOBAHN_CLIENT_TIMEOUT:-1800}"
  timeout --kill-after=10 "$tmo" "$KOSOKU" -m fuzzingserver "127.0.0.1:$port" -o "$dir" "${EXTRA[@]}" \
    >"$dir/kosoku.log" 2>&1 </dev/null &
  KOSOKU_PID=$!
  local deadline=$((SECONDS + ${AUTOBAHN_WAIT:-30}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$KOSOKU_PID" 2>/dev/null; then
      echo "autobahn client: kosoku exited before listening"; tail -n 20 "$dir/kosoku.log"; exit 2
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "autobahn client: kosoku not listening after ${AUTOBAHN_WAIT:-30}s"; tail -n 20 "$dir/kosoku.log"
      exit 2
    fi
    sleep 0.1
  done
  t0=$SECONDS
  # (in the background + wait, so that INT/TERM are handled at once)
  timeout --kill-after=10 "$tmo" "$TARGET_DIR/release/examples/autobahn_client" \
    --addr "127.0.0.1:$port" --parallel "${AUTOBAHN_CLIENT_PARALLELISM:-2}" \
    >"$dir/client.log" 2>&1 </dev/null &
  CLIENT_PID=$!
  wait "$CLIENT_PID" || crc=$?
  CLIENT_PID=""
  if [ "$crc" -eq 124 ] || [ "$crc" -eq 137 ]; then
    echo "autobahn client: killed after ${tmo}s (log: $dir/client.log)"
  elif [ "$crc" -ne 0 ]; then
    echo "autobahn client: autobahn_client exited $crc"; tail -n 5 "$dir/client.log"
  fi
  # The fuzzingserver writes the reports and exits after /updateReports; kosoku's own exit
  # status (1 whenever a case is not OK) is not the verdict, index.json is.
  local stop=$((SECONDS + 60))
  while kill -0 "$KOSOKU_PID" 2>/dev/null && [ "$SECONDS" -lt "$stop" ]; do sleep 0.2; done
  kill "$KOSOKU_PID" 2>/dev/null || true
  wait "$KOSOKU_PID" 2>/dev/null || krc=$?
  KOSOKU_PID=""
  echo "autobahn client: ran $((SECONDS - t0))s (client exit $crc, kosoku exit $krc), report $dir/index.html"
  "$PY" scripts/autobahn_gate.py "$dir" --label client "${ALLOW_ARGS[@]}" || grc=$?
  if [ "$grc" -ne 0 ] || [ "$crc" -ne 0 ]; then
    rc=1
    [ "$grc" -eq 2 ] && tail -n 20 "$dir/kosoku.log"
  else
    PASSED+=(client)
  fi
}

[ "$RUN_SERVER" = 0 ] || run_server
[ "$RUN_CLIENT" = 0 ] || run_client

if [ "$rc" -eq 0 ]; then
  echo "autobahn: PASS (${PASSED[*]})"
else
  echo "autobahn: FAIL"
fi
exit "$rc"
