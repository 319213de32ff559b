#!/usr/bin/env bash
# schemathesis (https://schemathesis.readthedocs.io), pinned, in a venv under the cargo target
# directory so that it is installed once and kept between runs (and cleaned by `cargo clean`).
#
#   scripts/schemathesis.sh --install-only     # create or update the venv, print its path
#   scripts/schemathesis.sh run URL [ARGS…]    # any schemathesis command line
#
# Needs python3 with the venv module and network access to PyPI on first use. Exits 3 when
# python3 (or its venv module) is missing, so callers can tell "cannot run" from "failed".
#
# schemathesis runs in the caller's working directory (it keeps a `.schemathesis/` cache of
# failures there, replayed on the next run); tests/shop/schemathesis.rs runs it in a temporary one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

VERSION=4.32.5
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/schemathesis-venv"
stamp="$venv/.installed-$VERSION"

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "schemathesis.sh: $python not found" >&2
    exit 3
fi

if [ ! -e "$stamp" ]; then
    echo "schemathesis.sh: installing schemathesis $VERSION into $venv" >&2
    rm -rf "$venv"
    if ! "$python" -m venv "$venv" >&2; then
        echo "schemathesis.sh: $python cannot create a venv (python3-venv missing?)" >&2
        rm -rf "$venv"
        exit 3
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$VERSION" >&2
    touch "$stamp"
fi

if [ "${1:-}" = "--install-only" ]; then
    echo "$venv"
    exit 0
fi
# No telemetry, plain output; the hooks state what the schema cannot (schemathesis_hooks.py).
export SCHEMATHESIS_TELEMETRY=false NO_COLOR=1
export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$root/scripts${PYTHONPATH:+:$PYTHONPATH}"
exec "$venv/bin/schemathesis" "$@"
