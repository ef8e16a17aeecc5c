#!/bin/bash
# Validation screen of the recovery recipe on the wide SRGAN teacher (docs/results.md "SRGAN at the wide profile"):
# the paper's Eq. 9 alone, the wide recipe (anchor 100), another anchor weight, the D_O feature distance, 1x1-adapter
# distillation and a 10x smaller D_O learning rate; 1/4 of the MACs, 20 % of the teacher's steps, scored on `val`,
# two runs at a time.
#   studies/srgan_screen.sh TEACHER OUT [SEEDS...]      (default seed 0)
# then: python studies/collect_compress_evals.py OUT --out results/structured/srgan_screen_val.json
set -u
TEACHER=$1; OUT=$2; shift 2
SEEDS=${*:-0}
cd "$(dirname "$0")/.."
{
for s in $SEEDS; do
  echo "recipe $s --set method.anchor=100"
  echo "paper $s"
  echo "anchor10 $s --set method.anchor=10"
  echo "dfeat100 $s --set method.anchor=100 --set method.d_feature=100"
  echo "dfeat100_noanchor $s --set method.d_feature=100"
  echo "fdist10 $s --set method.anchor=100 --set method.feature_distill=10"
  echo "lrd_low $s --set method.anchor=100 --set train.lr_d=2e-5"
done
} | xargs -P 2 -L 1 bash -c 'studies/wide_recipe.sh "$0" "$1" "${@:2}"' "$TEACHER" "$OUT"
