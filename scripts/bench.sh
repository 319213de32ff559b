#!/usr/bin/env bash
# Runs the benchmarks in release mode and writes target/bench/summary.json.
#
# Every figure is a ratio against a baseline measured in the same run on this machine.
# `scripts/bench.sh --smoke` is a quick check that the benchmarks work; its figures mean nothing.
# `scripts/bench.sh --hop-costs` measures what one hop costs by message size (requests, event
# deliveries through the relay, to a second process on loopback) and the shop's idle memory,
# into target/bench/hop-costs.json: the table `<app> plan --costs FILE` predicts extractions
# from on this machine (`--hop-idle-ms MS`: the pause before each message, 1 by default; hops
# cost more after longer pauses, so use your traffic's).
# `scripts/bench.sh --only-order-flow [--costs FILE]` checks it: the shop
# with billing extracted on loopback, measured beside what `shop plan` predicted.
# `scripts/bench.sh --scaling --postgres URL` runs the shop with billing at 1, 2 and 3 replicas
# (then 3 with one killed mid-run), events through NATS JetStream (nats-server on PATH),
# billing's capture waiting `--gateway-latency-ms` (20): paid/s and CPU per order of each, into
# target/bench/scaling.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p shop -p cleave-bench --bins
exec target/release/cleave-bench --shop target/release/shop "$@"
