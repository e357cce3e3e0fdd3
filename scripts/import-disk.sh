#!/usr/bin/env bash
# scripts/import-disk.sh BIN DIR BUNDLE AUTHORS: `kith bundle import` of
# BUNDLE into a fresh data dir DIR with no node running (after `trust add`
# of every author in the file AUTHORS, one per line); prints the import's
# time and peak RSS and the store's bytes on disk. The bundle and the
# authors come from `cargo run --release -p kith-node --example memprobe --
# bundle BUNDLE 100000` (docs/BENCHMARKS.md).
set -euo pipefail
bin=${1:?kith binary}; dir=${2:?data dir}; bundle=${3:?bundle}; authors=${4:?authors file}
rm -rf "$dir"
"$bin" --data-dir "$dir" init >/dev/null 2>&1
while read -r a; do
  [ -n "$a" ] && "$bin" --data-dir "$dir" trust add "$a" >/dev/null
done <"$authors"
/usr/bin/time -f "import %e s, peak %M KiB" "$bin" --data-dir "$dir" bundle import "$bundle" 2>&1 >/dev/null | tail -1
echo "store $(du -sb "$dir/store" | cut -f1) bytes; of it sled's blobs $(du -sb "$dir/store/blobs" | cut -f1); search $(du -sb "$dir/search" 2>/dev/null | cut -f1)"
