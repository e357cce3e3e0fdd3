#!/bin/sh
# scripts/sample-rss.sh CMD [ARGS...]: runs CMD (its output in
# sample-rss.out) and prints, every 0.5 s while it runs, the seconds since
# start and its VmRSS, RssAnon (heap), RssFile (mapped files) and VmHWM in MiB.
# Used in docs/BENCHMARKS.md to tell a heap peak from mapped index pages.
"$@" > sample-rss.out 2>&1 &
pid=$!
start=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
  now=$(date +%s.%N)
  awk -v t="$(echo "$now - $start" | bc)" '/^(VmRSS|RssAnon|RssFile|VmHWM):/ { v[$1] = int($2 / 1024) }
    END { printf "%6.1f rss %4d anon %4d file %4d hwm %4d\n", t, v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["VmHWM:"] }' \
    "/proc/$pid/status" 2>/dev/null
  sleep 0.5
done
wait "$pid"
