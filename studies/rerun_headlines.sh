#!/usr/bin/env bash
# The headline results under the evaluation protocol of docs/method.md §7, in the order they depend on each other.
# Each step writes its run under $RUNS and copies results.json + report.md into results/<name>/ (sample grids and
# the HTML report stay in the run directory). Idempotent: a finished step is resumed (finished cells are skipped).
#   bash studies/rerun_headlines.sh            # everything (~2.5 h on an idle 2-core machine)
#   STEPS="stargan" bash studies/rerun_headlines.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/headlines}
BIN=${BIN:-.venv/bin}
JOBS=${JOBS:-2}
STEPS=${STEPS:-"stargan table2 dcgan"}
mkdir -p "$RUNS" results
export OMP_NUM_THREADS=1

keep() {  # keep <run dir> <results name>
  mkdir -p "results/$2"
  cp "$1/results.json" "$1/report.md" "results/$2/"
  [ -d "$1/curves" ] && cp -r "$1/curves" "results/$2/" || true
}

run() {  # run <out> <args...>: a fresh run, or --resume of an interrupted one
  local out=$1; shift
  if [ -f "$out/results.json" ]; then "$BIN/gancompress" "$@" --out "$out" --resume
  else "$BIN/gancompress" "$@" --out "$out" --overwrite; fi
}

for step in $STEPS; do
  case $step in
  stargan)
    # 1. choose among self_supervised's variants on the validation split (3 seeds, both budgets)
    run "$RUNS/table1-stargan-val" reproduce table1 --family stargan --profile quick --seeds 3 --jobs "$JOBS" \
      --methods self_supervised --variants sample,anchor1 --set eval.split=val
    keep "$RUNS/table1-stargan-val" table1-stargan-quick-val
    chosen=$("$BIN/python" studies/select_variant.py "$RUNS/table1-stargan-val/results.json")
    echo "variant chosen on the validation split: $chosen"
    variants=(); [ "$chosen" != paper ] && variants=(--variants "$chosen")
    # 2. every Table 1 row on the test split, the same teacher, the chosen variant (if any) beside the paper row
    run "$RUNS/table1-stargan" reproduce table1 --teacher "$RUNS/table1-stargan-val/teacher" --profile quick \
      --seeds 3 --jobs "$JOBS" "${variants[@]}"
    keep "$RUNS/table1-stargan" table1-stargan-quick
    ;;
  table2)
    # Table 2's StarGAN rows: the metric changed (per target domain, reference disjoint from the inputs)
    run "$RUNS/table2-stargan" reproduce table2 --tasks stargan --profile quick --jobs "$JOBS" \
      --teacher "stargan=$RUNS/table1-stargan-val/teacher"
    keep "$RUNS/table2-stargan" table2-stargan-quick
    ;;
  dcgan)
    # DCGAN Table 1, full profile: the paper's 10 % budget beside 20 %, 3 seeds, test split
    run "$RUNS/table1-dcgan" reproduce table1 --family dcgan --profile full --seeds 3 --jobs "$JOBS"
    keep "$RUNS/table1-dcgan" table1-dcgan-full
    ;;
  *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
