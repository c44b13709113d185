#!/usr/bin/env bash
# The package as a user gets it: pack, install the tarball into a fresh
# project, then import `ferry` under Node 20 and 22, Deno and Bun and migrate
# a lab VM with it, run the CLI through npm's .bin link, npx and a global
# install, and compile a strict TypeScript project against the installed
# declarations; and check that jsr.json passes `deno publish --dry-run`.
#   test/package/check-package.sh FERRY_CONFIG_OF_A_RUNNING_LAB
# (test/smoke/run-all.sh calls it with the smoke lab up.)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
config=${1:?usage: check-package.sh FERRY_CONFIG}
vm=${FERRY_PACKAGE_VM:-smoke}
work=$(mktemp -d /tmp/ferry-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
passed=0
failed=0
pass() { echo "ok - [package] $*"; passed=$((passed + 1)); }
fail() { echo "not ok - [package] $*"; status=1; failed=$((failed + 1)); }
runtime() { if "$@"; then passed=$((passed + 1)); else status=1; failed=$((failed + 1)); fi; }

(cd "$repo" && npm pack --silent --pack-destination "$work" >"$work/pack.log" 2>&1) || { cat "$work/pack.log"; fail "npm pack"; exit 1; }
tarball=$(ls "$work"/ferry-*.tgz)
version=$(node -p "require('$repo/package.json').version")
shipped=$(tar tzf "$tarball" | grep -E '^package/(test|bench|\.ci|sdk|cli|repl|recipes|scripts)/' | head -3)
[ -z "$shipped" ] && pass "the tarball holds dist/, bin/, README and LICENSE only" || fail "the tarball ships sources or tests: $shipped"

app=$work/app
mkdir -p "$app"
cp "$here/use-ferry.mjs" "$here/user-project/tsconfig.json" "$here/user-project/user.ts" "$app/"
echo '{ "name": "ferry-user", "private": true, "type": "module" }' >"$app/package.json"
cd "$app" || exit 1
npm install --no-audit --no-fund --prefer-offline "$tarball" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "npm install of the tarball"; exit 1; }

# Each runtime imports the installed package and live-migrates the lab's VM to the other host.
export FERRY_CONFIG=$config FERRY_PACKAGE_VM=$vm FERRY_PACKAGE_MIGRATE=1
runtime node use-ferry.mjs
# Node 22 too, from the npm registry's `node` package (npm's cache keeps it between runs).
runtime npm exec --yes --package=node@22 -- node use-ferry.mjs
runtime "$repo/node_modules/.bin/deno" run -A use-ferry.mjs
runtime "$repo/node_modules/.bin/bun" use-ferry.mjs

got=$(node_modules/.bin/ferry --version 2>&1)
[ "$got" = "$version" ] && pass "ferry --version through npm's .bin link" || fail "node_modules/.bin/ferry --version printed '$got', expected $version"
got=$(npx --no-install ferry --version 2>&1)
[ "$got" = "$version" ] && pass "npx ferry --version" || fail "npx ferry --version printed '$got'"
unset FERRY_PACKAGE_MIGRATE
listed=$(node_modules/.bin/ferry ls --json 2>"$work/ls.err")
code=$?
if [ $code -eq 0 ] && node -e 'const r = JSON.parse(process.argv[1]); process.exit(r.ok && r.vms.some((v) => v.name === process.argv[2]) ? 0 : 1)' "$listed" "$vm"; then
  pass "ferry ls --json lists the lab's $vm"
else
  fail "ferry ls --json exited $code: $listed $(cat "$work/ls.err")"
fi
completed=$(node_modules/.bin/ferry __complete status a/; node_modules/.bin/ferry __complete status b/)
printf '%s\n' "$completed" | grep -qx "[ab]/$vm" && pass "completion asks the lab's hosts for their VMs" || fail "ferry __complete status a/ gave: $completed"
ran=$(FERRY_STATE_DIR="$work/state" node_modules/.bin/ferry run rebalance --dry-run --json 2>"$work/run.err")
code=$?
[ $code -eq 0 ] && printf '%s' "$ran" | grep -q '"ok":true' && pass "ferry run rebalance --dry-run runs the compiled recipe" || fail "ferry run rebalance --dry-run exited $code: $ran $(cat "$work/run.err")"
got=$(node_modules/.bin/ferry nosuch 2>&1)
code=$?
[ $code -eq 2 ] && [ "$(printf '%s\n' "$got" | wc -l)" -eq 1 ] && pass "an unknown command exits 2 with one line" || fail "ferry nosuch exited $code: $got"
if npm install --global --prefix "$work/global" --no-audit --no-fund --prefer-offline "$tarball" >"$work/global.log" 2>&1; then
  got=$("$work/global/bin/ferry" --version 2>&1)
  [ "$got" = "$version" ] && pass "ferry --version from a global install" || fail "global ferry --version printed '$got'"
else
  cat "$work/global.log"; fail "npm install --global"
fi

jsr_version=$(node -p "require('$repo/jsr.json').version")
[ "$jsr_version" = "$version" ] && pass "jsr.json and package.json agree on the version" || fail "jsr.json says $jsr_version, package.json $version"
(cd "$repo" && node_modules/.bin/deno publish --dry-run --allow-dirty --config jsr.json >"$work/jsr.log" 2>&1) && pass "deno publish --dry-run accepts jsr.json (no slow types)" || { tail -20 "$work/jsr.log"; fail "deno publish --dry-run"; }
node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json && pass "a strict TypeScript project compiles against the installed types" || fail "strict tsc against the installed types"
echo "package: $passed passed, $failed failed"
exit $status
