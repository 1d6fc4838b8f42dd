#!/usr/bin/env bash
# Instruction profile of one server under a fixed workload (callgrind counts instructions, so
# the figures repeat on a noisy machine). Prints instructions per operation and the top
# functions (inclusive and self).
#
# usage: bash bench/profile.sh KIND LOAD-ARGS...
#   KIND: ours | axum | tcp | gorilla (gorilla needs bench/target/gorilla-echo from run.sh)
#   e.g. bash bench/profile.sh ours ws --conns 10 --size 1024 --messages 2000
#        bash bench/profile.sh axum http --conns 10 --messages 2000
# Output: bench/target/profile/KIND.callgrind (open with callgrind_annotate or kcachegrind).
# Uses the release binaries in $CARGO_TARGET_DIR (default bench/target); run.sh builds them.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARGET="${CARGO_TARGET_DIR:-$BENCH/target}"
kind="$1"; shift
name="${PROFILE_NAME:-$kind}"
out="$BENCH/target/profile"; mkdir -p "$out"
case "$kind" in
  gorilla) server=("$TARGET/gorilla-echo") ;;
  *) server=("$TARGET/release/bench-server" "$kind") ;;
esac
rm -f "$out/$name.callgrind" "$out/$name.stdout"
valgrind --tool=callgrind --callgrind-out-file="$out/$name.callgrind" "${server[@]}" \
  >"$out/$name.stdout" 2>"$out/$name.valgrind.log" &
vg=$!
for _ in $(seq 100); do grep -q listening "$out/$name.stdout" 2>/dev/null && break; sleep 0.2; done
addr=$(sed -n 's/listening on //p' "$out/$name.stdout")
result=$("$TARGET/release/bench-load" "$@" --addr "$addr")
echo "$result"
kill -TERM "$vg"; wait "$vg" || true
ops=$(echo "$result" | sed -n 's/.*"ops":\([0-9]*\).*/\1/p')
total=$(callgrind_annotate "$out/$name.callgrind" 2>/dev/null | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
echo "$name: $total instructions for $ops operations = $((total / ops)) per operation"
callgrind_annotate --inclusive=yes "$out/$name.callgrind" 2>/dev/null | sed -n '1,/^-- Auto/p' | grep -E '^ *[0-9,]+ ' | head -45 > "$out/$name.inclusive.txt" || true
callgrind_annotate "$out/$name.callgrind" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -40 > "$out/$name.self.txt" || true
echo "--- self (top 40): $out/$name.self.txt"; cat "$out/$name.self.txt"
