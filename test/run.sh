#!/usr/bin/env bash
# node --test on Node 20 takes no globs: find the suite's files and run them.
#   test/run.sh unit|e2e [extra node --test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
suite=$1; shift
mapfile -t files < <(find "test/$suite" -name '*.test.ts' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no test files in test/$suite" >&2; exit 1; }
extra=()
# The lab's guests share two cores: end-to-end files run one at a time.
[ "$suite" = e2e ] && extra+=(--test-concurrency=1)
exec node --import tsx --test --test-reporter=spec "${extra[@]}" "$@" "${files[@]}"
