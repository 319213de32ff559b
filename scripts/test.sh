#!/usr/bin/env bash
# The whole test suite, with everything it needs set up first. This is the README's test
# command, and what CI runs.
#
# - installs cargo-nextest if it is missing;
# - installs nats-server (JetStream) from Debian's packages if it is missing, for the suite
#   that sends events through NATS (tests/shop/broker.rs); without it that suite skips locally
#   with a printed reason, and fails when CI is set;
# - finds or starts a PostgreSQL server for the PostgreSQL suite (scripts/postgres.sh); without
#   one that suite skips locally with a printed reason, and fails when CI is set;
# - installs python3 from Debian's packages if it is missing, for the suite that runs the shop
#   with its billing written in Python (examples/python-billing); without it that suite skips
#   locally with a printed reason, and fails when CI is set;
# - builds the static release binaries the container suites' images are made of
#   (scripts/build-static.sh shop, and library for the library's comparison smoke run), when
#   Docker is there or CI is set; without Docker the container suites skip locally with a
#   printed reason, and fail when CI is set;
# - with Docker (or CI set): installs docker-compose and debootstrap from the Debian packages
#   when missing, and builds the offline PostgreSQL and NATS images of the Compose test
#   (scripts/images.sh: a no-op once the engine has them, ~5 minutes the first time);
# - the Kubernetes manifests are validated by a pinned PyPI package in a virtualenv under
#   target/ (scripts/k8s-validate.sh, installed by the test on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "test.sh: installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

if ! command -v python3 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing python3 (Debian) for examples/python-billing" >&2
        apt-get update -qq && apt-get install -y -qq python3 >/dev/null
    else
        echo "test.sh: no python3; the Python billing suite will skip (or fail, with CI set)" >&2
    fi
fi

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing nats-server (Debian) for the event broker suite" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
    else
        echo "test.sh: no nats-server; the broker suite will skip (or fail, with CI set)" >&2
    fi
fi

if url=$(bash scripts/postgres.sh); then
    export CLEAVE_TEST_POSTGRES_URL="$url"
    echo "test.sh: PostgreSQL suite runs against ${url%%@*}@…" >&2
else
    echo "test.sh: no PostgreSQL available; its suite will skip (or fail, with CI set)" >&2
fi

if [ -n "${CI:-}" ] || [ -n "${DOCKER_HOST:-}" ] || [ -S /var/run/docker.sock ]; then
    echo "test.sh: building the static shop and library binaries for the container suites" >&2
    bash scripts/build-static.sh shop
    bash scripts/build-static.sh library
    missing=()
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${missing[*]} for the Compose test" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
    echo "test.sh: the offline PostgreSQL and NATS images for the Compose test" >&2
    bash scripts/images.sh postgres nats >/dev/null || echo "test.sh: scripts/images.sh failed; the Compose test will say why" >&2
else
    echo "test.sh: no Docker here; the container suite will skip" >&2
fi

exec cargo nextest run --workspace --no-fail-fast "$@"
