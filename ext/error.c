/*
** error.c — what every other file uses and that uses nothing of theirs:
** building "entitlements: " errors (from our own checks or from an SQLite
** return code, with advice for the common causes), reporting them, and
** registering a file's functions with a checked argument count.
*/
#include <string.h>

#include "ent.h"

int ent_err(EntErr *e, int code, const char *fmt, ...) {
  va_list ap;
  char *body;
  va_start(ap, fmt);
  body = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  sqlite3_free(e->msg);
  e->msg = body ? sqlite3_mprintf("entitlements: %s", body) : 0;
  sqlite3_free(body);
  e->code = e->msg ? code : SQLITE_NOMEM;
  return e->code;
}

/* Turns an error SQLite returned into one a user can act on. The common
** causes get their own advice; anything else carries SQLite's own message. */
int ent_err_db(EntErr *e, sqlite3 *db, int rc, const char *doing) {
  const char *m = sqlite3_errmsg(db);
  int prim = rc & 0xff;
  /* keep SQLite's extended code (SQLITE_CONSTRAINT_TRIGGER, ...) */
  if ((sqlite3_extended_errcode(db) & 0xff) == prim) rc = sqlite3_extended_errcode(db);
  if (prim == SQLITE_NOMEM) {
    return ent_err(e, SQLITE_NOMEM, "out of memory while %s", doing);
  }
  if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) {
    return ent_err(e, prim,
                   "database is locked while %s: another connection holds the write lock; set "
                   "PRAGMA busy_timeout and run the call inside BEGIN IMMEDIATE ... COMMIT so it "
                   "waits for the lock instead of failing",
                   doing);
  }
  if (m && (strncmp(m, "no such table: ent_", 19) == 0 ||
            strncmp(m, "no such table: main.ent_", 24) == 0)) {
    return ent_err(e, SQLITE_ERROR,
                   "the entitlements tables are missing from this database (%s); run SELECT "
                   "entitlements_init() or entitlements_load(...) first",
                   m);
  }
  if (m && (strstr(m, "has no column named") || strncmp(m, "no such column", 14) == 0)) {
    return ent_err(e, SQLITE_ERROR,
                   "the entitlements tables were altered (%s) while %s; restore them from a "
                   "backup or to the layout of sql/schema.sql",
                   m, doing);
  }
  if (m && strncmp(m, "entitlements: ", 14) == 0) {
    /* a message from one of our own schema triggers */
    return ent_err(e, rc, "%s", m + 14);
  }
  return ent_err(e, rc, "%s while %s", m ? m : sqlite3_errstr(rc), doing);
}

void ent_err_clear(EntErr *e) {
  sqlite3_free(e->msg);
  e->msg = 0;
  e->code = SQLITE_OK;
}

void ent_result_err(sqlite3_context *ctx, EntErr *e) {
  if (e->code == SQLITE_NOMEM || !e->msg) {
    sqlite3_result_error_nomem(ctx);
  } else {
    sqlite3_result_error(ctx, e->msg, -1);
    sqlite3_result_error_code(ctx, e->code);
  }
  ent_err_clear(e);
}

int ent_register_fns(sqlite3 *db, EntConn *c, const EntFn *fns, int n) {
  int i, rc = SQLITE_OK;
  for (i = 0; i < n && rc == SQLITE_OK; i++) {
    rc = sqlite3_create_function_v2(db, fns[i].name, -1, ENT_FN_FLAGS, c, fns[i].fn, 0, 0, 0);
  }
  return rc;
}

int ent_argc(sqlite3_context *ctx, int argc, int lo, int hi, const char *usage) {
  char *m;
  if (argc >= lo && argc <= hi) return 1;
  if (lo == hi) {
    m = sqlite3_mprintf("entitlements: %s takes %d argument%s, got %d", usage, lo,
                        lo == 1 ? "" : "s", argc);
  } else {
    m = sqlite3_mprintf("entitlements: %s takes %d to %d arguments, got %d", usage, lo, hi, argc);
  }
  if (m) {
    sqlite3_result_error(ctx, m, -1);
  } else {
    sqlite3_result_error_nomem(ctx);
  }
  sqlite3_free(m);
  return 0;
}
