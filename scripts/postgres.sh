#!/usr/bin/env bash
# Makes a local PostgreSQL server available for the test suite and prints its admin URL.
#
# Uses an existing CLEAVE_TEST_POSTGRES_URL as is. Otherwise, on a Debian-like machine where we
# are root, installs the `postgresql` package if needed, starts its cluster on 127.0.0.1:5432 and
# sets a password for the `postgres` role. Prints nothing and exits 1 when it cannot.
set -euo pipefail

if [[ -n "${CLEAVE_TEST_POSTGRES_URL:-}" ]]; then
    echo "$CLEAVE_TEST_POSTGRES_URL"
    exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
    echo "postgres.sh: not root; set CLEAVE_TEST_POSTGRES_URL to test against PostgreSQL" >&2
    exit 1
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "postgres.sh: no pg_ctlcluster and no apt-get to install PostgreSQL" >&2
        exit 1
    fi
    echo "postgres.sh: installing PostgreSQL from the Debian packages" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(pg_lsclusters --no-header | awk 'NR==1 {print $1}')
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $2}')
port=$(pg_lsclusters --no-header | awk 'NR==1 {print $3}')
if [[ -z "$version" ]]; then
    echo "postgres.sh: PostgreSQL is installed but has no cluster" >&2
    exit 1
fi
if ! pg_lsclusters --no-header | awk 'NR==1 {print $4}' | grep -q online; then
    pg_ctlcluster "$version" "$cluster" start >&2
fi
# A throwaway password for a server that listens on loopback only (the Debian default).
su postgres -c "psql -q -p $port -c \"ALTER USER postgres PASSWORD 'cleave-test'\"" >&2
echo "postgres://postgres:cleave-test@127.0.0.1:${port}/postgres"
