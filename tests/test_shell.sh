#!/usr/bin/env bash
# The sqlite3 shell and the build: `make demo`'s script prints exactly
# tests/expected/demo.out; the library exports only its entry point; a wrong
# path gives SQLite's own load error; the C sources are clang-formatted.
# Prints "shell: N passed, N failed".
cd "$(dirname "$0")/.."
passed=0
failed=0
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL shell: $what"; fi
}

got=$(sqlite3 :memory: < examples/quickstart.sql 2>&1)
check "the quickstart prints tests/expected/demo.out" test "$got" = "$(cat tests/expected/demo.out)"
[ "$got" = "$(cat tests/expected/demo.out)" ] || diff <(echo "$got") tests/expected/demo.out | head -20

exports=$(nm -D --defined-only dist/entitlements.so | awk '$2 == "T" {print $3}')
check "only sqlite3_entitlements_init is exported (got: $exports)" test "$exports" = "sqlite3_entitlements_init"

check "the shell loads it by its short name from dist/" sqlite3 :memory: ".load dist/entitlements" "SELECT entitlements_version()"

check "schema.sql is what the extension creates" bash -c \
  'diff <(sqlite3 :memory: ".load dist/entitlements" "SELECT entitlements_init()" ".schema --nosys" | grep -c "CREATE") <(grep -c "^CREATE" sql/schema.sql)'

if command -v clang-format >/dev/null 2>&1; then
  unformatted=""
  for f in ext/*.c ext/*.h tests/*.c tests/c/*.[ch] tests/bench/*.c tests/fuzz/*.[ch] examples/embed/*.c; do
    clang-format "$f" | cmp -s - "$f" || unformatted="$unformatted $f"
  done
  check "C sources are clang-formatted (make format):$unformatted" test -z "$unformatted"
fi
echo "shell: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
