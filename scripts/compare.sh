#!/usr/bin/env bash
# The comparison: the same workload and faults against the monolith, billing extracted, and
# every module in its own container. Writes target/compare/report.md, summary.json and SVG
# charts, printing its progress. Needs Docker; builds the static binary, the image (when the
# binary changed) and the tool first. Arguments go to cleave-compare (`--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-static.sh
bash scripts/build-static.sh cleave-compare
exec target/x86_64-unknown-linux-gnu/release/cleave-compare "$@"
