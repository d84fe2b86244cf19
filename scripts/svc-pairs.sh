#!/bin/sh
# Two-way file pairs in the service layer (src/svc): A uses a global
# symbol B defines and B one A defines, read from the built objects
# with nm.  Each pair should have its reason in a header.
#   scripts/svc-pairs.sh [objects dir, default build/release/svc]
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build/release/svc}
[ -d "$dir" ] || { echo "no $dir: run make first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names=""
for o in "$dir"/*.o; do
	f=$(basename "$o" .o)
	names="$names $f"
	nm -g --defined-only "$o" | awk '{ print $3 }' | sort -u > "$tmp/$f.def"
	nm -u "$o" | awk '{ print $2 }' | sort -u > "$tmp/$f.und"
done
n=0
for a in $names; do
	after=0
	for b in $names; do
		# Each pair once: b runs over the names after a.
		if [ "$b" = "$a" ]; then
			after=1
			continue
		fi
		[ $after -eq 1 ] || continue
		ab=$(comm -12 "$tmp/$a.und" "$tmp/$b.def" | tr '\n' ' ')
		ba=$(comm -12 "$tmp/$b.und" "$tmp/$a.def" | tr '\n' ' ')
		if [ -n "$ab" ] && [ -n "$ba" ]; then
			n=$((n + 1))
			echo "$a.c <-> $b.c"
			echo "    $a -> $b: $ab"
			echo "    $b -> $a: $ba"
		fi
	done
done
echo "two-way pairs: $n"
