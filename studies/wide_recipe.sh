#!/bin/bash
# Recovery-recipe selection on the VALIDATION split at the wide profile (docs/results.md "Faster at the same
# quality"). TEACHER: a wide DCGAN teacher trained with data.val_fraction > 0 (ours: ngf 32, 12,000 steps, val 10 %;
# not shown converged, docs/reproduce.md "Wide teachers"). Every run: channel granularity to 1/4 of the MACs, group
# L2, widths rounded to 8, 20 % of the teacher's steps, self_supervised, scored on `val`. MACS=0.1 in the environment
# screens another MAC target.
#   studies/wide_recipe.sh TEACHER OUT NAME SEED [--set k=v ...]
# then: python studies/collect_compress_evals.py OUT --out results/structured/<name>.json
set -u
TEACHER=$1; OUT=$2; NAME=$3; SEED=$4; shift 4
out=$OUT/${NAME}_s$SEED
[ -f $out.json ] && [ -s $out.json ] && exit 0
mkdir -p $OUT
OMP_NUM_THREADS=1 gancompress compress --teacher $TEACHER --granularity channel --target-macs ${MACS:-0.25} \
  --importance l2 --round-to 8 --set train.budget_fraction=0.2 --evaluate --set eval.split=val --seed $SEED \
  --out $out --overwrite --json "$@" > $out.json 2> $out.log
