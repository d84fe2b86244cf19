#!/bin/sh
# Static checks: every core header compiles on its own, src/core holds
# no SQL, cppcheck finds nothing in our C, pyflakes nothing in our Python
# (tests/it, scripts/), shellcheck nothing in our shell scripts, which
# are executable, and README's gateway snippets pass scripts/check-snippets.py.
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
# SQL lives in src/store: nothing under src/core holds SQL text or names
# the database.  Table and column names are read from sql/*.sql.  Tables
# named by one plain word (users, groups, rules, tokens, ...) are also
# words of the domain, so for those only "table.column" counts, with a
# real column of that table; tables named with an underscore count
# anywhere.  Prints each offending line.
core_sql() {
	schema=$(awk '
	    /^CREATE TABLE / { t = $3; sub(/\(.*/, "", t); print "T " t;
		intab = 1; next }
	    intab && /^\)/ { intab = 0 }
	    intab && /^\t[a-z_]+[ \t]/ { c = $1; print "C " t " " c }
	    /ALTER TABLE [a-z_]+ ADD COLUMN/ { t = $3 }
	    /ADD COLUMN/ { for (i = 1; i < NF; i++) if ($i == "COLUMN")
		print "C " t " " $(i + 1) }' sql/*.sql) || return 1
	[ -n "$schema" ] || { echo "no tables found in sql/*.sql"; return 1; }
	bad=0
	grep -nE '\<(SELECT|INSERT INTO|DELETE FROM|UPDATE [a-z_]+ SET|FROM [a-z_]+|WHERE|JOIN|RETURNING|ON CONFLICT)\>|::(text|uuid|jsonb|timestamptz|boolean|numeric|bigint)\>' \
	    src/core/*.[ch] && bad=1
	for t in $(printf '%s\n' "$schema" | awk '$1 == "T" { print $2 }'); do
		cols=$(printf '%s\n' "$schema" |
		    awk -v t="$t" '$1 == "C" && $2 == t { print $3 }' |
		    paste -sd '|' -)
		case $t in
		*_*)	pat="\\<$t\\>" ;;
		*)	pat="(^|[^.>[:alnum:]_])$t\\.($cols)\\>" ;;
		esac
		grep -nE "$pat" src/core/*.[ch] && bad=1
	done
	[ $bad -eq 0 ]
}

check "no SQL or schema names in src/core" core_sql
check cppcheck cppcheck --quiet --error-exitcode=1 --std=c99 \
    --enable=warning,portability --inline-suppr \
    --suppress=missingIncludeSystem --suppress=unknownMacro -I src/core -I src/store \
    src/core src/store src/ctl tests/fuzz
check pyflakes /usr/bin/python3 -m pyflakes tests/it scripts
# README's gateway snippets use only fields their gateways' schemas define.
check "README gateway snippets" /usr/bin/python3 scripts/check-snippets.py
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
