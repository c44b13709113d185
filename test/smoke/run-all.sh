#!/usr/bin/env bash
# Runs the smoke script under Node, Deno and Bun against one lab guest.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=node_modules/.bin
node --import tsx test/smoke/smoke-lab.ts up || exit 1
status=0
node --import tsx test/smoke/smoke.ts || status=1
"$bin/deno" run -A test/smoke/smoke.ts || status=1
"$bin/bun" test/smoke/smoke.ts || status=1
node --import tsx test/smoke/smoke-lab.ts down
exit $status
