/*
** history.c — usage_history(subject [, feature [, granularity [, start
** [, end]]]]), a table-valued function over the ledger (SPEC §7): net units
** and event counts per bucket, buckets aligned like periods (ISO weeks,
** calendar months), empty buckets left out.
**
** It reads the subject's ledger rows in time order (through the index
** ent_events_subject when the app has created it; see sql/schema.sql) and
** sums them per bucket and feature; amounts are consume + record - refund -
** reset.
**
** Query plan (xBestIndex): the arguments are equality constraints on the
** hidden columns; idxNum has bit i set when argument i was given. A call
** without a subject is an error.
*/
#include <stdlib.h>
#include <string.h>

#include "ent.h"

enum { H_BUCKET, H_FEATURE, H_AMOUNT, H_EVENTS, H_ARG0 };
#define H_NARGS 5 /* subject, feature, granularity, start, end */

typedef struct HRow {
  char bucket[32];
  char *feature;
  int64_t amount, events;
} HRow;

typedef EntVtab HTab;

typedef struct HCur {
  sqlite3_vtab_cursor base;
  HRow *rows;
  int n, cap, i;
} HCur;

static int h_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                     char **err) {
  (void)argc;
  (void)argv;
  (void)err;
  return ent_vtab_connect(db, aux,
                          "CREATE TABLE x(bucket_start TEXT, feature TEXT, amount INTEGER, "
                          "events INTEGER, subject HIDDEN, feature_arg HIDDEN, granularity HIDDEN, "
                          "start HIDDEN, \"end\" HIDDEN)",
                          sizeof(HTab), 1, out);
}

static int h_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
  int i, at[H_NARGS], n = 0, a;
  (void)vt;
  for (a = 0; a < H_NARGS; a++) at[a] = -1;
  for (i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *k = &info->aConstraint[i];
    if (k->iColumn < H_ARG0 || k->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!k->usable) return SQLITE_CONSTRAINT; /* arguments must be usable */
    if (!ent_vtab_binary(info, i)) continue;  /* compared by SQLite, not looked up */
    at[k->iColumn - H_ARG0] = i;
  }
  info->idxNum = 0;
  for (a = 0; a < H_NARGS; a++) {
    if (at[a] < 0) continue;
    info->idxNum |= 1 << a;
    info->aConstraintUsage[at[a]].argvIndex = ++n;
    info->aConstraintUsage[at[a]].omit = 1;
  }
  info->estimatedCost = (info->idxNum & 1) ? 100 : 1e12;
  return SQLITE_OK;
}

static int h_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
  (void)vt;
  return ent_cursor_open(sizeof(HCur), out);
}

static void rows_free(HCur *c) {
  int i;
  for (i = 0; i < c->n; i++) sqlite3_free(c->rows[i].feature);
  sqlite3_free(c->rows);
  c->rows = 0;
  c->n = c->cap = c->i = 0;
}

static int h_close(sqlite3_vtab_cursor *cur) {
  rows_free((HCur *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* Adds to the bucket's row for the feature (rows of one bucket are the
** last ones in the array). */
static int add(HCur *c, const char *bucket, int first_of_bucket, const char *feature,
               int64_t amount) {
  int i;
  for (i = first_of_bucket; i < c->n; i++) {
    if (strcmp(c->rows[i].feature, feature) == 0) break;
  }
  if (i == c->n) {
    if (c->n == c->cap) {
      int cap = c->cap ? c->cap * 2 : 16;
      HRow *grown = sqlite3_realloc64(c->rows, sizeof(HRow) * cap);
      if (!grown) return SQLITE_NOMEM;
      c->rows = grown;
      c->cap = cap;
    }
    memset(&c->rows[i], 0, sizeof(HRow));
    memcpy(c->rows[i].bucket, bucket, 32);
    if (!(c->rows[i].feature = sqlite3_mprintf("%s", feature))) return SQLITE_NOMEM;
    c->n++;
  }
  c->rows[i].amount += amount;
  c->rows[i].events++;
  return SQLITE_OK;
}

static int by_feature(const void *a, const void *b) {
  return strcmp(((const HRow *)a)->feature, ((const HRow *)b)->feature);
}

static int h_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                    sqlite3_value **argv) {
  HCur *c = (HCur *)cur;
  HTab *t = (HTab *)cur->pVtab;
  sqlite3_value *arg[H_NARGS] = {0, 0, 0, 0, 0};
  EntErr e = {0};
  EntPeriod gran = P_DAY;
  const char *subject;
  char from[32] = "", to[32] = "9999-12-31 23:59:59.999", bucket[32] = "";
  int64_t ms;
  int a, k = 0, rc, first = 0;
  sqlite3_stmt *st = 0;
  (void)idxStr;
  (void)argc;
  rows_free(c);
  for (a = 0; a < H_NARGS; a++) {
    if (idxNum & (1 << a)) arg[a] = argv[k++];
  }
  if (!arg[0]) {
    ent_err(&e, SQLITE_ERROR,
            "usage_history needs a subject: SELECT * FROM usage_history('u42' [, feature [, "
            "granularity [, start [, end]]]])");
    return ent_vtab_error(cur->pVtab, &e);
  }
  if (sqlite3_value_type(arg[0]) == SQLITE_NULL) return SQLITE_OK; /* no subject: no rows */
  if (ent_arg_subject(arg[0], "usage_history", &subject, &e) != SQLITE_OK) {
    return ent_vtab_error(cur->pVtab, &e);
  }
  if (arg[2] && sqlite3_value_type(arg[2]) != SQLITE_NULL) {
    const char *g = (const char *)sqlite3_value_text(arg[2]);
    if (!g || !ent_period_parse(g, &gran) || gran == P_LIFETIME) {
      ent_err(&e, SQLITE_ERROR,
              "usage_history: granularity must be minute, hour, day, week, month or year, not "
              "'%s'",
              g ? g : "");
      return ent_vtab_error(cur->pVtab, &e);
    }
  }
  if (arg[3] && sqlite3_value_type(arg[3]) != SQLITE_NULL) {
    if (ent_time_value(t->conn, arg[3], "usage_history: start", &ms, &e) != SQLITE_OK) {
      return ent_vtab_error(cur->pVtab, &e);
    }
    ent_fmt_time(ms, 0, from);
  }
  if (arg[4] && sqlite3_value_type(arg[4]) != SQLITE_NULL) {
    if (ent_time_value(t->conn, arg[4], "usage_history: end", &ms, &e) != SQLITE_OK) {
      return ent_vtab_error(cur->pVtab, &e);
    }
    ent_fmt_time(ms, 0, to);
  }
  rc =
      sqlite3_prepare_v2(t->conn->db,
                         "SELECT at, feature, CASE WHEN kind IN ('refund', 'reset') THEN -amount "
                         "ELSE amount END FROM main.ent_events WHERE subject = ?1 AND at >= ?2 AND "
                         "at < ?3 AND (?4 IS NULL OR feature = ?4) AND kind IN ('consume', "
                         "'record', 'refund', 'reset') ORDER BY at, id",
                         -1, &st, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
    if (arg[1]) sqlite3_bind_value(st, 4, arg[1]);
  }
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t t_ms, start, end;
    char b[32];
    rc = ent_time_text(t->conn, (const char *)sqlite3_column_text(st, 0), "ent_events.at", &t_ms,
                       &e);
    if (rc != SQLITE_OK) break;
    ent_period_bounds(gran, 0, 0, t_ms, &start, &end);
    ent_fmt_time(start, 0, b);
    if (strcmp(b, bucket) != 0) {
      /* a new bucket: the last one's rows go in feature order */
      if (c->n > first) qsort(c->rows + first, (size_t)(c->n - first), sizeof(HRow), by_feature);
      first = c->n;
      memcpy(bucket, b, sizeof(bucket));
    }
    rc = add(c, bucket, first, (const char *)sqlite3_column_text(st, 1),
             sqlite3_column_int64(st, 2));
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc == SQLITE_OK) {
    if (c->n > first) qsort(c->rows + first, (size_t)(c->n - first), sizeof(HRow), by_feature);
    return SQLITE_OK;
  }
  if (!e.code) ent_err_db(&e, t->conn->db, rc, "reading ent_events");
  return ent_vtab_error(cur->pVtab, &e);
}

static int h_next(sqlite3_vtab_cursor *cur) {
  ((HCur *)cur)->i++;
  return SQLITE_OK;
}

static int h_eof(sqlite3_vtab_cursor *cur) {
  return ((HCur *)cur)->i >= ((HCur *)cur)->n;
}

static int h_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  const HRow *r = &((HCur *)cur)->rows[((HCur *)cur)->i];
  switch (col) {
    case H_BUCKET:
      sqlite3_result_text(ctx, r->bucket, -1, SQLITE_TRANSIENT);
      break;
    case H_FEATURE:
      sqlite3_result_text(ctx, r->feature, -1, SQLITE_TRANSIENT);
      break;
    case H_AMOUNT:
      sqlite3_result_int64(ctx, r->amount);
      break;
    case H_EVENTS:
      sqlite3_result_int64(ctx, r->events);
      break;
    default:
      break; /* the hidden argument columns */
  }
  return SQLITE_OK;
}

static int h_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  *out = ((HCur *)cur)->i;
  return SQLITE_OK;
}

static const sqlite3_module HISTORY_MODULE = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only: a table-valued function */
    .xConnect = h_connect,
    .xBestIndex = h_best_index,
    .xDisconnect = ent_vtab_disconnect,
    .xDestroy = ent_vtab_disconnect,
    .xOpen = h_open,
    .xClose = h_close,
    .xFilter = h_filter,
    .xNext = h_next,
    .xEof = h_eof,
    .xColumn = h_column,
    .xRowid = h_rowid,
};

int ent_register_history(sqlite3 *db, EntConn *c) {
  return sqlite3_create_module_v2(db, "usage_history", &HISTORY_MODULE, c, 0);
}
