#!/bin/bash
# Issue 19's protocol: Pred-Sim and FA under each initialisation, two seeds, on ResNet-18 width 1/4, K = 4
# (even split), the full Fashion-MNIST training set, batch 128, pad-2 crop + flip, 3 epochs, one engine
# thread per run (two runs at once on a 2-core machine: about 45 min in all).
#   Pred-Sim: Adam 5e-4, constant; init unset (0.5.0) and local-loss.
#   FA: SGD 0.05, momentum 0.9, weight decay 5e-4, cosine; init unset, biotorch and pytorch-default.
# Usage: scripts/init-protocol.sh [RESULTS_DIR (default results/init-protocol)] [BIN (default .build/release/blocklocal)]
# Runs already stored are not trained again; the summary is printed with `runs list`.
set -euo pipefail
OUT=${1:-results/init-protocol}
BIN=${2:-.build/release/blocklocal}
common="--model resnet18 --width 0.25 --dataset fashion-mnist --blocks 4 --split even --epochs 3 --batch 128
        --augment crop:2,flip --threads 1 --results $OUT"
ps="--method predsim --optimizer adam --lr 5e-4 --schedule constant"
fa="--method fa --optimizer sgd --lr 0.05 --momentum 0.9 --weight-decay 5e-4 --schedule cosine"
jobs=()
for seed in 0 1; do
  jobs+=("$ps --seed $seed" "$ps --init local-loss --seed $seed"
         "$fa --seed $seed" "$fa --init biotorch --seed $seed" "$fa --init pytorch-default --seed $seed")
done
mkdir -p "$OUT"
i=0
for j in "${jobs[@]}"; do
  # shellcheck disable=SC2086
  $BIN run $common $j > "$OUT/run-$i.log" 2>&1 &
  i=$((i + 1))
  if (( i % 2 == 0 )); then wait; fi
done
wait
$BIN runs list --results "$OUT"
