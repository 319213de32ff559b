#!/usr/bin/env bash
# Instructions per order, counted by valgrind's callgrind: the shop's monolith or the
# hand-written baseline (`tests/bench/src/bin/handwritten.rs`) on a fresh SQLite file.
#
#   scripts/instructions-per-order.sh shop [ORDERS]          # default 300 orders
#   scripts/instructions-per-order.sh handwritten [ORDERS]
#
# Each server runs twice under callgrind: once with only a warm-up of 40 orders, once with
# ORDERS more. The difference over ORDERS is the user-space instructions one order costs,
# placed and paid. Unlike CPU time on a shared machine, the count repeats from run to run, so
# it tells two builds apart where the write-path benchmark's CPU per order cannot. It does not
# count the kernel, where the thread hand-offs are (README, "Where the CPU goes").
# Leaves each run's profile in target/instructions/<server>.<orders>.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

server=${1:?usage: scripts/instructions-per-order.sh shop|handwritten [ORDERS]}
orders=${2:-300}
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
    local n=$1 db pid
    db=$(mktemp -d)
    local profile="$out/$server.$n.out"
    local command=(target/release/handwritten --listen "127.0.0.1:$port" --database "sqlite://$db/db")
    if [ "$server" = shop ]; then
        command=(target/release/shop serve --listen "127.0.0.1:$port"
            --internal-listen "127.0.0.1:$((port + 1))" --database "sqlite://$db/db")
    fi
    valgrind --tool=callgrind --callgrind-out-file="$profile" "${command[@]}" \
        >/dev/null 2>"$out/$server.$n.log" &
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
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/$server.$n.log"
}

base=$(run 0)
loaded=$(run "$orders")
echo "$server: $(((loaded - base) / orders)) instructions per order ($orders orders; $base without them, $loaded with)"
