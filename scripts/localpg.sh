#!/bin/sh
# A private PostgreSQL cluster for rollcall, kept under the project
# (.run/pg by default), so nothing touches a system database.
#   scripts/localpg.sh start   create on first use, start if stopped
#   scripts/localpg.sh stop
#   scripts/localpg.sh env     print the ROLLCALL_DATABASE_URL export
#   scripts/localpg.sh dsn     print the connection string only
# RC_PGDIR and RC_PGPORT choose another place and port (the tests do).
# PostgreSQL refuses to run as root: as root it runs as 'postgres'.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
PGDIR=${RC_PGDIR:-$top/.run/pg}
PGPORT=${RC_PGPORT:-54329}
BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null |
    sort -V | tail -n 1)
[ -n "$BIN" ] || { echo "PostgreSQL server not installed" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi

dsn() {
	echo "hostaddr=127.0.0.1 port=$PGPORT dbname=${RC_PGDB:-rollcall}" \
	    "user=rollcall password=$(cat "$PGDIR.password")" \
	    "sslmode=disable gssencmode=disable connect_timeout=5"
}

init() {
	mkdir -p "$(dirname "$PGDIR")"
	umask 077
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$PGDIR.password"
	mkdir -p "$PGDIR"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$PGDIR"
		# The postgres user must reach the directory through the path.
		if ! runuser -u postgres -- test -w "$PGDIR"; then
			echo "postgres cannot write $PGDIR; set RC_PGDIR" >&2
			exit 1
		fi
	fi
	as_pg "$BIN/initdb" -D "$PGDIR" -U postgres --auth-local=trust \
	    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >> "$PGDIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDIR'
max_connections = 200
shared_buffers = 256MB
${RC_PGEXTRA:-}
CONF
	as_pg "$BIN/pg_ctl" -D "$PGDIR" -l "$PGDIR/log" -w start >/dev/null
	pw=$(cat "$PGDIR.password")
	as_pg "$BIN/psql" -h "$PGDIR" -p "$PGPORT" -U postgres -q \
	    -v ON_ERROR_STOP=1 postgres <<SQL
CREATE ROLE rollcall LOGIN PASSWORD '$pw';
CREATE DATABASE rollcall OWNER rollcall;
SQL
}

case "${1:-}" in
start)
	if [ ! -f "$PGDIR/PG_VERSION" ]; then
		init
		echo "created PostgreSQL cluster in $PGDIR (port $PGPORT)"
	elif ! as_pg "$BIN/pg_ctl" -D "$PGDIR" status >/dev/null 2>&1; then
		as_pg "$BIN/pg_ctl" -D "$PGDIR" -l "$PGDIR/log" -w start \
		    >/dev/null
		echo "started PostgreSQL in $PGDIR (port $PGPORT)"
	fi
	;;
stop)
	if [ -f "$PGDIR/PG_VERSION" ] &&
	    as_pg "$BIN/pg_ctl" -D "$PGDIR" status >/dev/null 2>&1; then
		as_pg "$BIN/pg_ctl" -D "$PGDIR" -m fast -w stop >/dev/null
		echo "stopped PostgreSQL in $PGDIR"
	fi
	;;
psql)
	shift
	as_pg "$BIN/psql" -h "$PGDIR" -p "$PGPORT" -U postgres "$@"
	;;
env)
	echo "export ROLLCALL_DATABASE_URL='$(dsn)'"
	;;
dsn)
	dsn
	;;
*)
	echo "usage: $0 start|stop|env|dsn|psql" >&2
	exit 2
	;;
esac
