#!/bin/sh
# Static checks: every core header compiles on its own, cppcheck finds
# nothing in our C, pyflakes nothing in our Python (tests/it, scripts/)
# and shellcheck nothing in our shell scripts, which are executable.
# Prints "static: N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
check() {
	name=$1
	shift
	if out=$("$@" 2>&1); then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $name"
		printf '%s\n' "$out" | tail -n 30
	fi
}

for h in src/core/*.h src/store/*.h; do
	check "header $h" sh -c "echo '#include \"$(basename "$h")\"' |
	    cc -std=c99 -D_GNU_SOURCE -Wall -Wextra -Werror \
	    -I/usr/include/postgresql -Isrc/core -Isrc/store -x c \
	    -fsyntax-only -"
done
check cppcheck cppcheck --quiet --error-exitcode=1 --std=c99 \
    --enable=warning,portability --inline-suppr \
    --suppress=missingIncludeSystem --suppress=unknownMacro -I src/core -I src/store \
    src/core src/store src/ctl tests/fuzz
check pyflakes /usr/bin/python3 -m pyflakes tests/it scripts
# A script with a #! line runs as itself: it must be executable.
executable() {
	bad=0
	for f in scripts/*.sh scripts/*/*.sh scripts/*/*.py tests/fuzz/*.sh \
	    .ci/run; do
		if [ "$(head -c 2 "$f")" = "#!" ] && [ ! -x "$f" ]; then
			echo "$f: #! but not executable"
			bad=1
		fi
	done
	return $bad
}
check "scripts executable" executable
check shellcheck shellcheck -s sh scripts/*.sh scripts/docker/*.sh tests/fuzz/*.sh \
    .ci/run
echo "static: $passed passed, $failed failed"
[ $failed -eq 0 ]
