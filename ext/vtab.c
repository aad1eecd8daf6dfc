/*
** vtab.c — what the extension's virtual tables share: connecting one to the
** connection's state (which it keeps alive with a reference), cursors, and
** reporting an EntErr through the table's zErrMsg.
*/
#include <string.h>

#include "ent.h"

/* innocuous: the table only reads, so triggers and views may use it even
** with trusted_schema off. */
int ent_vtab_connect(sqlite3 *db, EntConn *conn, const char *schema, size_t size, int innocuous,
                     sqlite3_vtab **out) {
  EntVtab *t;
  int rc = sqlite3_declare_vtab(db, schema);
  if (rc == SQLITE_OK && innocuous) rc = sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  if (rc != SQLITE_OK) return rc;
  t = sqlite3_malloc64(size);
  if (!t) return SQLITE_NOMEM;
  memset(t, 0, size);
  t->conn = conn;
  conn->refs++;
  *out = &t->base;
  return SQLITE_OK;
}

int ent_vtab_disconnect(sqlite3_vtab *vt) {
  ent_conn_release(((EntVtab *)vt)->conn);
  sqlite3_free(vt);
  return SQLITE_OK;
}

int ent_vtab_error(sqlite3_vtab *vt, EntErr *e) {
  int rc = e->code;
  sqlite3_free(vt->zErrMsg);
  vt->zErrMsg = e->msg;
  e->msg = 0;
  return rc;
}

/* A text constraint can be answered by exact lookups only under BINARY
** collation; under another (subject = 'U' COLLATE NOCASE) SQLite must get
** every row and compare itself. */
int ent_vtab_binary(sqlite3_index_info *info, int i) {
  const char *coll = sqlite3_vtab_collation(info, i);
  return !coll || sqlite3_stricmp(coll, "BINARY") == 0;
}

int ent_cursor_open(size_t size, sqlite3_vtab_cursor **out) {
  sqlite3_vtab_cursor *c = sqlite3_malloc64(size);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, size);
  *out = c;
  return SQLITE_OK;
}
