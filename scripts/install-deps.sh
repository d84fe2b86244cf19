#!/bin/sh
# Installs the Debian 12 packages rollcall needs, only those missing.
#   scripts/install-deps.sh runtime  what the binaries need to run
#   scripts/install-deps.sh image    runtime, plus curl for the image's
#                                    health check
#   scripts/install-deps.sh build    compile (the container's build stage)
#   scripts/install-deps.sh run      build, plus a local PostgreSQL
#   scripts/install-deps.sh test     also what the test suite uses
# Works as root or through sudo; prints nothing when all is there.
set -eu

mode=${1:-run}
case $mode in
runtime)
	want="libssl3 libpq5 libjansson4 libjwt0 libutf8proc2" ;;
image)
	want="libssl3 libpq5 libjansson4 libjwt0 libutf8proc2 curl \
ca-certificates" ;;
build)
	want="build-essential patch pkg-config kore libpq-dev libjansson-dev \
libssl-dev libjwt-dev libutf8proc-dev check libsubunit-dev" ;;
run|test)
	want="build-essential patch pkg-config kore libpq-dev libjansson-dev \
libssl-dev libjwt-dev libutf8proc-dev check libsubunit-dev postgresql \
postgresql-contrib" ;;
*)
	echo "usage: $0 runtime|image|build|run|test" >&2
	exit 2 ;;
esac
if [ "$mode" = test ]; then
	want="$want python3 python3-pytest python3-yaml nginx-light openssl chromium \
curl cppcheck shellcheck pyflakes3 clang libclang-rt-14-dev prometheus \
podman podman-compose runc debootstrap wrk"
	# The third-party SCIM suites run on Node.js; a machine may have it
	# from elsewhere (a nodesource package includes npm).
	command -v npm >/dev/null 2>&1 || want="$want nodejs npm"
fi

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "missing packages:$missing (run this as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's postgresql package would create and start a system cluster;
# rollcall runs its own, so keep the package from starting one.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
	$SUDO mkdir -p /etc/postgresql-common
	echo "create_main_cluster = false" |
	    $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
