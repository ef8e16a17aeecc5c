#!/bin/bash
# Channel-compression recipe selection and ablation on the VALIDATION split (docs/results.md "Faster at the same
# quality"). TEACHER: a DCGAN teacher run trained with data.val_fraction > 0 (ours: ngf 32, 1500 steps, val 10 %).
# Every run: channel granularity to 1/4 of the MACs, group L2, 300 compression steps (20 %), self_supervised.
#   studies/channel_recipe.sh TEACHER OUT select     # one seed per candidate recipe
#   studies/channel_recipe.sh TEACHER OUT ablation   # 3 seeds: full recipe and each ingredient removed
# then: python studies/collect_compress_evals.py OUT/<select|ablation> --out results/structured/<name>.json
set -u
TEACHER=$1; OUT=$2; WHAT=$3
run() {
  name=$1; seed=$2; shift 2
  out=$OUT/$WHAT/${name}_s$seed
  [ -f $out.json ] && return
  mkdir -p $OUT/$WHAT
  OMP_NUM_THREADS=1 gancompress compress --teacher $TEACHER --granularity channel --target-macs 0.25 \
    --importance l2 --steps 300 --evaluate --set eval.split=val --seed $seed --out $out --overwrite --json "$@" \
    > $out.json 2> $out.log
}
A="--set method.anchor=1"; D="--set method.d_feature=1"; F="--set method.feature_distill=1"
B="--set method.bn_reestimate=8"; E="--set train.ema=0.999"
if [ "$WHAT" = select ]; then
  run paper 0; run anchor 0 $A; run feat 0 $F; run dfeat 0 $D; run bnre 0 $B; run ema 0 $E
  run full 0 $A $D $F $B $E; run anchor_dfeat 0 $A $D
  run anchor_dfeat_feat01 0 $A $D --set method.feature_distill=0.1
  run anchor_dfeat_ema99 0 $A $D --set train.ema=0.99; run anchor3 0 --set method.anchor=3
else
  for s in 0 1 2; do
    run paper $s; run recipe $s $A; run full $s $A $D $F $B $E
    run full-anchor $s $D $F $B $E; run full-dfeat $s $A $F $B $E; run full-feat $s $A $D $B $E
    run full-bnre $s $A $D $F $E; run full-ema $s $A $D $F $B
  done
fi
