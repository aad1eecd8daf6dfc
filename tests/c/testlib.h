/*
** testlib.h — what the C tests share: counting checks into one summary line,
** and opening a database with the extension, loaded from the --ext path or,
** in builds with -DENT_STATIC_RUNNER (make asan), compiled in and registered
** with sqlite3_auto_extension. Define TEST_PART, the part's name in the
** summary line, before including this.
*/
#ifndef ENT_TESTLIB_H
#define ENT_TESTLIB_H
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sqlite3_entitlements_init(sqlite3 *, char **, const sqlite3_api_routines *);

static int passed, failed;
/* The library to load, or NULL when compiled in; test_static never loads. */
static const char *ext __attribute__((unused));

static inline void check(int ok, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL " TEST_PART ": %s\n", what);
  }
}

/* Prints the part's "N passed, N failed"; returns the exit status. */
static inline int report(void) {
  printf(TEST_PART ": %d passed, %d failed\n", passed, failed);
  return failed != 0;
}

#ifdef ENT_STATIC_RUNNER
static inline void register_static(void) {
  sqlite3_auto_extension((void (*)(void))sqlite3_entitlements_init);
}
#else
static inline void register_static(void) {}
#endif

/* Opens path with a long busy timeout (the tests contend on purpose) and the
** extension loaded; exits 3 when either fails. */
static inline sqlite3 *open_db_at(const char *path) {
  sqlite3 *db;
  char *err = 0;
  if (sqlite3_open(path, &db) != SQLITE_OK) exit(3);
  sqlite3_busy_timeout(db, 30000);
  if (ext) {
    sqlite3_enable_load_extension(db, 1);
    if (sqlite3_load_extension(db, ext, 0, &err) != SQLITE_OK) {
      fprintf(stderr, "load %s: %s\n", ext, err);
      exit(3);
    }
  }
  return db;
}

/* The first column of the first row as an integer, with ?1 bound to arg when
** given; -1 when there is no row, -2 when the SQL does not prepare. */
static inline long long scalar(sqlite3 *db, const char *sql, const char *arg) {
  sqlite3_stmt *st;
  long long v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) return -2;
  if (arg) sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}
#endif
