#!/bin/sh
# Builds the release binary and splits it for shipping:
#   dist/kith                      stripped: what users download and run
#   dist/kith.debug, dist/kith.dwp line tables and symbols, linked from
#                                  dist/kith by .gnu_debuglink
# With the two debug files beside the binary (or in /usr/lib/debug),
# RUST_BACKTRACE=1, gdb and perf name functions, files and lines; without
# them a panic still says where it happened.
set -eu
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p kith-cli
mkdir -p dist
cp "$target/release/kith" dist/kith
cp "$target/release/kith.dwp" dist/kith.dwp
objcopy --only-keep-debug dist/kith dist/kith.debug
strip --strip-all dist/kith
objcopy --add-gnu-debuglink=dist/kith.debug dist/kith
ls -l dist
