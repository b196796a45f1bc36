#!/bin/sh
# make bench: every benchmark, each printing its own baseline beside it.
set -e
BUILD=${BUILD:-build}
echo "== core: matmul and element-wise"
bin/tau bench/bench_core.lua "$BUILD/bench/sgemm_baseline"
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
for s in bench/bench_*.lua; do
    [ "$s" = bench/bench_core.lua ] && continue
    [ -f "$s" ] || continue
    echo "== $s"
    bin/tau "$s"
done
