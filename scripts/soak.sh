#!/usr/bin/env bash
# Soak: places ${1:-20000} orders through the release shop with retention ages of a few seconds
# and checks, through /metrics only, that the outbox and inbox stay bounded (cleave_outbox_*,
# cleave_inbox_entries). Writes target/bench/soak.json; exits non-zero when an order is not
# paid or a table outgrew its retention window. Further arguments go to cleave-bench
# (e.g. --soak-connections 64).
set -euo pipefail
cd "$(dirname "$0")/.."
orders="${1:-20000}"
shift || true
cargo build --release -p shop -p cleave-bench --bins
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/cleave-bench" --shop "$target/release/shop" --soak "$orders" \
    --out target/bench/soak.json "$@"
