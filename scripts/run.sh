#!/bin/sh
# The README's first command (make run): install what is missing, start
# the private PostgreSQL, build, migrate, mint first tokens, and run
# the server in the foreground.  Ctrl-C stops it; 'make stop' stops the
# database.  ROLLCALL_* variables override settings as usual.
set -eu
cd "$(dirname "$0")/.."

sh scripts/install-deps.sh run
sh scripts/localpg.sh start
ROLLCALL_DATABASE_URL=${ROLLCALL_DATABASE_URL:-$(sh scripts/localpg.sh dsn)}
export ROLLCALL_DATABASE_URL
# build/release/rollcallctl in another shell finds this database with no
# extra step: it reads this file when it exists (ROLLCALL_* variables
# still win).
# (Next to the cluster: .run/ unless RC_PGDIR moves it, as tests do.)
ctlconf=$(dirname "${RC_PGDIR:-.run/pg}")/rollcallctl.settings
(umask 077 && printf '# written by make run; read by rollcallctl\n%s\n' \
    "database_url = $ROLLCALL_DATABASE_URL" > "$ctlconf")
# Always the release build, whatever SANITIZE the environment holds.
make -s SANITIZE= all
build/release/rollcallctl migrate
build/release/rollcallctl bootstrap
echo "starting rollcall (Ctrl-C to stop)"
exec build/release/rollcall -c conf/rollcall.conf -f -n -r
