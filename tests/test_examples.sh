#!/usr/bin/env bash
# Every way users load the extension, run as a user would and compared
# exactly: Node (better-sqlite3 and libsql), Tcl, Ruby, PHP, Perl, Go, Rust, the C program that embeds
# the amalgamation, the amalgamation built as a loadable library, and
# make install / uninstall with pkg-config. Outputs are in tests/expected/;
# ENT_CLOCK pins each example's clock. Prints "examples: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
# shellcheck source=tests/lib.sh
. tests/lib.sh
CLOCK='2026-11-22 10:00:00'
T=dist/test-tmp/examples
VERSION=$(sed -n 's/^#define ENT_VERSION "\(.*\)"/\1/p' ext/ent.h)
rm -rf "$T" && mkdir -p "$T"

export ENT_CLOCK=$CLOCK
same "node examples/node/better-sqlite3.mjs" tests/expected/node-better-sqlite3.out \
  node examples/node/better-sqlite3.mjs
same "node examples/node/libsql.mjs" tests/expected/node-libsql.out node examples/node/libsql.mjs
same "tclsh examples/tcl/quickstart.tcl" tests/expected/tcl.out tclsh examples/tcl/quickstart.tcl
same "ruby examples/ruby/quickstart.rb" tests/expected/ruby.out ruby examples/ruby/quickstart.rb
same "php examples/php/quickstart.php" tests/expected/php.out \
  php -d sqlite3.extension_dir="$PWD/dist" examples/php/quickstart.php
same "perl examples/perl/quickstart.pl" tests/expected/perl.out perl examples/perl/quickstart.pl
# Go: Debian's mattn/go-sqlite3 sources, offline (GOPATH mode), linked with
# the system SQLite (-tags libsqlite3); its build cache stays under dist/.
GOCACHE=$PWD/dist/gocache GOPATH=/usr/share/gocode GO111MODULE=off \
  go build -tags libsqlite3 -o "$T/go-example" examples/go/main.go
same "go: examples/go/main.go (mattn/go-sqlite3, Extensions)" tests/expected/go.out "$T/go-example"
# Rust: rusqlite from Debian's packaged crates, offline (examples/rust/.cargo)
(cd examples/rust && CARGO_TARGET_DIR=$OLDPWD/dist/rust-target cargo build -q)
same "rust: examples/rust (rusqlite, load_extension)" tests/expected/rust.out \
  dist/rust-target/debug/entitlements-example
same "examples/embed (amalgamation + SQLite 3.53 + sqlite3_auto_extension)" tests/expected/embed.out \
  dist/examples/embed
# The README's embedding recipe, verbatim, on a fresh clone's tools: the
# amalgamation with the system SQLite (same output but the version line).
readme_cc=$(grep -m1 '^cc -DSQLITE_CORE -I dist -o embed ' README.md)
check "the README's embedding recipe is the one tested here" test -n "$readme_cc"
(cd "$T" && ln -sf ../../../dist dist && ln -sf ../../../examples examples && eval "$readme_cc") &&
  same "the README's embedding recipe (amalgamation + the system SQLite)" \
    <(sed 1d tests/expected/embed.out) bash -c "'$T/embed' | sed 1d"
check "the amalgamation defines no global symbol but sqlite3_entitlements_init" bash -c \
  "cc -c -DSQLITE_CORE -o '$T/amalg.o' dist/entitlements.c && test \"\$(nm '$T/amalg.o' | awk 'NF == 3 && \$2 ~ /^[TDRBC]\$/ {print \$3}')\" = sqlite3_entitlements_init"
# On a real file: what the Node process committed, a second process (the
# sqlite3 shell) reads back: 2 exports used and 2 rows saved, the denied 3rd
# neither counted nor saved.
node examples/node/better-sqlite3.mjs "$T/node.db" >/dev/null 2>&1
check "a second process sees the Node process's usage and rows in the same file" \
  test "$(sqlite3 "$T/node.db" ".load dist/entitlements" "SELECT entitlements_clock('$CLOCK')" \
    "SELECT used || '/' || (SELECT count(*) FROM exports) FROM usage_summary WHERE subject = 'acme'" 2>&1)" \
  = "$CLOCK
2/2"
unset ENT_CLOCK

# The amalgamation is also a loadable extension.
mkdir -p "$T/amalg"
cc -O1 -fPIC -shared -std=c11 -Wall -Wextra -Werror -o "$T/amalg/entitlements.so" dist/entitlements.c -lcjson -lm
check "dist/entitlements.c builds as a loadable library and loads" \
  test "$(sqlite3 :memory: ".load $T/amalg/entitlements" "SELECT entitlements_version()" 2>&1)" = "$VERSION"

# make install into a scratch PREFIX; use it the three ways; uninstall.
P=$PWD/$T/prefix
make --no-print-directory -s install PREFIX="$P" >/dev/null
check "make install puts the library, the link, the header and the .pc" \
  test -f "$P/lib/libentitlements.so" -a -L "$P/lib/entitlements.so" -a -f "$P/include/sqlite-entitlements.h" \
  -a -f "$P/lib/pkgconfig/sqlite-entitlements.pc"
check ".load PREFIX/lib/entitlements in the sqlite3 shell" \
  test "$(sqlite3 :memory: ".load $P/lib/entitlements" "SELECT entitlements_version()" 2>&1)" = "$VERSION"
check ".load PREFIX/lib/libentitlements (SQLite strips lib for the entry point)" \
  test "$(sqlite3 :memory: ".load $P/lib/libentitlements" "SELECT entitlements_init()" 2>&1)" = 8
cat > "$T/pc.c" <<'C'
#include <sqlite-entitlements.h>
#include <stdio.h>
int main(void) {
  sqlite3 *db;
  sqlite3_stmt *st;
  sqlite3_auto_extension((void (*)(void))sqlite3_entitlements_init);
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  if (sqlite3_prepare_v2(db, "SELECT entitlements_version()", -1, &st, 0) != SQLITE_OK) return 2;
  if (sqlite3_step(st) != SQLITE_ROW) return 3;
  printf("%s\n", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return sqlite3_close(db) == SQLITE_OK ? 0 : 4;
}
C
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$T/pc" "$T/pc.c" $(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs sqlite-entitlements)
check "a program built with pkg-config --cflags --libs sqlite-entitlements links and starts (no LD_LIBRARY_PATH)" \
  test "$(env -u LD_LIBRARY_PATH "$T/pc" 2>&1)" = "$VERSION"
make --no-print-directory -s uninstall PREFIX="$P" >/dev/null
check "make uninstall leaves no file behind" test -z "$(find "$P" -type f -o -type l)"

echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
