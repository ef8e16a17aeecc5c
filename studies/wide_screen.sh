#!/bin/bash
# Validation screen of recovery ingredients and of the anchor weight on top of the wide recipe (anchor 100), paired
# seeds 0/1, two runs at a time (docs/results.md "Screen on the EMA teacher"). TEACHER: the EMA wide DCGAN teacher.
#   studies/wide_screen.sh TEACHER OUT
# then: python studies/collect_compress_evals.py OUT --out results/structured/wide_screen_val.json
set -u
TEACHER=$1; OUT=$2
cd "$(dirname "$0")/.."
{
for s in 0 1; do
  echo "recipe $s --set method.anchor=100"
  echo "dfeat100 $s --set method.anchor=100 --set method.d_feature=100"
  echo "fdist10 $s --set method.anchor=100 --set method.feature_distill=10"
  echo "bnre8 $s --set method.anchor=100 --set method.bn_reestimate=8"
  echo "anchor300 $s --set method.anchor=300"
  echo "anchor30 $s --set method.anchor=30"
done
} | xargs -P 2 -L 1 bash -c 'studies/wide_recipe.sh "$0" "$1" "${@:2}"' "$TEACHER" "$OUT"
