/*
** entitlements.c — the extension's entry point: sqlite3_entitlements_init()
** registers every function and virtual table on a connection (each file
** registers its own; error.c below them all holds the shared helpers).
**
** Loading writes nothing to the database; entitlements_init() or
** entitlements_load() creates the schema.
*/
#define ENT_NO_INIT3
#include "ent.h"
SQLITE_EXTENSION_INIT1

#include <cjson/cJSON.h>
#include <string.h>

void ent_conn_release(void *p) {
  EntConn *c = p;
  if (c && --c->refs == 0) {
    ent_config_free(c);
    ent_memo_free(c);
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

/* Compiled into a program (SQLITE_CORE: static, never unloaded), cJSON
** allocates through SQLite, so its memory shows in sqlite3_memory_used(),
** obeys sqlite3_soft_heap_limit64() and fails under the fault tests. The
** hooks are process-wide in cJSON, so a loadable build leaves them alone:
** SQLite unloads the library when the connection that loaded it closes, and
** hooks pointing into it would crash every later cJSON user in the process
** (another connection's copy of this extension, or the app itself). */
#ifdef SQLITE_CORE
static void *cjson_malloc(size_t n) {
  return sqlite3_malloc64(n);
}
static void cjson_free(void *p) {
  sqlite3_free(p);
}
#endif

#ifdef _WIN32
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
    int sqlite3_entitlements_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  EntConn *c;
  int rc;
  SQLITE_EXTENSION_INIT2(pApi);
  if (sqlite3_libversion_number() < ENT_SQLITE_MINIMUM_NUMBER) {
    if (pzErrMsg) {
      *pzErrMsg = sqlite3_mprintf("entitlements: needs SQLite " ENT_SQLITE_MINIMUM
                                  " or newer (for RETURNING and "
                                  "UPSERT), but this program runs SQLite %s; link or load a newer "
                                  "SQLite library",
                                  sqlite3_libversion());
    }
    return SQLITE_ERROR;
  }
#ifdef SQLITE_CORE
  {
    cJSON_Hooks hooks = {cjson_malloc, cjson_free};
    cJSON_InitHooks(&hooks);
  }
#endif
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
  if (rc == SQLITE_OK) rc = ent_register_purge(db, c);
  if (rc == SQLITE_OK) rc = ent_register_config(db, c);
  if (rc == SQLITE_OK) rc = ent_register_subjects(db, c);
  if (rc == SQLITE_OK) rc = ent_register_checks(db, c);
  if (rc == SQLITE_OK) rc = ent_register_memo(db, c);
  if (rc == SQLITE_OK) rc = ent_register_consume(db, c);
  if (rc != SQLITE_OK && pzErrMsg) {
    *pzErrMsg =
        sqlite3_mprintf("entitlements: could not register functions: %s", sqlite3_errstr(rc));
  }
  return rc;
}
