#!/usr/bin/env bash
# Builds a statically linked release binary of package `$1` (default `shop`): an application's
# binary is what its image is made of (target/x86_64-unknown-linux-gnu/release/<app>), which
# runs in an empty root (`FROM scratch`, see Dockerfile). `scripts/build-static.sh shop-compare`
# builds the shop's comparison tool with the same flags. One package per cargo run, so that each always resolves
# the same features and an incremental build stays incremental.
#
# The image itself is built from the binary through the Docker engine's API by the container
# tests and by `scripts/compare.sh` whenever the binary changed
# (tests/compare/src/image.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS='-C target-feature=+crt-static'
exec cargo build --release --target x86_64-unknown-linux-gnu -p "${1:-shop}"
