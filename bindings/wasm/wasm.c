/*
** wasm.c — the browser build's C side: SQLite (compiled in, with the
** extension registered by sqlite3_auto_extension) and one call that runs SQL
** and answers in JSON, which entitlements.mjs wraps.
**
**   ent_open(filename)    a connection (":memory:"; no persistent storage)
**   ent_exec(db, sql, p)  runs every statement of sql, binding the JSON array p
**                         to the last one; returns JSON text (free it with
**                         ent_free): {"rows": [[...], ...]} or
**                         {"error": message, "code": extended result code}
**   ent_close(db)
*/
#include <cjson/cJSON.h>
#include <string.h>

#include "sqlite3.h"

int sqlite3_entitlements_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

sqlite3 *ent_open(const char *filename) {
  sqlite3 *db = 0;
  static int registered;
  if (!registered) {
    sqlite3_auto_extension((void (*)(void))sqlite3_entitlements_init);
    registered = 1;
  }
  if (sqlite3_open(filename, &db) != SQLITE_OK) {
    sqlite3_close(db);
    return 0;
  }
  return db;
}

void ent_close(sqlite3 *db) {
  sqlite3_close(db);
}

void ent_free(char *p) {
  cJSON_free(p);
} /* cJSON allocated it (through SQLite, in this build) */

static void bind(sqlite3_stmt *st, const cJSON *params) {
  int i = 1;
  const cJSON *p;
  cJSON_ArrayForEach(p, params) {
    if (cJSON_IsNumber(p) && p->valuedouble == (double)(sqlite3_int64)p->valuedouble) {
      sqlite3_bind_int64(st, i, (sqlite3_int64)p->valuedouble);
    } else if (cJSON_IsNumber(p)) {
      sqlite3_bind_double(st, i, p->valuedouble);
    } else if (cJSON_IsString(p)) {
      sqlite3_bind_text(st, i, p->valuestring, -1, SQLITE_TRANSIENT);
    } else if (cJSON_IsBool(p)) {
      sqlite3_bind_int(st, i, cJSON_IsTrue(p));
    } else {
      sqlite3_bind_null(st, i);
    }
    i++;
  }
}

static char *answer_error(sqlite3 *db, cJSON *rows) {
  cJSON *out = cJSON_CreateObject();
  char *text;
  cJSON_Delete(rows);
  cJSON_AddStringToObject(out, "error", sqlite3_errmsg(db));
  cJSON_AddNumberToObject(out, "code", sqlite3_extended_errcode(db));
  text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return text;
}

char *ent_exec(sqlite3 *db, const char *sql, const char *params_json) {
  cJSON *params = params_json ? cJSON_Parse(params_json) : 0;
  cJSON *rows = cJSON_CreateArray(), *out;
  const char *tail = sql;
  char *text;
  while (tail && *tail) {
    sqlite3_stmt *st = 0;
    int rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail), i, n;
    if (rc != SQLITE_OK) {
      cJSON_Delete(params);
      return answer_error(db, rows);
    }
    if (!st) continue; /* whitespace or a comment */
    cJSON_Delete(rows);
    rows = cJSON_CreateArray();
    if (!*tail && params) bind(st, params);
    n = sqlite3_column_count(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      cJSON *row = cJSON_CreateArray();
      for (i = 0; i < n; i++) {
        switch (sqlite3_column_type(st, i)) {
          case SQLITE_INTEGER:
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)sqlite3_column_int64(st, i)));
            break;
          case SQLITE_FLOAT:
            cJSON_AddItemToArray(row, cJSON_CreateNumber(sqlite3_column_double(st, i)));
            break;
          case SQLITE_NULL:
            cJSON_AddItemToArray(row, cJSON_CreateNull());
            break;
          default:
            cJSON_AddItemToArray(row, cJSON_CreateString((const char *)sqlite3_column_text(st, i)));
        }
      }
      cJSON_AddItemToArray(rows, row);
    }
    if (rc != SQLITE_DONE) {
      char *e = answer_error(db, rows);
      sqlite3_finalize(st);
      cJSON_Delete(params);
      return e;
    }
    sqlite3_finalize(st);
  }
  cJSON_Delete(params);
  out = cJSON_CreateObject();
  cJSON_AddItemToObject(out, "rows", rows);
  text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return text;
}
