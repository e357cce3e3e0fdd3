#!/bin/bash
# export-memory.sh BIN DIR BUNDLE AUTHORS_FILE: a node holding BUNDLE (its authors,
# one per line, in AUTHORS_FILE: `memprobe bundle` prints them), its RSS
# before and after `kith bundle export` (docs/BENCHMARKS.md, "Export memory").
set -u
BIN=$1; D=$2; BUNDLE=$3; AUTHORS=$4
rm -rf $D; $BIN --data-dir $D init >/dev/null
for a in $(cat $AUTHORS); do $BIN --data-dir $D trust add $a >/dev/null || exit 1; done
$BIN --data-dir $D bundle import $BUNDLE >/dev/null 2>&1 || { echo import failed; exit 1; }
$BIN --data-dir $D up > $D.up.log 2>&1 &
PID=$!
for i in $(seq 60); do $BIN --data-dir $D status >/dev/null 2>&1 && break; sleep 1; done
sleep 3
echo "idle: $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"
/usr/bin/time -f "export took %e s, the CLI peaked at %M KiB" $BIN --data-dir $D bundle export $D.out.bundle 2>&1 | tail -2
echo "after export: $(grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \n' ' ')"
ls -la $D.out.bundle | awk '{print "bundle bytes", $5}'
kill $PID; wait $PID 2>/dev/null
