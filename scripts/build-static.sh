#!/usr/bin/env bash
# Builds the statically linked release binary the `shop` image is made of:
#   target/x86_64-unknown-linux-gnu/release/shop
# It runs in an empty root (`FROM scratch`, see Dockerfile). Extra arguments go to cargo, e.g.
# `-p cleave-compare` to build the comparison tool with the same flags (and shared artifacts).
#
# The image itself is built from this binary through the Docker engine's API by the container
# tests and by `scripts/compare.sh` whenever the binary changed (tests/compare/src/image.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS='-C target-feature=+crt-static'
exec cargo build --release --target x86_64-unknown-linux-gnu -p shop "$@"
