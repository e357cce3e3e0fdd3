#!/bin/bash
# incremental-build.sh BEFORE_TREE AFTER_TREE "FILE_BEFORE FILE_AFTER LABEL" ...
# Times incremental debug builds of `kith` after a real edit of one file
# (a new public function appended, undone after the build), alternating
# two source trees (e.g. a `git worktree` of an older commit and this one)
# with one target dir, three rounds (docs/BENCHMARKS.md, "Crates along the
# layers"). Example:
#   git worktree add /tmp/before ff1175f
#   scripts/incremental-build.sh /tmp/before . \
#     "node/src/store/views.rs store/src/store/views.rs store" \
#     "node/src/reader.rs core/src/reader.rs core"
set -u
BEFORE=$1; AFTER=$2; shift 2
SPECS=("$@")
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(cd "$AFTER" && pwd)/target}
build() {
  local tree=$1 file=$2 label=$3 bak
  bak=$(mktemp)
  ( cd "$tree" && cp "$file" "$bak" \
    && echo "pub fn kith_build_probe_$RANDOM() -> u32 { $RANDOM }" >> "$file" \
    && s=$(date +%s.%N) && cargo build -q -p kith-cli 2>/dev/null; e=$(date +%s.%N)
    cp "$bak" "$file"; rm -f "$bak"
    echo "$label $(echo "$e - $s" | bc) s" )
}
for tree in "$BEFORE" "$AFTER"; do (cd "$tree" && cargo build -q -p kith-cli); done
for round in 1 2 3; do
  for spec in "${SPECS[@]}"; do
    read -r file_before file_after label <<< "$spec"
    build "$BEFORE" "$file_before" "before $label"
    build "$AFTER" "$file_after" "after  $label"
  done
done
