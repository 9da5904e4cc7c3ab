#!/usr/bin/env bash
# Failover with a synchronous standby loses no acknowledged append.
#
# usage: Tests/postgres/failover.sh [BIN_DIR] [LOAD_SECONDS] [WRITERS]
#   BIN_DIR       where backstop-load is (default .build/debug)
#   LOAD_SECONDS  how long the writers run before the primary is killed (default 5)
#   WRITERS       how many writer processes (default 3)
#
# 1. A primary and a synchronous standby on loopback ports in a temporary folder
#    (synchronous_commit = on, synchronous_standby_names = 'standby1'); the script waits
#    until the standby is 'sync'.
# 2. WRITERS processes of backstop-load append to one ledger without the writer lock
#    (--race: the database decides who commits each entry), each logging "ack SEQ HASH"
#    once PostgreSQL has acknowledged the commit.
# 3. The primary is killed with SIGKILL mid-load; the standby is promoted.
# 4. Every acknowledged entry must be on the promoted standby with the same hash, and the
#    standby's chain must verify (every link and signature).
# Prints a summary; exits non-zero if anything acknowledged is missing or the chain fails.
set -euo pipefail

# A caller that waits for this script (Foundation's Process, in the tests) waits until every
# process holding a descriptor it passed has ended: the servers must inherit none.
for fd in $(ls /proc/$$/fd); do
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-.build/debug}
seconds=${2:-5}
writers=${3:-3}
load="$bin/backstop-load"
[ -x "$load" ] || { echo "failover.sh: $load not found (swift build --product backstop-load)" >&2; exit 2; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$pgbin" ] || { echo "failover.sh: PostgreSQL is not installed" >&2; exit 3; }

as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

work=$(mktemp -d /tmp/backstop-failover-XXXXXX)
chmod 755 "$work"
primary_port=$((20000 + RANDOM % 20000))
standby_port=$((primary_port + 1))
cleanup() {
    as_owner "$pgbin/pg_ctl" -D "$work/primary/data" -m immediate stop >/dev/null 2>&1 || true
    as_owner "$pgbin/pg_ctl" -D "$work/standby/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

sql() { psql -h 127.0.0.1 -p "$1" -U backstop -d "$2" -Atqc "$3"; }

# 1. Primary, then a base backup of it as the standby.
bash "$here/server.sh" start "$work/primary" "$primary_port" \
    -c wal_level=replica -c max_wal_senders=4 -c synchronous_commit=on -c "synchronous_standby_names='standby1'"
mkdir -p "$work/standby"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/standby"; fi
as_owner "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U backstop -D "$work/standby/data" -X stream -R >/dev/null
echo "primary_conninfo = 'host=127.0.0.1 port=$primary_port user=backstop application_name=standby1'" \
    | as_owner tee -a "$work/standby/data/postgresql.auto.conf" >/dev/null
as_owner "$pgbin/pg_ctl" -D "$work/standby/data" -o "-p $standby_port -k $work/standby -c listen_addresses=127.0.0.1 -c hot_standby=on" \
    -l "$work/standby/server.log" -w -t 60 start >"$work/standby/pg_ctl.log" 2>&1 </dev/null
for _ in $(seq 1 100); do
    state=$(sql "$primary_port" postgres "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" || true)
    [ "$state" = sync ] && break
    sleep 0.1
done
[ "$state" = sync ] || { echo "failover.sh: the standby never became synchronous ($state)" >&2; exit 1; }

# 2. One ledger, entry 0 first, then the racing writers.
sql "$primary_port" postgres "CREATE DATABASE fund"
url="postgres://backstop@127.0.0.1:$primary_port/fund"
"$load" "$url" 1 > "$work/ack-0"
pids=()
for i in $(seq 1 "$writers"); do
    "$load" "$url" 100000000 --race > "$work/ack-$i" 2> "$work/err-$i" &
    pids+=($!)
done
sleep "$seconds"

# 3. SIGKILL the primary's postmaster mid-load, then promote the standby.
kill -9 "$(head -1 "$work/primary/data/postmaster.pid")"
for pid in "${pids[@]}"; do wait "$pid" || true; done
as_owner "$pgbin/pg_ctl" -D "$work/standby/data" -w promote >/dev/null

# 4. Every acknowledged entry on the promoted standby, and the chain verifies.
cat "$work"/ack-* | awk '$1 == "ack" { print $2, $3 }' | sort -n > "$work/acknowledged"
acknowledged=$(wc -l < "$work/acknowledged")
sql "$standby_port" fund "SELECT seq, encode(hash, 'hex') FROM backstop_entries ORDER BY seq" | tr '|' ' ' > "$work/standby-entries"
stored=$(wc -l < "$work/standby-entries")
missing=$(comm -23 <(sort "$work/acknowledged") <(sort "$work/standby-entries") | wc -l)
verify=$("$load" verify "postgres://backstop@127.0.0.1:$standby_port/fund" 2>&1) || { echo "failover.sh: the standby's chain does not verify: $verify" >&2; exit 1; }
duplicates=$(awk '{ print $1 }' "$work/acknowledged" | uniq -d | wc -l)
echo "writers: $writers for ${seconds} s, then SIGKILL of the primary and promotion of the standby"
echo "acknowledged: $acknowledged appends (sequence numbers acknowledged twice: $duplicates)"
echo "on the promoted standby: $stored entries; acknowledged and missing there: $missing"
echo "standby chain: $verify"
[ "$missing" -eq 0 ] && [ "$duplicates" -eq 0 ] && [ "$acknowledged" -gt 0 ]
