#!/usr/bin/env bash
# The Python package as users install it: the wheel (make wheel) into a fresh
# venv of Debian's Python, then used through the standard sqlite3 module,
# apsw and sqlite-utils. Prints "wheel: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
# shellcheck source=tests/lib.sh
. tests/lib.sh
T=dist/test-tmp/wheel
VERSION=$(sed -n 's/^#define ENT_VERSION "\(.*\)"/\1/p' ext/ent.h)
WHEEL=$(ls dist/sqlite_entitlements-"$VERSION"-py3-none-linux_*.whl)
rm -rf "$T" && mkdir -p "$T"

# a fresh venv (no system packages), the wheel from the file, offline
/usr/bin/python3 -m venv "$T/venv" &&
  "$T/venv/bin/pip" install --quiet --no-index --disable-pip-version-check "$WHEEL"
check "the wheel installs into a fresh venv" test -f "$T/venv/bin/python"
same "examples/python/package.py through the installed package" <(echo \
  "version: $VERSION (package $VERSION)
export a: ok, 1 left
export b: ok, 0 left
export b: ok, 0 left
export c: denied: entitlements: quota exceeded: 'exports' for subject 'u1' on plan 'free': 2 of 2 used this month, 1 requested; resets 2026-12-01 00:00:00
loading after load(): not authorized") \
  "$T/venv/bin/python" examples/python/package.py
same "loadable_path() points into the installed package" <(echo True) \
  "$T/venv/bin/python" -c "import os, sqlite_entitlements as e; print(os.path.exists(e.loadable_path() + '.so') and 'site-packages' in e.loadable_path())"

# apsw and sqlite-utils (Debian's packages) see the installed package
/usr/bin/python3 -m venv --system-site-packages "$T/sys" &&
  "$T/sys/bin/pip" install --quiet --no-index --disable-pip-version-check "$WHEEL"
same "apsw loads it with sqlite_entitlements.load()" <(echo "$VERSION|1") \
  "$T/sys/bin/python" -c "
import apsw, sqlite_entitlements
db = apsw.Connection(':memory:')
sqlite_entitlements.load(db)
print('|'.join(str(v) for v in db.execute('SELECT entitlements_version(), entitlements_json_valid(\"[1]\")').fetchone()))"
lib=$("$T/sys/bin/python" -c "import sqlite_entitlements as e; print(e.loadable_path())")
same "sqlite-utils --load-extension with loadable_path()" <(echo "[{\"v\": \"$VERSION\"}]") \
  sqlite-utils query :memory: "SELECT entitlements_version() AS v" --load-extension "$lib"
echo "wheel: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
