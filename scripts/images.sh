#!/usr/bin/env bash
# Builds, without any image registry, the local images a generated Compose file runs
# (`APP deploy --with-postgres --with-nats`, see README "Run on Compose"):
#
#   cleave/debian:bookworm   a minimal Debian root filesystem made by debootstrap from the Debian
#                            packages apt already uses, imported with `docker import`
#   cleave/postgres:15       FROM cleave/debian:bookworm, apt-get install postgresql (Debian's 15)
#   cleave/nats:2            FROM cleave/debian:bookworm, apt-get install nats-server (2.9)
#
# Each image is built only when the engine does not have it yet (the base takes about 2.5
# minutes, each service image about 1 minute), so a second run costs seconds. With a
# registry none of this is needed: the generator's defaults are the public `postgres:16` and
# `nats:2`.
#
# Usage: scripts/images.sh [postgres] [nats]   (default: both). Installs debootstrap when
# missing (as root, from the Debian packages). Prints the names of the images it made sure of.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=cleave/debian:bookworm
POSTGRES=cleave/postgres:15
NATS=cleave/nats:2

wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=(postgres nats)

have() { docker image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror apt uses here (deb822 `URIs:` or a one-line `deb URL SUITE` entry).
mirror() {
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -v -- '-security' | head -1 || true)
    if [[ -z "$uri" ]]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '{print $2}' | grep -v -- '-security' | head -1 || true)
    fi
    [[ -n "$uri" ]] || { echo "images.sh: no Debian mirror in the apt sources" >&2; exit 1; }
    echo "$uri"
}

build_base() {
    have "$BASE" && return
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "images.sh: installing debootstrap" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
    fi
    local root
    root=$(mktemp -d /tmp/cleave-rootfs.XXXXXX)
    trap 'rm -rf "$root"' RETURN
    echo "images.sh: debootstrap bookworm into $root (about 2.5 minutes)" >&2
    debootstrap --variant=minbase bookworm "$root" "$(mirror)" >/tmp/cleave-debootstrap.log 2>&1 || {
        tail -20 /tmp/cleave-debootstrap.log >&2
        exit 1
    }
    # Keep the image small: no package lists or caches from the bootstrap.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import \
        --change 'ENV DEBIAN_FRONTEND=noninteractive' \
        --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
    echo "images.sh: built $BASE" >&2
}

build_from_base() { # name, Dockerfile text[, entrypoint.sh text]
    have "$1" && return
    local ctx
    ctx=$(mktemp -d /tmp/cleave-image.XXXXXX)
    trap 'rm -rf "$ctx"' RETURN
    printf '%s\n' "$2" >"$ctx/Dockerfile"
    [[ $# -ge 3 ]] && printf '%s\n' "$3" >"$ctx/entrypoint.sh"
    echo "images.sh: building $1" >&2
    # The legacy builder: BuildKit would try to pull its own frontend.
    DOCKER_BUILDKIT=0 docker build -q -t "$1" "$ctx" >/dev/null
    echo "images.sh: built $1" >&2
}

postgres_entrypoint() {
    cat <<'SH'
#!/bin/sh
# First start: initialise the cluster with the public image's variables; then run the server.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" >"$pw"
    initdb -D "$PGDATA" -E UTF8 --locale=C.UTF-8 -U "${POSTGRES_USER:-postgres}" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pw"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    [ "$db" = postgres ] || createdb -U "$user" "$db"
    # Like the public image: run the *.sql files of /docker-entrypoint-initdb.d once.
    for f in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$f" ] && psql -v ON_ERROR_STOP=1 -q -U "$user" -d "$db" -f "$f"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" "$@"
SH
}

build_base
for what in "${wanted[@]}"; do
    case "$what" in
    postgres)
        # Debian's cluster tools are left aside: the server runs straight from its binaries as
        # the `postgres` user, initialising the data directory on first start from the same
        # variables the public `postgres` image reads (POSTGRES_PASSWORD, POSTGRES_USER,
        # POSTGRES_DB, and the *.sql files of /docker-entrypoint-initdb.d), listening on every address.
        build_from_base "$POSTGRES" "FROM $BASE
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/postgresql/data /run/postgresql \\
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY --chown=postgres:postgres entrypoint.sh /usr/local/bin/entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:\$PATH
USER postgres
EXPOSE 5432
ENTRYPOINT [\"/bin/sh\", \"/usr/local/bin/entrypoint.sh\"]" "$(postgres_entrypoint)"
        ;;
    nats)
        build_from_base "$NATS" "FROM $BASE
RUN apt-get update && apt-get install -y --no-install-recommends nats-server \\
 && rm -rf /var/lib/apt/lists/*
EXPOSE 4222 8222
ENTRYPOINT [\"nats-server\"]
CMD [\"--jetstream\", \"--http_port\", \"8222\"]"
        ;;
    *)
        echo "images.sh: unknown image \`$what\` (postgres, nats)" >&2
        exit 2
        ;;
    esac
    case "$what" in postgres) echo "$POSTGRES" ;; nats) echo "$NATS" ;; esac
done
