#!/bin/sh
# Runs Check unit-test programs and prints one summary line:
#   unit: N passed, N failed, N skipped
# A program that cannot run some of its tests (third-party vectors
# outside the repository) prints "SKIP N: reason" for them.
# Exits non-zero when any test failed or a program crashed.
set -u
# Check's own default is 4 s a test; on a shared 2-core machine under
# the sanitizers a correct test can take longer.  Slowness is measured
# by the benchmarks, not here.
export CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-60}"
passed=0
failed=0
skipped=0
rc=0
for t in "$@"; do
	out=$("$t" 2>&1)
	status=$?
	skips=$(printf '%s\n' "$out" | grep -E '^SKIP [0-9]+: ')
	if [ -n "$skips" ]; then
		printf '%s\n' "$skips" | sed "s|^|$(basename "$t"): |"
		for n in $(printf '%s\n' "$skips" |
		    sed -E 's/^SKIP ([0-9]+):.*/\1/'); do
			skipped=$((skipped + n))
		done
	fi
	printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' |
	    sed "s|^|$(basename "$t"): |"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | tail -n 1)
	if [ -z "$line" ]; then
		printf '%s\n' "$out" | tail -n 20
		echo "$(basename "$t"): crashed or printed no summary"
		failed=$((failed + 1))
		rc=1
		continue
	fi
	n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	passed=$((passed + n - f - e))
	failed=$((failed + f + e))
	if [ "$status" -ne 0 ] || [ $((f + e)) -ne 0 ]; then
		printf '%s\n' "$out" | grep -vE '^[0-9]+%: Checks' | tail -n 40
		rc=1
	fi
done
echo "unit: $passed passed, $failed failed, $skipped skipped"
exit $rc
