#!/usr/bin/env bash
# scripts/import-curve.sh BIN DIR BUNDLE AUTHORS: like import-rss.sh
# (`kith bundle import` of BUNDLE into a fresh DIR with no node running,
# after `trust add` of every author in AUTHORS), printing one sample of the
# import's /proc/PID/status every 0.5 s: seconds since the start, VmRSS,
# RssAnon (heap) and RssFile (mapped files), in MiB. To see whether memory
# stays flat as the store grows.
set -euo pipefail
bin=${1:?kith binary}; dir=${2:?data dir}; bundle=${3:?bundle}; authors=${4:?authors file}
rm -rf "$dir"
"$bin" --data-dir "$dir" init >/dev/null 2>&1
while read -r a; do
  [ -n "$a" ] && "$bin" --data-dir "$dir" trust add "$a" >/dev/null
done <"$authors"
start=$(date +%s.%N)
"$bin" --data-dir "$dir" bundle import "$bundle" >/dev/null 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  t=$(echo "$(date +%s.%N) - $start" | bc)
  awk -v t="$t" '/^RssAnon:/{a=$2}/^RssFile:/{f=$2}/^VmRSS:/{r=$2}END{printf "%.1f %d %d %d\n", t, r/1024, a/1024, f/1024}' "/proc/$pid/status" 2>/dev/null || true
  sleep 0.5
done
wait "$pid"
