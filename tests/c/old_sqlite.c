/*
** old_sqlite.c — the extension refuses to load on an SQLite older than 3.35.
**
**   old_sqlite --ext dist/entitlements.so
**
** Built against SQLite 3.34.0 (make test fetches that amalgamation). The load
** must fail with the exact message, register nothing, and leave the
** connection usable and closable.
*/
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char *what, const char *got) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL %s: got %s\n", what, got ? got : "(null)");
  }
}

int main(int argc, char **argv) {
  const char *ext = argc == 3 && strcmp(argv[1], "--ext") == 0 ? argv[2] : 0;
  /* SQLite itself prefixes an init failure with "error during initialization: ". */
  const char *want =
      "error during initialization: entitlements: needs SQLite 3.35.0 or newer (for RETURNING and "
      "UPSERT), but this "
      "program runs SQLite 3.34.0; link or load a newer SQLite library";
  sqlite3 *db = 0;
  char *err = 0;
  int rc;
  if (!ext) {
    fprintf(stderr, "usage: old_sqlite --ext dist/entitlements.so\n");
    return 2;
  }
  check(strcmp(sqlite3_libversion(), "3.34.0") == 0, "built on SQLite 3.34.0",
        sqlite3_libversion());
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 2;
  sqlite3_enable_load_extension(db, 1);
  rc = sqlite3_load_extension(db, ext, 0, &err);
  check(rc == SQLITE_ERROR, "load fails with SQLITE_ERROR", sqlite3_errstr(rc));
  check(err && strcmp(err, want) == 0, "exact refusal message", err);
  sqlite3_free(err);
  err = 0;
  rc = sqlite3_exec(db, "SELECT entitlements_version()", 0, 0, &err);
  check(rc == SQLITE_ERROR && err && strcmp(err, "no such function: entitlements_version") == 0,
        "nothing registered", err);
  sqlite3_free(err);
  err = 0;
  rc = sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", 0, 0, &err);
  check(rc == SQLITE_OK, "connection still usable", err);
  sqlite3_free(err);
  rc = sqlite3_close(db);
  check(rc == SQLITE_OK, "sqlite3_close() == SQLITE_OK", sqlite3_errstr(rc));
  printf("old_sqlite: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
