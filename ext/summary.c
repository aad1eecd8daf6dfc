/*
** summary.c — the usage_summary eponymous virtual table (SPEC §7): one row per
** subject and metered feature of the subject's effective plan, with its
** usage this period.
**
** The table also owns the connection's statement cache (stmt.c): SQLite
** disconnects every virtual table, eponymous ones included, before
** sqlite3_close() looks for unfinalized statements, so xDisconnect is where
** the cache is finalized. The connection state is freed when both the
** module and the table have let go of it (ent_conn_release).
**
** Query plans (xBestIndex):
**   idxNum bit 1: subject = ?  -> that subject only, from indexed lookups;
**                                 any subject, with or without an ent_subjects row
**   idxNum bit 2: feature = ?  -> only that feature
**   neither                     -> every subject in ent_subjects, in order
** Both constraints are consumed (omit), since rows are produced exactly;
** only under BINARY collation (SQLite compares rows itself under any other).
*/
#include <stdio.h>
#include <string.h>

#include "ent.h"

enum {
  COL_SUBJECT,
  COL_FEATURE,
  COL_PLAN,
  COL_TYPE,
  COL_PERIOD,
  COL_PERIOD_START,
  COL_PERIOD_END,
  COL_USED,
  COL_QUOTA,
  COL_GRANTED,
  COL_REMAINING,
  COL_PERCENT,
  COL_OVERAGE,
  COL_COST,
  COL_SOFT,
  COL_STATUS
};

typedef struct SumTab {
  EntVtab base;    /* first: the shared plumbing (vtab.c) */
  EntCache *cache; /* owned: finalized at disconnect */
} SumTab;

typedef struct Row {
  char *feature;
  EntType type;
  char rate_period[24]; /* rate rows: minute, hour, day or seconds */
  EntPeriod period;
  int soft;
  int64_t used;
  char start[32], end[32];
  EntView v;
} Row;

typedef struct Cur {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *subjects; /* full scan only */
  char *subject, *plan, *feature_filter;
  Row *rows;
  int nrows, i;
  sqlite3_int64 rowid;
  int eof;
} Cur;

static int sum_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                       sqlite3_vtab **out, char **err) {
  EntConn *conn = aux;
  int rc;
  (void)argc;
  (void)argv;
  (void)err;
  rc = ent_vtab_connect(db, conn,
                        "CREATE TABLE x(subject TEXT, feature TEXT, plan TEXT, type TEXT, "
                        "period TEXT, period_start TEXT, period_end TEXT, used INTEGER, "
                        "quota INTEGER, granted INTEGER, remaining INTEGER, percent REAL, "
                        "overage INTEGER, cost REAL, soft INTEGER, status TEXT)",
                        sizeof(SumTab), 1, out);
  if (rc != SQLITE_OK) return rc;
  if (!conn->cache && ent_cache_open(conn, &((SumTab *)*out)->cache) != SQLITE_OK) {
    ent_vtab_disconnect(*out);
    *out = 0;
    return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

static int sum_disconnect(sqlite3_vtab *vt) {
  ent_cache_close(((SumTab *)vt)->cache);
  return ent_vtab_disconnect(vt);
}

static int sum_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
  int i, subject = -1, feature = -1, n = 0;
  (void)vt;
  for (i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *k = &info->aConstraint[i];
    if (!k->usable || k->op != SQLITE_INDEX_CONSTRAINT_EQ || !ent_vtab_binary(info, i)) continue;
    if (k->iColumn == COL_SUBJECT) subject = i;
    if (k->iColumn == COL_FEATURE) feature = i;
  }
  info->idxNum = 0;
  if (subject >= 0) {
    info->aConstraintUsage[subject].argvIndex = ++n;
    info->aConstraintUsage[subject].omit = 1;
    info->idxNum |= 1;
  }
  if (feature >= 0) {
    info->aConstraintUsage[feature].argvIndex = ++n;
    info->aConstraintUsage[feature].omit = 1;
    info->idxNum |= 2;
  }
  if (subject >= 0) {
    info->estimatedCost = feature >= 0 ? 5 : 20;
    info->estimatedRows = feature >= 0 ? 1 : 20;
  } else {
    info->estimatedCost = feature >= 0 ? 500000 : 1000000;
    info->estimatedRows = 100000;
  }
  return SQLITE_OK;
}

static int sum_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
  (void)vt;
  return ent_cursor_open(sizeof(Cur), out);
}

static void rows_clear(Cur *c) {
  int i;
  for (i = 0; i < c->nrows; i++) sqlite3_free(c->rows[i].feature);
  sqlite3_free(c->rows);
  sqlite3_free(c->subject);
  sqlite3_free(c->plan);
  c->rows = 0;
  c->subject = c->plan = 0;
  c->nrows = c->i = 0;
}

static int sum_close(sqlite3_vtab_cursor *cur) {
  Cur *c = (Cur *)cur;
  rows_clear(c);
  sqlite3_finalize(c->subjects);
  sqlite3_free(c->feature_filter);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int vt_err(Cur *c, EntErr *e) {
  return ent_vtab_error(c->base.pVtab, e);
}

/* A rate feature's row: quota = burst, remaining = whole tokens now,
** used = quota - remaining, no period bounds. */
static int rate_row(EntConn *conn, const EntSubject *s, const EntFeature *f, int64_t now, Row *r,
                    EntErr *e) {
  EntRate rt;
  int has = 0;
  int64_t tat = 0;
  if (!s->plan || !f->enabled) {
    r->v.status = "disabled";
    return SQLITE_OK;
  }
  snprintf(r->rate_period, sizeof(r->rate_period), "%s", f->rate_period ? f->rate_period : "");
  if (f->unlimited) {
    r->v.status = "unlimited";
    return SQLITE_OK;
  }
  if (ent_rate_read(conn, s, f, &has, &tat, e) != SQLITE_OK) return e->code;
  ent_rate_eval(f, now * 1000, has, tat, 0, &rt);
  r->used = f->burst - rt.remaining;
  r->v.has_quota = 1;
  r->v.quota = f->burst;
  r->v.remaining = rt.remaining;
  r->v.has_percent = 1;
  r->v.percent = 100.0 * (double)r->used / (double)f->burst;
  r->v.status = rt.remaining == 0                             ? "exhausted"
                : (double)r->used * 5 >= (double)f->burst * 4 ? "warning"
                                                              : "ok";
  return SQLITE_OK;
}

/* Fills the cursor with the rows of one subject. */
static int load_subject(Cur *c, const char *subject) {
  SumTab *t = (SumTab *)c->base.pVtab;
  EntErr e = {0};
  EntSubject s;
  const EntConfig *g;
  int fi, rc, pinned;
  int64_t now = ent_now(t->base.conn);
  rows_clear(c);
  pinned = ent_read_begin(t->base.conn);
  if (ent_resolve_subject(t->base.conn, subject, 0, now, &s, &e) != SQLITE_OK) {
    ent_read_end(t->base.conn, pinned);
    return vt_err(c, &e);
  }
  g = t->base.conn->cfg;
  c->subject = sqlite3_mprintf("%s", subject);
  c->plan = s.plan ? sqlite3_mprintf("%s", s.plan) : 0;
  rc = c->subject && (c->plan || !s.plan) ? SQLITE_OK : ent_err(&e, SQLITE_NOMEM, "out of memory");
  if (rc == SQLITE_OK && s.plan_idx >= 0 && !(c->rows = sqlite3_malloc64(sizeof(Row) * g->nfeat))) {
    rc = ent_err(&e, SQLITE_NOMEM, "out of memory");
  }
  /* every metered and rate feature the plan (or a plan it inherits) names */
  for (fi = 0; rc == SQLITE_OK && s.plan_idx >= 0 && fi < g->nfeat; fi++) {
    EntFeature f;
    EntUsage u;
    Row *r;
    if ((!g->plans[s.plan_idx].ents[fi] && !s.ovr_subject) ||
        (g->feats[fi].type != T_METERED && g->feats[fi].type != T_RATE)) {
      continue;
    }
    if (c->feature_filter && strcmp(c->feature_filter, g->feats[fi].name) != 0) continue;
    rc = ent_resolve_feature(t->base.conn, &s, g->feats[fi].name, &f, &e);
    if (rc == SQLITE_OK && !f.found) continue; /* neither the plan nor an override has it */
    memset(&u, 0, sizeof(u));
    if (rc == SQLITE_OK && f.enabled && f.type == T_METERED) {
      rc = ent_usage_load(t->base.conn, &s, &f, now, &u, &e);
      if (rc == SQLITE_OK) rc = ent_grants_load(t->base.conn, &s, &f, now, &u, &e);
    }
    if (rc != SQLITE_OK) break;
    r = &c->rows[c->nrows];
    memset(r, 0, sizeof(*r));
    if (!(r->feature = sqlite3_mprintf("%s", f.feature))) {
      rc = ent_err(&e, SQLITE_NOMEM, "out of memory");
      break;
    }
    c->nrows++;
    r->type = f.type;
    if (f.type == T_RATE) {
      rc = rate_row(t->base.conn, &s, &f, now, r, &e);
      continue;
    }
    r->period = f.period;
    r->soft = f.soft;
    r->used = u.used;
    if (f.enabled && f.period != P_LIFETIME) {
      memcpy(r->start, u.start_text, sizeof(r->start));
      memcpy(r->end, u.end_text, sizeof(r->end));
    }
    ent_view(&s, &f, &u, &r->v);
  }
  ent_read_end(t->base.conn, pinned);
  return rc == SQLITE_OK ? SQLITE_OK : vt_err(c, &e);
}

/* Full scan: moves to the next subject that has rows. */
static int next_subject(Cur *c) {
  int rc;
  for (;;) {
    rc = sqlite3_step(c->subjects);
    if (rc == SQLITE_DONE) {
      c->eof = 1;
      return SQLITE_OK;
    }
    if (rc != SQLITE_ROW) {
      EntErr e = {0};
      ent_err_db(&e, sqlite3_db_handle(c->subjects), rc, "reading ent_subjects");
      return vt_err(c, &e);
    }
    if ((rc = load_subject(c, (const char *)sqlite3_column_text(c->subjects, 0))) != SQLITE_OK) {
      return rc;
    }
    if (c->nrows > 0) return SQLITE_OK;
  }
}

static int sum_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                      sqlite3_value **argv) {
  Cur *c = (Cur *)cur;
  SumTab *t = (SumTab *)cur->pVtab;
  int a = 0, rc;
  (void)idxStr;
  (void)argc;
  rows_clear(c);
  sqlite3_finalize(c->subjects);
  c->subjects = 0;
  sqlite3_free(c->feature_filter);
  c->feature_filter = 0;
  c->eof = 0;
  c->rowid = 0;
  {
    sqlite3_value *subject = idxNum & 1 ? argv[a++] : 0;
    if (idxNum & 2) {
      const unsigned char *f = sqlite3_value_text(argv[a]);
      if (!f) {
        c->eof = 1; /* feature = NULL matches nothing */
        return SQLITE_OK;
      }
      if (!(c->feature_filter = sqlite3_mprintf("%s", f))) return SQLITE_NOMEM;
    }
    if (subject) {
      if (sqlite3_value_type(subject) == SQLITE_NULL) {
        c->eof = 1; /* subject = NULL matches nothing */
        return SQLITE_OK;
      }
      rc = load_subject(c, (const char *)sqlite3_value_text(subject));
      c->eof = c->nrows == 0;
      return rc;
    }
  }
  rc =
      sqlite3_prepare_v2(t->base.conn->db, "SELECT subject FROM main.ent_subjects ORDER BY subject",
                         -1, &c->subjects, 0);
  if (rc != SQLITE_OK) {
    EntErr e = {0};
    ent_err_db(&e, t->base.conn->db, rc, "reading ent_subjects");
    return vt_err(c, &e);
  }
  return next_subject(c);
}

static int sum_next(sqlite3_vtab_cursor *cur) {
  Cur *c = (Cur *)cur;
  c->rowid++;
  if (++c->i < c->nrows) return SQLITE_OK;
  if (!c->subjects) {
    c->eof = 1;
    return SQLITE_OK;
  }
  return next_subject(c);
}

static int sum_eof(sqlite3_vtab_cursor *cur) {
  return ((Cur *)cur)->eof;
}

static int sum_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  Cur *c = (Cur *)cur;
  const Row *r = &c->rows[c->i];
  int disabled = strcmp(r->v.status, "disabled") == 0;
  switch (col) {
    case COL_SUBJECT:
      sqlite3_result_text(ctx, c->subject, -1, SQLITE_TRANSIENT);
      break;
    case COL_FEATURE:
      sqlite3_result_text(ctx, r->feature, -1, SQLITE_TRANSIENT);
      break;
    case COL_PLAN:
      sqlite3_result_text(ctx, c->plan, -1, SQLITE_TRANSIENT);
      break;
    case COL_TYPE:
      sqlite3_result_text(ctx, ent_type_name(r->type), -1, SQLITE_STATIC);
      break;
    case COL_PERIOD:
      if (disabled) break;
      if (r->type == T_RATE) {
        sqlite3_result_text(ctx, r->rate_period, -1, SQLITE_TRANSIENT);
      } else {
        sqlite3_result_text(ctx, ent_period_name(r->period), -1, SQLITE_STATIC);
      }
      break;
    case COL_PERIOD_START:
      if (r->start[0]) sqlite3_result_text(ctx, r->start, -1, SQLITE_TRANSIENT);
      break;
    case COL_PERIOD_END:
      if (r->end[0]) sqlite3_result_text(ctx, r->end, -1, SQLITE_TRANSIENT);
      break;
    case COL_USED:
      sqlite3_result_int64(ctx, r->used);
      break;
    case COL_QUOTA:
      if (r->v.has_quota || disabled) sqlite3_result_int64(ctx, r->v.quota);
      break;
    case COL_GRANTED:
      sqlite3_result_int64(ctx, r->v.granted);
      break;
    case COL_REMAINING:
      if (r->v.has_quota || disabled) sqlite3_result_int64(ctx, r->v.remaining);
      break;
    case COL_PERCENT:
      if (r->v.has_percent) sqlite3_result_double(ctx, r->v.percent);
      break;
    case COL_OVERAGE:
      sqlite3_result_int64(ctx, r->v.overage);
      break;
    case COL_COST:
      if (r->v.has_cost) sqlite3_result_double(ctx, r->v.cost);
      break;
    case COL_SOFT:
      sqlite3_result_int(ctx, r->soft);
      break;
    default:
      sqlite3_result_text(ctx, r->v.status, -1, SQLITE_STATIC);
  }
  return SQLITE_OK;
}

static int sum_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  *out = ((Cur *)cur)->rowid;
  return SQLITE_OK;
}

static const sqlite3_module SUMMARY_MODULE = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only: CREATE VIRTUAL TABLE ... USING usage_summary is refused */
    .xConnect = sum_connect,
    .xBestIndex = sum_best_index,
    .xDisconnect = sum_disconnect,
    .xDestroy = sum_disconnect,
    .xOpen = sum_open,
    .xClose = sum_close,
    .xFilter = sum_filter,
    .xNext = sum_next,
    .xEof = sum_eof,
    .xColumn = sum_column,
    .xRowid = sum_rowid,
};

int ent_register_summary(sqlite3 *db, EntConn *c) {
  return sqlite3_create_module_v2(db, "usage_summary", &SUMMARY_MODULE, c, ent_conn_release);
}
