#!/usr/bin/env bash
# `make demo` from a fresh clone (new .venv, full install), timed: the "≤ 10 minutes on a fresh machine" target.
# Usage: benchmarks/fresh_demo.sh [repo-dir]   (prints one JSON line at the end)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
tmp=$(mktemp -d)
git clone -q "$repo" "$tmp/gancompress"
cd "$tmp/gancompress"
start=$(date +%s)
make demo > "$tmp/demo.log" 2>&1
end=$(date +%s)
tail -n 25 "$tmp/demo.log"
printf '{"fresh_make_demo_seconds": %d, "log": "%s", "report": "%s"}\n' "$((end - start))" "$tmp/demo.log" \
  "$tmp/gancompress/runs/demo/report.html"
