#!/usr/bin/env bash
# Runs the smoke script under Node, Deno and Bun against one lab guest, then
# the packed package's check (test/package/) against the same lab.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=node_modules/.bin
node --import tsx test/smoke/smoke-lab.ts up || exit 1
config=$(node --import tsx test/smoke/smoke-lab.ts config-file)
status=0
node --import tsx test/smoke/smoke.ts || status=1
"$bin/deno" run -A test/smoke/smoke.ts || status=1
"$bin/bun" test/smoke/smoke.ts || status=1
bash test/package/check-package.sh "$config" || status=1
node --import tsx test/smoke/smoke-lab.ts down
exit $status
