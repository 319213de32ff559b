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
#
# `plan`'s predictions (section 1 of the report) price each hop from a table measured between
# two containers on a Docker network, as the placements run (scripts/hop-costs-containers.sh,
# about two minutes), unless FLAGS name one with `--costs FILE`. It is measured with 20 ms
# between messages, and the predictions are checked with 20 ms between operations: long enough
# for an operation's asynchronous tail to end before the next one, and alike on both sides,
# since hops cost more after longer pauses (ADR 14).
set -euo pipefail
cd "$(dirname "$0")/.."
app=shop
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    app=$1
    shift
fi
bash scripts/build-static.sh "$app"
bash scripts/build-static.sh "$app-compare"
costs=yes
smoke=()
for arg in "$@"; do
    case $arg in
        --costs | --costs=* | --help | -h) costs=no ;;
        --smoke) smoke=(--smoke) ;;
    esac
done
if [ $costs = yes ]; then
    bash scripts/hop-costs-containers.sh "$app" --hop-idle-ms 20 "${smoke[@]}"
    set -- "$@" --costs target/bench/hop-costs-containers.json
fi
exec "target/x86_64-unknown-linux-gnu/release/$app-compare" "$@"
