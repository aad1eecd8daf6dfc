/*
** events.c — usage_events, an eponymous writable virtual table (SPEC §7):
** reading it is reading the ledger (ent_events); INSERT consumes, records or
** refunds exactly as the functions do; UPDATE and DELETE are refused, since
** the ledger is append-only.
**
** Consumption as DML matters where statements are routed or replayed by type
** (rqlite, libSQL's server): an INSERT goes to the writer, and with an
** explicit `at` it is a pure function of the statement and the database.
** A multi-row INSERT ... SELECT is all-or-nothing: the statement's own
** journal undoes the rows before a denial.
**
** Query plans (xBestIndex): idxNum 1: id = ? (the rowid); 2: subject = ?
** (a scan of the ledger, or the index ent_events_subject when the app has
** created it; see sql/schema.sql); 0: the whole ledger in id order.
*/
#include <string.h>

#include "ent.h"

enum { EV_ID, EV_AT, EV_SUBJECT, EV_FEATURE, EV_AMOUNT, EV_KIND, EV_KEY, EV_METADATA };

typedef EntVtab EvTab;

typedef struct EvCur {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *st;
  int eof;
} EvCur;

static int ev_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **err) {
  (void)argc;
  (void)argv;
  (void)err;
  int rc = ent_vtab_connect(db, aux,
                            "CREATE TABLE x(id INTEGER, at TEXT, subject TEXT, feature TEXT, "
                            "amount INTEGER, kind TEXT, idempotency_key TEXT, metadata TEXT)",
                            sizeof(EvTab), 0, out); /* not innocuous: an INSERT writes */
  /* a denial writes nothing before it returns SQLITE_CONSTRAINT, so SQLite
  ** may honour ON CONFLICT: INSERT OR IGNORE skips denied rows */
  if (rc == SQLITE_OK) rc = sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
  if (rc != SQLITE_OK && *out) {
    ent_vtab_disconnect(*out);
    *out = 0;
  }
  return rc;
}

static int ev_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
  int i, id = -1, subject = -1;
  (void)vt;
  for (i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *k = &info->aConstraint[i];
    if (!k->usable || k->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (k->iColumn == EV_ID || k->iColumn == -1) id = i;
    if (k->iColumn == EV_SUBJECT && ent_vtab_binary(info, i)) subject = i;
  }
  if (id >= 0) {
    info->idxNum = 1;
    info->aConstraintUsage[id].argvIndex = 1;
    info->aConstraintUsage[id].omit = 1;
    info->estimatedCost = 1;
    info->estimatedRows = 1;
    info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
  } else if (subject >= 0) {
    info->idxNum = 2;
    info->aConstraintUsage[subject].argvIndex = 1;
    info->aConstraintUsage[subject].omit = 1;
    info->estimatedCost = 100;
    info->estimatedRows = 100;
  } else {
    info->idxNum = 0;
    info->estimatedCost = 1000000;
  }
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == EV_ID && !info->aOrderBy[0].desc) {
    info->orderByConsumed = 1; /* every plan returns rows in id order */
  }
  return SQLITE_OK;
}

static int ev_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
  (void)vt;
  return ent_cursor_open(sizeof(EvCur), out);
}

static int ev_close(sqlite3_vtab_cursor *cur) {
  EvCur *c = (EvCur *)cur;
  sqlite3_finalize(c->st);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int ev_next(sqlite3_vtab_cursor *cur) {
  EvCur *c = (EvCur *)cur;
  int rc = sqlite3_step(c->st);
  if (rc == SQLITE_ROW) return SQLITE_OK;
  c->eof = 1;
  if (rc == SQLITE_DONE) return SQLITE_OK;
  {
    EntErr e = {0};
    ent_err_db(&e, sqlite3_db_handle(c->st), rc, "reading ent_events");
    return ent_vtab_error(cur->pVtab, &e);
  }
}

static int ev_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                     sqlite3_value **argv) {
  static const char *const SQL[] = {
      "SELECT id, at, subject, feature, amount, kind, idempotency_key, metadata FROM "
      "main.ent_events "
      "ORDER BY id",
      "SELECT id, at, subject, feature, amount, kind, idempotency_key, metadata FROM "
      "main.ent_events "
      "WHERE id = ?1",
      "SELECT id, at, subject, feature, amount, kind, idempotency_key, metadata FROM "
      "main.ent_events "
      "WHERE subject = ?1 ORDER BY id",
  };
  EvCur *c = (EvCur *)cur;
  EvTab *t = (EvTab *)cur->pVtab;
  int rc;
  (void)idxStr;
  (void)argc;
  sqlite3_finalize(c->st);
  c->st = 0;
  c->eof = 0;
  rc = sqlite3_prepare_v2(t->conn->db, SQL[idxNum], -1, &c->st, 0);
  if (rc != SQLITE_OK) {
    EntErr e = {0};
    ent_err_db(&e, t->conn->db, rc, "reading ent_events");
    return ent_vtab_error(cur->pVtab, &e);
  }
  if (idxNum) sqlite3_bind_value(c->st, 1, argv[0]);
  return ev_next(cur);
}

static int ev_eof(sqlite3_vtab_cursor *cur) {
  return ((EvCur *)cur)->eof;
}

static int ev_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  sqlite3_result_value(ctx, sqlite3_column_value(((EvCur *)cur)->st, col));
  return SQLITE_OK;
}

static int ev_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  *out = sqlite3_column_int64(((EvCur *)cur)->st, EV_ID);
  return SQLITE_OK;
}

/* INSERT: the matching function's call; UPDATE and DELETE: refused. */
static int ev_update(sqlite3_vtab *vt, int argc, sqlite3_value **argv, sqlite3_int64 *rowid) {
  EvTab *t = (EvTab *)vt;
  EntErr e = {0};
  EntWriteResult w;
  sqlite3_value *call[5];
  const char *kind;
  int k, rc;
  int64_t at = 0;
  if (argc == 1 || sqlite3_value_type(argv[0]) != SQLITE_NULL) {
    ent_err(&e, SQLITE_ERROR,
            "usage_events is the ledger and is append-only: give units back with "
            "refund_quota() (or INSERT a row of kind 'refund'), drop old rows with "
            "usage_purge()");
    return ent_vtab_error(vt, &e);
  }
  /* argv[1] is the new rowid, argv[2 + column] the values */
  if (sqlite3_value_type(argv[1]) != SQLITE_NULL ||
      sqlite3_value_type(argv[2 + EV_ID]) != SQLITE_NULL) {
    ent_err(&e, SQLITE_ERROR, "usage_events: id is assigned by the ledger; leave it out");
    return ent_vtab_error(vt, &e);
  }
  kind = (const char *)sqlite3_value_text(argv[2 + EV_KIND]);
  if (!kind || strcmp(kind, "consume") == 0) {
    k = ENT_CONSUME;
  } else if (strcmp(kind, "record") == 0) {
    k = ENT_RECORD;
  } else if (strcmp(kind, "refund") == 0) {
    k = ENT_REFUND;
  } else {
    ent_err(&e, SQLITE_ERROR,
            "usage_events: kind must be 'consume' (the default), 'record' or 'refund', not "
            "'%s'",
            kind);
    return ent_vtab_error(vt, &e);
  }
  if (sqlite3_value_type(argv[2 + EV_AT]) != SQLITE_NULL &&
      (ent_time_value(t->conn, argv[2 + EV_AT], "usage_events: at", &at, &e) != SQLITE_OK ||
       ent_now_check(at, "usage_events: at", &e) != SQLITE_OK)) {
    return ent_vtab_error(vt, &e);
  }
  call[0] = argv[2 + EV_SUBJECT];
  call[1] = argv[2 + EV_FEATURE];
  call[2] = argv[2 + EV_AMOUNT];
  call[3] = argv[2 + EV_KEY];
  call[4] = argv[2 + EV_METADATA];
  rc = ent_write(t->conn, k, "usage_events", 5, call,
                 sqlite3_value_type(argv[2 + EV_AT]) != SQLITE_NULL ? &at : 0, &w, &e);
  if (rc != SQLITE_OK) {
    if (w.denied) e.code = SQLITE_CONSTRAINT; /* INSERT OR IGNORE skips the row */
    return ent_vtab_error(vt, &e);
  }
  *rowid = sqlite3_last_insert_rowid(t->conn->db);
  return SQLITE_OK;
}

static const sqlite3_module EVENTS_MODULE = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only */
    .xConnect = ev_connect,
    .xBestIndex = ev_best_index,
    .xDisconnect = ent_vtab_disconnect,
    .xDestroy = ent_vtab_disconnect,
    .xOpen = ev_open,
    .xClose = ev_close,
    .xFilter = ev_filter,
    .xNext = ev_next,
    .xEof = ev_eof,
    .xColumn = ev_column,
    .xRowid = ev_rowid,
    .xUpdate = ev_update,
};

int ent_register_events(sqlite3 *db, EntConn *c) {
  return sqlite3_create_module_v2(db, "usage_events", &EVENTS_MODULE, c, 0);
}
