#!/usr/bin/env bash
# scripts/search-catch-up.sh BIN DIR: deletes DIR/search (the search index,
# a view), starts `kith up` on DIR, and prints how long until it serves (its
# invite line), how long one `kith status` through its API then takes, how
# long until its log says the search index caught up (RUST_LOG=info; the
# message of either version), and its VmHWM then. Stops the node.
set -euo pipefail
bin=${1:?kith binary}; dir=${2:?data dir}
rm -rf "$dir/search"
start=$(date +%s.%N)
RUST_LOG=info "$bin" --data-dir "$dir" up --api 127.0.0.1:0 --no-mdns \
  --listen /ip4/127.0.0.1/tcp/0 >"$dir/up.out" 2>"$dir/up.err" &
pid=$!
until grep -q invite "$dir/up.out" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "kith up exited: $(tail -3 "$dir/up.err")"; exit 1; }
  sleep 0.05
done
ready=$(echo "$(date +%s.%N) - $start" | bc)
status=$( { /usr/bin/time -f %e "$bin" --data-dir "$dir" status >/dev/null; } 2>&1 | tail -1)
for _ in $(seq 1 6000); do
  grep -qE "caught up with the store|search index caught up" "$dir/up.err" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
caught=$(echo "$(date +%s.%N) - $start" | bc)
hwm=$(awk '/^VmHWM:/{print int($2/1024)}' "/proc/$pid/status")
echo "serving after $ready s (a status then took $status s), search caught up after $caught s, VmHWM $hwm MiB"
kill "$pid"; wait "$pid" || true
