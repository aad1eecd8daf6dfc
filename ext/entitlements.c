/*
** entitlements.c — the extension's entry point: sqlite3_entitlements_init()
** registers every function and virtual table on a connection, and this file
** holds the error helpers all the others use.
**
** Loading writes nothing to the database; entitlements_init() or
** entitlements_load() creates the schema.
*/
#define ENT_NO_INIT3
#include "ent.h"
SQLITE_EXTENSION_INIT1

#include <cjson/cJSON.h>
#include <string.h>

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

void ent_conn_release(void *p) {
  EntConn *c = p;
  if (c && --c->refs == 0) {
    ent_config_free(c);
    sqlite3_free(c->pool_scratch);
    sqlite3_free(c->holder_scratch);
    cJSON_Delete(c->ovr_json);
    sqlite3_free(c->ovr_text);
    sqlite3_free(c);
  }
}

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argv;
  if (!ent_argc(ctx, argc, 0, 0, "entitlements_version()")) return;
  sqlite3_result_text(ctx, ENT_VERSION, -1, SQLITE_STATIC);
}

/* cJSON allocates through SQLite, so its memory shows in sqlite3_memory_used()
** and obeys sqlite3_soft_heap_limit64(). The hooks are process-wide in cJSON;
** these are the same on every connection and work for any cJSON user. */
static void *cjson_malloc(size_t n) {
  return sqlite3_malloc64(n);
}
static void cjson_free(void *p) {
  sqlite3_free(p);
}

#ifdef _WIN32
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
    int sqlite3_entitlements_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  EntConn *c;
  int rc;
  SQLITE_EXTENSION_INIT2(pApi);
  if (sqlite3_libversion_number() < 3035000) {
    if (pzErrMsg) {
      *pzErrMsg = sqlite3_mprintf(
          "entitlements: needs SQLite 3.35.0 or newer (for RETURNING and "
          "UPSERT), but this program runs SQLite %s; link or load a newer "
          "SQLite library",
          sqlite3_libversion());
    }
    return SQLITE_ERROR;
  }
  {
    cJSON_Hooks hooks = {cjson_malloc, cjson_free};
    cJSON_InitHooks(&hooks);
  }
  c = sqlite3_malloc(sizeof(*c));
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  c->db = db;
  c->refs = 1; /* the module's */

  /* The module goes first: it owns c (its destructor frees it at close), and
  ** re-registering it on a reload disconnects the old table while the old
  ** state is still alive. */
  rc = ent_register_summary(db, c);
  if (rc == SQLITE_OK) rc = ent_register_events(db, c);
  if (rc == SQLITE_OK) rc = ent_register_history(db, c);
  if (rc == SQLITE_OK) rc = ent_register_matrix(db, c);
  if (rc == SQLITE_OK) {
    static const EntFn fns[] = {{"entitlements_version", fn_version}};
    rc = ent_register_fns(db, c, fns, 1);
  }
  if (rc == SQLITE_OK) ent_register_clock(db, c, &rc);
  if (rc == SQLITE_OK) rc = ent_register_schema(db, c);
  if (rc == SQLITE_OK) rc = ent_register_config(db, c);
  if (rc == SQLITE_OK) rc = ent_register_subjects(db, c);
  if (rc == SQLITE_OK) rc = ent_register_checks(db, c);
  if (rc == SQLITE_OK) rc = ent_register_consume(db, c);
  if (rc != SQLITE_OK && pzErrMsg) {
    *pzErrMsg =
        sqlite3_mprintf("entitlements: could not register functions: %s", sqlite3_errstr(rc));
  }
  return rc;
}
