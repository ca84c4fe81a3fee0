#!/bin/sh
# `make cluster`: a local PostgreSQL and two weft nodes sharing it, for
# trying scale-out on one machine. Ctrl-C stops the nodes and PostgreSQL.
#
#   node 1: http://127.0.0.1:8081 (seeds the hello demo)
#   node 2: http://127.0.0.1:8082
#
# The database lives in $CLUSTER_PG (default ${TMPDIR:-/tmp}/weft-cluster-pg,
# where the unprivileged postgres user can reach it), the nodes' data dirs
# (compiled artifacts) in ./weft-cluster/node1 and node2, the shared master
# key and operator token in ./weft-cluster.
set -eu

PG_BIN=${WEFT_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${PG_PORT:-55432}
CLUSTER_PG=${CLUSTER_PG:-${TMPDIR:-/tmp}/weft-cluster-pg}
DIR=${CLUSTER_DIR:-./weft-cluster}
WEFT=${WEFT:-./target/debug/weft}

[ -x "$PG_BIN/initdb" ] || { echo "no PostgreSQL under $PG_BIN: run make test-setup (Debian's postgresql package)" >&2; exit 1; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid postgres --regid postgres --init-groups --reset-env "$@"
    else
        "$@"
    fi
}

mkdir -p "$DIR"
if [ ! -d "$CLUSTER_PG/data" ]; then
    mkdir -p "$CLUSTER_PG"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$CLUSTER_PG"
    as_pg "$PG_BIN/initdb" -U postgres --auth=trust -E UTF8 -D "$CLUSTER_PG/data" >/dev/null
fi
as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_PG/data" -l "$CLUSTER_PG/log" -w \
    -o "-p $PG_PORT -k $CLUSTER_PG -c listen_addresses=127.0.0.1" start >/dev/null

PIDS=""
stop() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_PG/data" -m fast stop >/dev/null || true
}
trap stop EXIT INT TERM

psql_pg() { "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
psql_pg -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'weft'" | grep -q 1 ||
    psql_pg -d postgres -c "CREATE DATABASE weft"

# Every node must open the secrets the others sealed: one master key.
[ -s "$DIR/master.key.b64" ] || (umask 077; head -c 32 /dev/urandom | base64 > "$DIR/master.key.b64")
[ -s "$DIR/operator.token" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr '+/' '-_' > "$DIR/operator.token")
WEFT_MASTER_KEY=$(cat "$DIR/master.key.b64")
WEFT_OPERATOR_TOKEN=$(cat "$DIR/operator.token")
WEFT_STORE="postgres://postgres@127.0.0.1:$PG_PORT/weft"
export WEFT_MASTER_KEY WEFT_OPERATOR_TOKEN WEFT_STORE

"$WEFT" serve --listen 127.0.0.1:8081 --data-dir "$DIR/node1" --builtins target/components \
    --demo components/examples/hello/integration.yaml &
PIDS="$PIDS $!"
"$WEFT" serve --listen 127.0.0.1:8082 --data-dir "$DIR/node2" --builtins target/components &
PIDS="$PIDS $!"
echo "weft cluster: nodes on :8081 and :8082, store $WEFT_STORE" >&2
echo "    export WEFT_TOKEN=$WEFT_OPERATOR_TOKEN" >&2
wait
