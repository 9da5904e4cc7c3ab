#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, on a loopback port, in a folder of its own.
#
#   server.sh start DIR PORT [-c NAME=VALUE ...]   initdb in DIR/data (user backstop, trust
#                                                   on loopback), start, wait until it answers
#   server.sh stop DIR                              stop it at once (-m immediate)
#
# As root, the server runs as the postgres user (initdb refuses root). Nothing is kept: the
# tests delete DIR afterwards.
set -euo pipefail

bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$dir" ] && command -v pg_ctl >/dev/null; then dir=$(dirname "$(command -v pg_ctl)"); fi
    [ -n "$dir" ] || { echo "server.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 3; }
    echo "$dir"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    # A caller that waits for this script (Foundation's Process, in the tests) waits until
    # every process holding a descriptor it passed has ended: the server must inherit none.
    for fd in $(ls /proc/$$/fd); do
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    dir=$2 port=$3
    shift 3
    bin=$(bindir)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U backstop --auth=trust --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    options="-p $port -k $dir -c listen_addresses=127.0.0.1 $*"
    # All output to files: the server inherits pg_ctl's descriptors, and a caller reading
    # a pipe to its end would wait for the server to stop.
    as_owner "$bin/pg_ctl" -D "$dir/data" -o "$options" -l "$dir/server.log" -w -t 60 start >"$dir/pg_ctl.log" 2>&1 </dev/null \
        || { tail -20 "$dir/server.log" "$dir/pg_ctl.log" >&2; exit 1; }
    ;;
stop)
    dir=$2
    bin=$(bindir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: server.sh start DIR PORT [-c NAME=VALUE ...] | stop DIR" >&2
    exit 2
    ;;
esac
