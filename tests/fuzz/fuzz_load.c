/*
** fuzz_load.c — libFuzzer: entitlements_load() on arbitrary bytes.
**
** Every input must either be refused with an "entitlements: " error that
** changes nothing, or load; and a document that loads must come back from
** entitlements_config() as one that reloads ('replace') to the very same
** configuration. Nothing may crash, leak or leave a connection unclosable.
*/
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_db.h"

static char *config_of(sqlite3 *db) {
  sqlite3_stmt *st;
  char *out = 0;
  if (sqlite3_prepare_v2(db, "SELECT entitlements_config()", -1, &st, 0) != SQLITE_OK) abort();
  if (sqlite3_step(st) == SQLITE_ROW) out = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return out;
}

static int load(sqlite3 *db, const char *json, int n, const char *mode) {
  sqlite3_stmt *st;
  int rc;
  if (sqlite3_prepare_v2(db, "SELECT entitlements_load(?1, ?2)", -1, &st, 0) != SQLITE_OK) abort();
  sqlite3_bind_text(st, 1, json, n, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, mode, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW && strncmp(sqlite3_errmsg(db), "entitlements: ", 14) != 0) {
    fprintf(stderr, "error without the prefix: %s\n", sqlite3_errmsg(db));
    abort();
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sqlite3 *db;
  char *before, *after, *again;
  if (size > 1 << 16) return 0;
  db = fresh_db("SELECT entitlements_init()");
  before = config_of(db);
  if (load(db, (const char *)data, (int)size, "merge")) {
    after = config_of(db);
    /* the configuration reproduces itself exactly */
    if (!load(db, after, -1, "replace")) abort();
    again = config_of(db);
    if (strcmp(after, again) != 0) {
      fprintf(stderr, "not reproduced:\n%s\n%s\n", after, again);
      abort();
    }
    free(after);
    free(again);
  } else {
    /* a refused document changed nothing */
    after = config_of(db);
    if (strcmp(before, after) != 0) abort();
    free(after);
  }
  free(before);
  if (sqlite3_close(db) != SQLITE_OK) abort();
  return 0;
}
