#!/usr/bin/env bash
# Validates Kubernetes manifests offline, against the JSON schemas of the Kubernetes API, with
# the PyPI package kubernetes-validate (pinned below; it ships the schemas, so no cluster and
# no network are needed once it is installed). The first run makes a virtualenv under the
# target directory and installs it there (about 15 s); later runs reuse it.
#
# Usage: scripts/k8s-validate.sh FILE...   (every document of every file; strict: unknown
# fields are errors; checked against Kubernetes 1.30 and 1.37, oldest and newest schemas used)
# Exit 0 when every document validates, 1 when one does not, 3 when the validator cannot be set
# up here (no python3 with venv, or no package index): the caller decides whether that skips.
#
# kubeconform, the usual Go tool, is not used: it downloads its schemas at run time, which
# cannot happen here.
set -uo pipefail
files=()
for f in "$@"; do files+=("$(realpath "$f")"); done
cd "$(dirname "$0")/.."

PACKAGE=kubernetes-validate==1.37.0
VERSIONS=(1.30.0 1.37.0)
target=${CARGO_TARGET_DIR:-target}
venv="$target/k8s-validate/venv-${PACKAGE##*==}"

mkdir -p "$(dirname "$venv")"
# Tests may call this at the same time: one sets the virtualenv up, the others wait.
exec 9>"$(dirname "$venv")/.lock"
flock 9
if [[ ! -x "$venv/bin/kubernetes-validate" ]]; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "k8s-validate.sh: no python3 to install $PACKAGE into" >&2
        exit 3
    fi
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >&2; then
        echo "k8s-validate.sh: python3 cannot make a virtualenv (Debian: apt-get install python3-venv)" >&2
        rm -rf "$venv"
        exit 3
    fi
    if ! "$venv/bin/pip" install -q --disable-pip-version-check "$PACKAGE" >&2; then
        echo "k8s-validate.sh: cannot install $PACKAGE from the package index" >&2
        rm -rf "$venv"
        exit 3
    fi
fi
flock -u 9

status=0
for version in "${VERSIONS[@]}"; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${files[@]}" || status=1
done
exit $status
