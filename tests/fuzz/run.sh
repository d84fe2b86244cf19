#!/bin/sh
# Runs libFuzzer harnesses for a fixed time each:
#   sh tests/fuzz/run.sh SECONDS target...
# (build them first: make fuzz-bins).  Each harness starts from its
# seeds (tests/fuzz/seeds/<target>) plus what earlier runs found
# (build/fuzz/corpus/<target>, where new inputs go); a crash, leak or
# broken property is written to build/fuzz/crashes/<target>/ and fails
# the harness.  Full output: build/fuzz/logs/<target>.log.  Prints one
# line per harness with libFuzzer's executions and coverage, then
#   fuzz: N passed, N failed
set -u
cd "$(dirname "$0")/../.." || exit 1
secs=$1
shift
b=build/fuzz
passed=0
failed=0
mkdir -p "$b/logs"
for t in "$@"; do
	bin=$b/fuzz_$t
	log=$b/logs/$t.log
	mkdir -p "$b/corpus/$t" "$b/crashes/$t"
	dict=
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	# shellcheck disable=SC2086 # $dict is one word or none
	ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_leaks=1" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
	    "$bin" -max_total_time="$secs" -print_final_stats=1 \
	    -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
	    -artifact_prefix="$b/crashes/$t/" $dict \
	    "$b/corpus/$t" "tests/fuzz/seeds/$t" > "$log" 2>&1
	rc=$?
	runs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" |
	    grep -Eo '[0-9]+$' | tail -n 1)
	cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+')
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		passed=$((passed + 1))
		echo "fuzz_$t: ok, ${runs} executions in ${secs} s, cov ${cov:-?}"
	else
		failed=$((failed + 1))
		echo "fuzz_$t: FAILED (exit $rc) after ${runs:-?} executions;" \
		    "input kept in $b/crashes/$t/"
		grep -E 'ERROR|property failed|SUMMARY|Test unit written' \
		    "$log" | head -n 10
		grep -A 12 'property failed' "$log" | head -n 14
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
