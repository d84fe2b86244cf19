#!/bin/sh
# rollcall container entrypoint.  Unless ROLLCALL_DATABASE_URL(_FILE) is
# given, builds the connection from the libpq variables and the password
# file (POSTGRES_PASSWORD_FILE, shared with the postgres service, which
# makes a random one on its first start), resolving the host name now:
# the sandboxed workers connect by address.  The result goes into the
# settings file the image names in ROLLCALL_SETTINGS, so that
# 'docker compose exec rollcall rollcallctl ...' reads exactly what the
# server reads.  Then: migrate, print the first tokens once, run.
set -eu

settings=${ROLLCALL_SETTINGS:-/run/rollcall/rollcall.settings}
umask 077
mkdir -p "$(dirname "$settings")"
: > "$settings"

# A libpq connection-string value, quoted ('...' with \ and ' escaped).
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e "s/[\\\\']/\\\\&/g")"
}

if [ -z "${ROLLCALL_DATABASE_URL:-}" ] &&
    [ -z "${ROLLCALL_DATABASE_URL_FILE:-}" ]; then
	host=${PGHOST:-postgres}
	pwfile=${POSTGRES_PASSWORD_FILE:-/run/rollcall-secrets/db_password}
	# The postgres service writes it on its first start.
	tries=0
	until [ -s "$pwfile" ]; do
		tries=$((tries + 1))
		if [ $tries -gt 60 ]; then
			echo "no database password in $pwfile" \
			    "(POSTGRES_PASSWORD_FILE)" >&2
			exit 1
		fi
		sleep 1
	done
	tries=0
	until addr=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }') &&
	    [ -n "$addr" ]; do
		tries=$((tries + 1))
		if [ $tries -gt 30 ]; then
			echo "cannot resolve database host $host" >&2
			exit 1
		fi
		sleep 1
	done
	url="hostaddr=$addr port=${PGPORT:-5432}"
	url="$url dbname=$(quote "${PGDATABASE:-rollcall}")"
	url="$url user=$(quote "${PGUSER:-rollcall}")"
	url="$url password=$(quote "$(cat "$pwfile")")"
	url="$url sslmode=${PGSSLMODE:-prefer} gssencmode=disable"
	url="$url connect_timeout=5"
	printf 'database_url = %s\n' "$url" > "$settings"
fi
unset PGPASSWORD

# The database may still be starting: migrate retries for a while.
tries=0
until rollcallctl migrate --dir /usr/share/rollcall/sql; do
	tries=$((tries + 1))
	[ $tries -lt 30 ] || exit 1
	sleep 2
done
# First start only: the SCIM URL and one token per scope, into the log.
rollcallctl bootstrap

exec rollcall -c /usr/share/rollcall/conf/production.conf -f
