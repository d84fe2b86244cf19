#!/bin/sh
# Container entrypoint: build the database URL from the standard libpq
# variables when ROLLCALL_DATABASE_URL is not given (resolving the host
# name now: the sandboxed workers cannot resolve names), migrate, run.
set -eu

if [ -z "${ROLLCALL_DATABASE_URL:-}" ]; then
	host=${PGHOST:-postgres}
	addr=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }')
	[ -n "$addr" ] || { echo "cannot resolve database host $host" >&2;
	    exit 1; }
	ROLLCALL_DATABASE_URL="hostaddr=$addr port=${PGPORT:-5432}"
	ROLLCALL_DATABASE_URL="$ROLLCALL_DATABASE_URL dbname=${PGDATABASE:-rollcall}"
	ROLLCALL_DATABASE_URL="$ROLLCALL_DATABASE_URL user=${PGUSER:-rollcall}"
	ROLLCALL_DATABASE_URL="$ROLLCALL_DATABASE_URL password=${PGPASSWORD:-}"
	ROLLCALL_DATABASE_URL="$ROLLCALL_DATABASE_URL sslmode=${PGSSLMODE:-prefer}"
	ROLLCALL_DATABASE_URL="$ROLLCALL_DATABASE_URL gssencmode=disable connect_timeout=5"
	export ROLLCALL_DATABASE_URL
	unset PGHOST PGPASSWORD
fi

# The database may still be starting: migrate retries for a while.
tries=0
until rollcallctl migrate --dir /usr/share/rollcall/sql; do
	tries=$((tries + 1))
	[ $tries -lt 30 ] || exit 1
	sleep 2
done

exec rollcall -c /usr/share/rollcall/conf/production.conf -f
