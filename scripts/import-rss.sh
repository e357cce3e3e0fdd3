#!/usr/bin/env bash
# scripts/import-rss.sh BIN DIR BUNDLE AUTHORS [CONFIG_LINE]: like
# import-disk.sh (`kith bundle import` of BUNDLE into a fresh DIR with no node
# running, after `trust add` of every author in AUTHORS), appending
# CONFIG_LINE to DIR/config.toml first if given, and sampling the import's
# /proc/PID/status every 0.2 s: prints its time, VmHWM, and the largest
# RssAnon (heap) and RssFile (mapped files) seen. jemalloc settings go in the
# environment: `_RJEM_MALLOC_CONF=narenas:1 scripts/import-rss.sh …`.
# `CURVE=1` also prints every sample as it is taken (seconds since the start,
# VmRSS, RssAnon, RssFile, in MiB), to see whether memory stays flat.
set -euo pipefail
bin=${1:?kith binary}; dir=${2:?data dir}; bundle=${3:?bundle}; authors=${4:?authors file}; conf=${5:-}
rm -rf "$dir"
"$bin" --data-dir "$dir" init >/dev/null 2>&1
while read -r a; do
  [ -n "$a" ] && "$bin" --data-dir "$dir" trust add "$a" >/dev/null
done <"$authors"
[ -n "$conf" ] && echo "$conf" >>"$dir/config.toml"
start=$(date +%s.%N)
"$bin" --data-dir "$dir" bundle import "$bundle" >/dev/null 2>&1 &
pid=$!; anon=0; file=0; hwm=0
while kill -0 "$pid" 2>/dev/null; do
  read -r a f h r < <(awk '/^RssAnon:/{a=$2}/^RssFile:/{f=$2}/^VmHWM:/{h=$2}/^VmRSS:/{r=$2}END{print a+0,f+0,h+0,r+0}' "/proc/$pid/status" 2>/dev/null || echo 0 0 0 0)
  (( a > anon )) && anon=$a; (( f > file )) && file=$f; (( h > hwm )) && hwm=$h
  [ -n "${CURVE:-}" ] && echo "$(echo "$(date +%s.%N) - $start" | bc) $((r / 1024)) $((a / 1024)) $((f / 1024))"
  sleep 0.2
done
wait "$pid"
end=$(date +%s.%N)
echo "time $(echo "$end - $start" | bc) s, VmHWM $((hwm / 1024)) MiB, largest heap $((anon / 1024)) MiB, largest mapped $((file / 1024)) MiB, store $(du -sb "$dir/store" | cut -f1) bytes"
