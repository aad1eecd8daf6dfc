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
  COL_STATUS,
  COL_HELD
};

typedef struct SumTab {
  EntVtab base;    /* first: the shared plumbing (vtab.c) */
  EntCache *cache; /* owned: finalized at disconnect */
} SumTab;

typedef struct Row {
  const char *feature; /* in the same allocation as the rows */
  EntType type;
  char rate_period[24]; /* rate rows: minute, hour, day or seconds */
  EntPeriod period;
  int soft;
  int64_t used, held; /* held: live holds' units (metered rows) */
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
                        "overage INTEGER, cost REAL, soft INTEGER, status TEXT, held INTEGER)",
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

/* The subject's counters of the current periods, in one statement (a range
** of ent_counters' key: subject, period_start, ...), matched to the rows
** that wait for them (need[i]). A row of another period, or of a feature
** whose period changed, matches no row and is skipped. */
static int current_counters(EntConn *conn, const char *subject, Row *rows, EntUsage *us,
                            const char *need, int n, int64_t now, EntErr *e) {
  sqlite3_stmt *st = ent_stmt(conn, ST_COUNTERS_CURRENT, e);
  const char *from = 0;
  int i, lifetime = 0, rc;
  if (!st) return e->code;
  for (i = 0; i < n; i++) {
    if (!need[i]) continue;
    if (rows[i].period == P_LIFETIME) {
      lifetime = 1;
    } else if (!from || strcmp(us[i].start_text, from) < 0) {
      from = us[i].start_text;
    }
  }
  sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, from ? from : "\x7f", -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, lifetime);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *feature = (const char *)sqlite3_column_text(st, 0);
    const char *period = (const char *)sqlite3_column_text(st, 1);
    const char *start = (const char *)sqlite3_column_text(st, 2);
    if (!feature || !period || !start) continue;
    for (i = 0; i < n; i++) {
      if (!need[i] || strcmp(rows[i].feature, feature) != 0 ||
          strcmp(ent_period_name(rows[i].period), period) != 0 ||
          strcmp(us[i].start_text, start) != 0) {
        continue;
      }
      if (sqlite3_column_type(st, 3) != SQLITE_INTEGER || sqlite3_column_int64(st, 3) < 0) {
        /* the message first: feature points into the row until the reset */
        ent_err(e, SQLITE_ERROR,
                "ent_counters.used of subject '%s' and feature '%s' is not a whole number >= 0: "
                "the table was changed by hand; fix the row (SELECT entitlements_check() shows "
                "what the ledger says)",
                subject, feature);
        sqlite3_reset(st);
        return e->code;
      }
      us[i].used = sqlite3_column_int64(st, 3);
      us[i].from_grants = sqlite3_column_int64(st, 4);
      us[i].held_stored = sqlite3_column_int64(st, 5);
      break;
    }
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(e, conn->db, rc, "reading ent_counters");
  for (i = 0; i < n; i++) {
    if (need[i] && ent_holds_live(conn, subject, rows[i].feature, ent_period_name(rows[i].period),
                                  now, &us[i], e) != SQLITE_OK) {
      return e->code;
    }
  }
  return SQLITE_OK;
}

/* Fills the cursor with the rows of one subject: the features first (and
** the counters that cannot come from the subject's own rows: a pool's, or
** when the subject has grants), then one pass over the subject's current
** counters, then each row's view. */
static int load_subject(Cur *c, const char *subject) {
  SumTab *t = (SumTab *)c->base.pVtab;
  EntConn *conn = t->base.conn;
  EntErr e = {0};
  EntSubject s;
  const EntConfig *g;
  EntFeature *fs = 0;
  EntUsage *us = 0;
  char *need = 0, *names;
  int fi, i, rc, pinned, any_need = 0;
  size_t name_bytes = 0;
  int64_t now = ent_now(conn);
  rows_clear(c);
  pinned = ent_read_begin(conn);
  if (ent_resolve_subject(conn, subject, 0, now, &s, &e) != SQLITE_OK) {
    ent_read_end(conn, pinned);
    return vt_err(c, &e);
  }
  g = conn->cfg;
  c->subject = sqlite3_mprintf("%s", subject);
  c->plan = s.plan ? sqlite3_mprintf("%s", s.plan) : 0;
  rc = c->subject && (c->plan || !s.plan) ? SQLITE_OK : ent_err(&e, SQLITE_NOMEM, "out of memory");
  if (rc == SQLITE_OK && s.plan_idx >= 0) {
    /* one allocation: the rows, then their feature names */
    for (fi = 0; fi < g->nfeat; fi++) name_bytes += strlen(g->feats[fi].name) + 1;
    c->rows = sqlite3_malloc64(sizeof(Row) * g->nfeat + name_bytes);
    fs = sqlite3_malloc64(sizeof(EntFeature) * g->nfeat);
    us = sqlite3_malloc64(sizeof(EntUsage) * g->nfeat);
    need = sqlite3_malloc64(g->nfeat);
    if (!c->rows || !fs || !us || !need) rc = ent_err(&e, SQLITE_NOMEM, "out of memory");
  }
  names = c->rows ? (char *)(c->rows + (s.plan_idx >= 0 ? g->nfeat : 0)) : 0;
  /* every metered and rate feature the plan (or a plan it inherits) names */
  for (fi = 0; rc == SQLITE_OK && s.plan_idx >= 0 && fi < g->nfeat; fi++) {
    EntFeature *f = &fs[c->nrows];
    EntUsage *u = &us[c->nrows];
    Row *r;
    size_t n;
    if ((!g->plans[s.plan_idx].ents[fi] && !s.ovr_subject) ||
        (g->feats[fi].type != T_METERED && g->feats[fi].type != T_RATE)) {
      continue;
    }
    if (c->feature_filter && strcmp(c->feature_filter, g->feats[fi].name) != 0) continue;
    rc = ent_resolve_feature(conn, &s, g->feats[fi].name, f, &e);
    if (rc == SQLITE_OK && !f->found) continue; /* neither the plan nor an override has it */
    memset(u, 0, sizeof(*u));
    need[c->nrows] = 0;
    if (rc == SQLITE_OK && f->enabled && f->type == T_METERED) {
      if (!f->pool && !s.has_grants) {
        ent_usage_bounds(conn, &s, f, now, u); /* the counter comes from the pass below */
        need[c->nrows] = 1;
        any_need = 1;
      } else {
        rc = ent_usage_load(conn, &s, f, now, u, &e);
      }
      if (rc == SQLITE_OK) rc = ent_grants_load(conn, &s, f, now, u, &e);
    }
    if (rc != SQLITE_OK) break;
    r = &c->rows[c->nrows];
    memset(r, 0, sizeof(*r));
    n = strlen(f->feature) + 1;
    memcpy(names, f->feature, n);
    r->feature = names;
    names += n;
    c->nrows++;
    r->type = f->type;
    r->period = f->period;
    if (f->type == T_RATE) rc = rate_row(conn, &s, f, now, r, &e);
  }
  if (rc == SQLITE_OK && any_need)
    rc = current_counters(conn, subject, c->rows, us, need, c->nrows, now, &e);
  for (i = 0; rc == SQLITE_OK && i < c->nrows; i++) {
    Row *r = &c->rows[i];
    if (r->type == T_RATE) continue;
    r->soft = fs[i].soft;
    r->used = us[i].used;
    r->held = us[i].held;
    if (fs[i].enabled && fs[i].period != P_LIFETIME) {
      memcpy(r->start, us[i].start_text, sizeof(r->start));
      memcpy(r->end, us[i].end_text, sizeof(r->end));
    }
    ent_view(&s, &fs[i], &us[i], &r->v);
  }
  sqlite3_free(fs);
  sqlite3_free(us);
  sqlite3_free(need);
  ent_read_end(conn, pinned);
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
    case COL_HELD:
      if (r->type != T_RATE) sqlite3_result_int64(ctx, r->held);
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
