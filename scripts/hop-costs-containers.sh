#!/usr/bin/env bash
# The hop cost table measured between two containers on a Docker network of its own, as the
# comparison runs an application's placements (loopback, which `scripts/bench.sh --hop-costs`
# measures, does not cross a bridge, veth pairs or netfilter). Writes
# target/bench/hop-costs-containers.json, which `plan --costs` and `scripts/compare.sh --costs`
# read; `scripts/compare.sh` runs this first unless it is given `--costs`.
#
#   scripts/hop-costs-containers.sh [APP] [FLAGS]   APP (default shop): the application whose
#       idle process memory goes in the table; FLAGS go to `cleave-bench --hop-costs`
#       (e.g. --smoke).
#
# Needs Docker; builds the static binaries of APP and of cleave-bench, and an image of
# cleave-bench from the same Dockerfile as any application's (nothing is pulled).
set -euo pipefail
cd "$(dirname "$0")/.."
app=shop
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    app=$1
    shift
fi
bash scripts/build-static.sh "$app"
bash scripts/build-static.sh cleave-bench
release=target/x86_64-unknown-linux-gnu/release
image=cleave-bench:hop-costs
context=$(mktemp -d)
cp "$release/cleave-bench" "$context/app"
if ! built=$(docker build --quiet --tag "$image" --file Dockerfile "$context" 2>&1); then
    echo "$built" >&2
    exit 1
fi
rm -rf "$context"

network=cleave-hops-$$
cleanup() {
    docker rm --force "$network-far" >/dev/null 2>&1 || true
    docker network rm "$network" >/dev/null 2>&1 || true
}
trap cleanup EXIT
docker network create "$network" >/dev/null
docker run --detach --name "$network-far" --network "$network" --tmpfs /tmp \
    "$image" --hop-far-side 0.0.0.0:9000 >/dev/null
mkdir -p target/bench
# The near side: the sending processes, the in-process side and the idle application.
docker run --rm --network "$network" --tmpfs /tmp \
    --volume "$PWD/$release/$app:/$app:ro" --volume "$PWD/target/bench:/out" \
    "$image" --shop "/$app" --hop-costs --hop-far "http://$network-far:9000" \
    --out /out/hop-costs-containers.json "$@" >/dev/null
echo "wrote target/bench/hop-costs-containers.json"
