#!/bin/sh
# Times a build of Kith's own crates from clean (dependencies already
# built, one shared target dir) in two trees, alternated:
#   scripts/clean-build.sh BEFORE_TREE AFTER_TREE [ROUNDS]
# e.g. `git worktree add /tmp/before ff1175f && scripts/clean-build.sh /tmp/before .`
set -e
before=$(cd "$1" && pwd); after=$(cd "$2" && pwd); rounds=${3:-2}
target=${CARGO_TARGET_DIR:-$after/target}
own() { # the workspace's own packages, from its manifest
  (cd "$1" && cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(" ".join("-p "+p["name"] for p in json.load(sys.stdin)["packages"]))')
}
for round in $(seq "$rounds"); do
  for tree in "$before" "$after"; do
    cd "$tree"
    # shellcheck disable=SC2046
    CARGO_TARGET_DIR=$target cargo clean -q $(own "$tree")
    start=$(date +%s.%N)
    CARGO_TARGET_DIR=$target cargo build -q -p kith-cli
    end=$(date +%s.%N)
    echo "round $round  $tree  $(echo "$end - $start" | bc) s"
  done
done
