#!/usr/bin/env bash
# make bench: starts a throwaway Redis on loopback for the comparison, runs
# the benchmark (with the memory check), stops Redis. Extra arguments go to
# the bench program (make bench-scale passes the big database's size).
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT=6391
dir=$(mktemp -d)
cleanup() {
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --daemonize yes --logfile "$dir/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m), $(cc --version | head -1)"
# instructions per call (callgrind) and the 16-process run for the default
# size; the big database of make bench-scale would take hours under valgrind,
# and checking the processes' counters against its 10^7 ledger rows minutes
instr=()
[ $# -eq 0 ] && instr=(--instr --procs 16)
dist/bench/bench --redis "$PORT" --memory "${instr[@]}" "$@"
