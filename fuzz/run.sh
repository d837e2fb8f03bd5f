#!/usr/bin/env bash
# Runs fuzz targets for a bounded time each, on the stable toolchain:
#
#   fuzz/run.sh [TARGET=SECONDS …]      (default: reader=60)
#
# Builds the seed corpus of each target if it is empty (seeds.sh), then runs
# `cargo fuzz run` without a sanitizer (`-s none`: the crate forbids unsafe
# code; debug assertions and overflow checks stay on), which a stable compiler
# builds as it is. A crash fails the run and leaves its input in
# fuzz/artifacts/TARGET/. Extra libFuzzer flags can be given in FUZZ_FLAGS (such
# as "-runs=1000000").
set -euo pipefail
cd "$(dirname "$0")"
[ "$#" -gt 0 ] || set -- reader=60
for spec in "$@"; do
  target="${spec%%=*}"
  seconds="${spec#*=}"
  ./seeds.sh "$target"
  cargo fuzz build -s none "$target"
  # shellcheck disable=SC2086
  cargo fuzz run -s none "$target" "corpus/$target" -- \
    -dict=dicts/pb.dict -max_len=8192 -max_total_time="$seconds" \
    -print_final_stats=1 ${FUZZ_FLAGS:-}
done
