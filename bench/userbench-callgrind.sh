#!/bin/sh
# Instructions per span of each userbench scenario, from callgrind's dumps
# (one per scenario, taken by the benchmark itself around its measured part).
# USERBENCH_ARGS: more arguments (--profile).
set -e
bin=${1:-build/bench/userbench}
spans=${SPANS:-50000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" --spans "$spans" $USERBENCH_ARGS > "$dir/stdout" 2> "$dir/stderr" ||
	{ cat "$dir/stdout" "$dir/stderr"; exit 1; }
grep -v "^all" "$dir/stdout" | while read -r name n _; do
	f=$(grep -l "^desc: Trigger: Client Request: $name\$" "$dir"/cg.out.* || true)
	[ -n "$f" ] || { echo "no callgrind dump for $name" >&2; exit 1; }
	ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$f")
	awk -v name="$name" -v ir="$ir" -v n="$n" 'BEGIN { printf "%-15s %8d spans %8.0f instructions/span\n", name, n, ir / n }'
done
