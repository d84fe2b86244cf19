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
make -s all
./rollcallctl migrate
./rollcallctl bootstrap
echo "starting rollcall (Ctrl-C to stop)"
exec ./rollcall -c conf/rollcall.conf -f -n -r
