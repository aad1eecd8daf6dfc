#!/usr/bin/env bash
# The npm package as users install it: npm install of the tarball (make
# npm-pack) into a scratch project, then the shared Node example
# (examples/node/gated-exports.mjs) run through the package's load() on
# better-sqlite3 and libsql, compared with the by-path runs' expected output.
# The two bindings come from examples/node (built there by make test), linked
# in rather than compiled again. Prints "npm: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
# shellcheck source=tests/lib.sh
. tests/lib.sh
ROOT=$PWD
T=dist/test-tmp/npm
VERSION=$(sed -n 's/^#define ENT_VERSION "\(.*\)"/\1/p' ext/ent.h)
rm -rf "$T" && mkdir -p "$T/node_modules"
echo '{"name": "scratch", "private": true, "type": "module"}' > "$T/package.json"
(cd "$T" && npm install --silent --no-audit --no-fund --no-package-lock \
  "$ROOT/dist/sqlite-entitlements-$VERSION.tgz")
for m in better-sqlite3 libsql; do
  ln -s "$ROOT/examples/node/node_modules/$m" "$T/node_modules/$m"
  cat > "$T/$m.mjs" <<JS
import Database from '$m';
import { load } from 'sqlite-entitlements';
import { run } from '$ROOT/examples/node/gated-exports.mjs';
run(Database, '$m', load);
JS
done
export ENT_CLOCK='2026-11-22 10:00:00'
same "the installed package's load() on better-sqlite3" tests/expected/node-better-sqlite3.out \
  node "$T/better-sqlite3.mjs"
same "the installed package's load() on libsql" tests/expected/node-libsql.out node "$T/libsql.mjs"
same "getLoadablePath() points into node_modules; version" <(echo "true $VERSION") \
  node --input-type=module -e "
import { getLoadablePath, version } from '$ROOT/$T/node_modules/sqlite-entitlements/index.js';
console.log(getLoadablePath().includes('/node_modules/sqlite-entitlements/lib/'), version);"
echo "npm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
