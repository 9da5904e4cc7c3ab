#!/usr/bin/env bash
# Durable appends per second, the folder store next to PostgreSQL, in one run.
#
# usage: Tests/postgres/append-rates.sh [BIN_DIR] [SINGLE] [BATCHED] [BATCH]
#   BIN_DIR  where backstop-load is (default .build/release; build it with
#            swift build -c release --product backstop-load)
#   SINGLE   entries appended one per append (default 2000)
#   BATCHED  entries appended BATCH per append (default 50000, BATCH 1000)
# Each append returns only once durable: the folder fsyncs, PostgreSQL commits (with
# synchronous_commit = on and fsync on, on one machine: no standby here).
set -euo pipefail
for fd in $(ls /proc/$$/fd); do
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-.build/release}
single=${2:-2000}
batched=${3:-50000}
batch=${4:-1000}
load="$bin/backstop-load"
work=$(mktemp -d /tmp/backstop-rates-XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
trap 'bash "$here/server.sh" stop "$work/pg"; rm -rf "$work"' EXIT
bash "$here/server.sh" start "$work/pg" "$port" -c synchronous_commit=on -c fsync=on
for db in single batched; do psql -h 127.0.0.1 -p "$port" -U backstop -d postgres -qc "CREATE DATABASE $db"; done
rate() { "$load" "$@" | tail -1 | sed 's/.*in the store.s append //'; }
echo "store        one entry per append          $batch entries per append"
echo "folder       $(rate "$work/single" "$single")    $(rate "$work/batched" "$batched" --batch "$batch")"
echo "PostgreSQL   $(rate "postgres://backstop@127.0.0.1:$port/single" "$single")    $(rate "postgres://backstop@127.0.0.1:$port/batched" "$batched" --batch "$batch")"
