#!/bin/sh
# make bench: every benchmark, each printing its own baseline beside it.
set -e
BUILD=${BUILD:-build}
echo "== core: matmul and element-wise (bench/bench_core.lua)"
bin/tau bench/bench_core.lua "$BUILD/bench/sgemm_baseline"
echo "== conv2d, attention and cross-entropy kernels (bench/bench_conv.c)"
"$BUILD/bench/bench_conv" 1 2
echo "== training and inference throughput (bench/bench_train.lua)"
bin/tau bench/bench_train.lua 2
echo "== PGD-20 against forward+backward (bench/bench_attack.lua)"
bin/tau bench/bench_attack.lua 256 3 2
