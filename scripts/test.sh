#!/bin/sh
# The README's second command (make test): every test.
#   1. Check unit tests of the pure modules (release build)
#   2. integration tests: real server, real private PostgreSQL, over HTTP
#   3. the same two under AddressSanitizer + UBSan (the integration tests
#      then include tests/it/test_leaks.py: a LeakSanitizer-checked server)
#   4. fuzzing: each libFuzzer harness (tests/fuzz) for FUZZ_TEST_SECONDS
#      (20 s; ASan + UBSan, properties checked), one pass per harness
#   5. static checks (cppcheck, shellcheck, headers compile alone)
# Ends with "total: N passed, N failed"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)

sh scripts/install-deps.sh test || exit 1

export RC_PGDIR="${RC_PGDIR:-$top/.run/pg-test}"
export RC_PGPORT="${RC_PGPORT:-54339}"
# Test data is disposable: skip fsync so the suite runs fast.
export RC_PGEXTRA="fsync = off
synchronous_commit = off
full_page_writes = off"
sh scripts/localpg.sh start || exit 1

passed=0
failed=0
count() {	# adds the counts of the last "N passed, M failed" line
	line=$(grep -E '[0-9]+ passed' "$1" | tail -n 1)
	p=$(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
	f=$(echo "$line" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')
	e=$(echo "$line" | grep -Eo '[0-9]+ errors?' | grep -Eo '[0-9]+')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
}
step() {	# step LABEL command...: runs it, adds its counts
	label=$1
	shift
	log=$(mktemp)
	echo "== $label"
	{ "$@" 2>&1; echo $? > "$log.rc"; } | tee "$log"
	rc=$(cat "$log.rc")
	count "$log"
	if [ "$rc" -ne 0 ] || ! grep -qE '[0-9]+ passed' "$log"; then
		echo "!! $label failed (exit $rc)"
		status=1
		# A crash that printed no count still counts as a failure.
		grep -qE '[1-9][0-9]* (failed|error)' "$log" ||
		    failed=$((failed + 1))
	fi
	rm -f "$log" "$log.rc"
}
status=0

for variant in release asan; do
	if [ $variant = asan ]; then
		mk="make -s SANITIZE=1"
		build=build/asan
		# LeakSanitizer stays on for the unit tests (no seccomp there).
		export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1"
	else
		mk="make -s"
		build=build/release
	fi
	$mk all check-bins || { echo "!! build ($variant) failed"; status=1;
	    failed=$((failed + 1)); continue; }
	step "unit ($variant)" sh scripts/run-unit.sh $build/tests/check_*
	RC_BUILD=$top/$build step "integration ($variant)" \
	    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/it
done
unset ASAN_OPTIONS

step "fuzz" make -s fuzz FUZZ_SECONDS="${FUZZ_TEST_SECONDS:-20}"

step "static checks" sh scripts/static-checks.sh

echo "total: $passed passed, $failed failed"
[ $status -eq 0 ] && [ $failed -eq 0 ]
