#!/bin/sh
# postgres container entrypoint: first start creates the cluster with
# scram-sha-256 for network clients and the 'rollcall' role and
# database; every start then runs postgres in the foreground as the
# 'postgres' user (setpriv execs, so postgres gets the signals).
set -eu

bin=/usr/lib/postgresql/15/bin
pwfile=${POSTGRES_PASSWORD_FILE:-/run/rollcall-secrets/db_password}

if [ ! -s "$pwfile" ]; then
	mkdir -p "$(dirname "$pwfile")"
	(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' \
	    > "$pwfile.tmp" && mv "$pwfile.tmp" "$pwfile")
	echo "generated a random database password in $pwfile"
fi

mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 0700 "$PGDATA"
asuser() {
	setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	init=$(mktemp -d)
	chmod 0755 "$init"
	# The superuser's password, readable by postgres only during initdb.
	install -m 0400 -o postgres "$pwfile" "$init/pw"
	asuser "$bin/initdb" -D "$PGDATA" -U postgres --pwfile="$init/pw" \
	    --auth-local=peer --auth-host=scram-sha-256 -E UTF8 \
	    --locale=C.UTF-8 >/dev/null
	rm -rf "$init"
	cat >> "$PGDATA/postgresql.conf" <<'CONF'
listen_addresses = '*'
max_connections = 200
CONF
	echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
	pw=$(sed "s/'/''/g" "$pwfile")
	asuser "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE ROLE rollcall LOGIN PASSWORD '$pw';
CREATE DATABASE rollcall OWNER rollcall;
SQL
	echo "created database rollcall"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$bin/postgres" -D "$PGDATA"
