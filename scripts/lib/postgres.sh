# A throwaway PostgreSQL cluster on a free loopback port, for the tests of the shared store.
# Sourced by scripts/test and scripts/test-interop:
#   pg_cluster_start   initdb + start (as the postgres user when root); exports
#                      ENTITLEMENT_TEST_POSTGRES (a superuser URL) and ENTITLEMENT_TEST_PG_CTL
#                      (a command that takes pg_ctl's arguments, for the restart tests)
#   pg_cluster_stop    stops it and removes its files (also on exit, once started)
# PG_CLUSTER_FSYNC=on keeps fsync (benchmarks: a commit then costs what it costs in production).

pg_cluster_start() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "error: PostgreSQL is not installed (apt-get install postgresql)" >&2
        return 1
    fi
    PG_CLUSTER_DIR=$(mktemp -d /tmp/entitlement-pg.XXXXXX)
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root.
        chown postgres: "$PG_CLUSTER_DIR"
        as=(runuser -u postgres --)
    fi
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if ! "${as[@]}" "$bin/initdb" -D "$PG_CLUSTER_DIR/data" -U postgres --auth=trust -E UTF8 --no-locale \
        >"$PG_CLUSTER_DIR/initdb.log" 2>&1; then
        cat "$PG_CLUSTER_DIR/initdb.log" >&2
        return 1
    fi
    # Loopback only; no fsync (a throwaway cluster: the tests crash our server, not the machine).
    cat >>"$PG_CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_CLUSTER_DIR'
fsync = ${PG_CLUSTER_FSYNC:-off}
full_page_writes = ${PG_CLUSTER_FSYNC:-off}
max_connections = 300
CONF
    ENTITLEMENT_TEST_PG_CTL="${as[*]} $bin/pg_ctl -D $PG_CLUSTER_DIR/data -l $PG_CLUSTER_DIR/server.log -w"
    if ! $ENTITLEMENT_TEST_PG_CTL start >/dev/null; then
        cat "$PG_CLUSTER_DIR/server.log" >&2
        return 1
    fi
    export ENTITLEMENT_TEST_PG_CTL
    export ENTITLEMENT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
    trap pg_cluster_stop EXIT
    echo "==> PostgreSQL test cluster on 127.0.0.1:$port ($PG_CLUSTER_DIR)"
}

pg_cluster_stop() {
    [ -n "${PG_CLUSTER_DIR:-}" ] || return 0
    $ENTITLEMENT_TEST_PG_CTL stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$PG_CLUSTER_DIR"
    PG_CLUSTER_DIR=
}
