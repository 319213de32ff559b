#!/usr/bin/env bash
# The comparison of an application's placements in containers: the same workload and faults
# against every placement it names (the shop's: monolith, billing-extracted, all-separate).
# Writes target/compare/<app>/report.md, summary.json and SVG charts, printing its progress.
# Needs Docker; builds the application's static binary, its image (when the binary changed)
# and its compare tool first.
#
#   scripts/compare.sh [APP] [FLAGS]   APP: shop (default) or library; FLAGS: `--help`,
#                                      e.g. --smoke, --placements monolith,billing-extracted,
#                                      --postgres "$(scripts/postgres.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
app=shop
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    app=$1
    shift
fi
bash scripts/build-static.sh "$app"
bash scripts/build-static.sh "$app-compare"
exec "target/x86_64-unknown-linux-gnu/release/$app-compare" "$@"
