#!/usr/bin/env bash
# Instructions per order, counted by valgrind's callgrind: the shop's monolith or the
# hand-written baseline (`tests/bench/src/bin/handwritten.rs`) on a fresh SQLite file.
#
#   scripts/instructions-per-order.sh shop [ORDERS]          # default 300 orders
#   scripts/instructions-per-order.sh handwritten [ORDERS]
#   scripts/instructions-per-order.sh shop 300 --postgres "$(scripts/postgres.sh)"
#
# With `--postgres ADMIN_URL` each run gets a fresh database on that server instead of a SQLite
# file. The count is the server's process only, not PostgreSQL's.
#
# Each server runs twice under callgrind: once with only a warm-up of 40 orders, once with
# ORDERS more. The difference over ORDERS is the user-space instructions one order costs,
# placed and paid. Unlike CPU time on a shared machine, the count repeats from run to run, so
# it tells two builds apart where the write-path benchmark's CPU per order cannot. It does not
# count the kernel, where the thread hand-offs are (README, "Where the CPU goes").
# Leaves each run's profile in target/instructions/<server>[.pg].<orders>.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/instructions-per-order.sh shop|handwritten [ORDERS] [--postgres ADMIN_URL]"
server=${1:?$usage}
orders=${2:-300}
postgres=
if [ "$#" -ge 3 ]; then
    if [ "$3" != --postgres ] || [ -z "${4:-}" ]; then
        echo "$usage" >&2
        exit 2
    fi
    postgres=$4
    command -v psql >/dev/null 2>&1 || {
        echo "instructions-per-order.sh: --postgres needs psql (scripts/postgres.sh installs it)" >&2
        exit 2
    }
fi
case "$server" in shop | handwritten) ;; *)
    echo "instructions-per-order.sh: the server is shop or handwritten, not \`$server\`" >&2
    exit 2
    ;;
esac
if ! command -v valgrind >/dev/null 2>&1; then
    echo "instructions-per-order.sh: installing valgrind (Debian)" >&2
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi
cargo build --release -p shop -p cleave-bench --bins
out=target/instructions
mkdir -p "$out"
port=18190

# Posts one one-line order; fails on anything but 201.
order() {
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/api/orders" \
        -H 'content-type: application/json' \
        -d '{"customer": "c1", "lines": [{"sku": "SKU-1", "quantity": 1}]}'
}
export -f order
export port

# Runs the server under callgrind with a warm-up and then `$1` orders, four at a time; prints
# the instructions callgrind collected.
run() {
    local n=$1 db pid url name=
    db=$(mktemp -d)
    url="sqlite://$db/db"
    if [ -n "$postgres" ]; then
        name="cleave_instr_${server}_${n}_$$"
        psql -q "$postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >&2
        url="${postgres%/*}/$name"
    fi
    local profile="$out/$server${postgres:+.pg}.$n.out"
    local command=(target/release/handwritten --listen "127.0.0.1:$port" --database "$url")
    if [ "$server" = shop ]; then
        command=(target/release/shop serve --listen "127.0.0.1:$port"
            --internal-listen "127.0.0.1:$((port + 1))" --database "$url")
    fi
    valgrind --tool=callgrind --callgrind-out-file="$profile" "${command[@]}" \
        >/dev/null 2>"$out/$server${postgres:+.pg}.$n.log" &
    pid=$!
    for _ in $(seq 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
        sleep 0.5
    done
    if [ "$server" = shop ]; then
        curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/api/catalog/products" \
            -H 'content-type: application/json' -d '{"sku": "SKU-1", "name": "SKU-1", "price_cents": 500}'
        curl -sf -o /dev/null -X PUT "http://127.0.0.1:$port/api/inventory/stock/SKU-1" \
            -H 'content-type: application/json' -d '{"quantity": 1000000000}'
    else
        curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/setup/products" \
            -H 'content-type: application/json' -d '{"sku": "SKU-1", "price_cents": 500, "stock": 1000000000}'
    fi
    seq 40 | xargs -P4 -I{} bash -c order
    sleep 3
    if [ "$n" -gt 0 ]; then
        seq "$n" | xargs -P4 -I{} bash -c order
    fi
    # The relay pays the last orders, then the server stops and callgrind writes its count.
    sleep 6
    kill "$pid"
    wait "$pid" || true
    rm -rf "$db"
    if [ -n "$name" ]; then
        psql -q "$postgres" -c "DROP DATABASE IF EXISTS $name" >&2
    fi
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/$server${postgres:+.pg}.$n.log"
}

base=$(run 0)
loaded=$(run "$orders")
echo "$server${postgres:+ on PostgreSQL}: $(((loaded - base) / orders)) instructions per order ($orders orders; $base without them, $loaded with)"
