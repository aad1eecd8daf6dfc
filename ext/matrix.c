/*
** matrix.c — plan_matrix, an eponymous read-only virtual table (SPEC §7):
** one row per plan and registered feature, after inheritance — the data
** behind a pricing page or a plan comparison. Features a plan leaves out are
** rows with enabled = 0, so every plan has the same rows.
**
** It reads the connection's configuration in memory (plancache.c), brought
** up to date first. Query plan: a full scan (the table is small); SQLite
** applies any WHERE itself.
*/
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "ent.h"

enum {
  M_PLAN,
  M_RANK,
  M_FEATURE,
  M_TYPE,
  M_ENABLED,
  M_QUOTA,
  M_PERIOD,
  M_SOFT,
  M_PER_SEAT,
  M_POOL,
  M_OVERAGE_PRICE,
  M_VALUE
};

typedef struct MCur {
  sqlite3_vtab_cursor base;
  EntConfig *cfg; /* the configuration the scan started with, held */
  int i, n;       /* row i of n = nplans * nfeat */
} MCur;

static int m_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                     char **err) {
  (void)argc;
  (void)argv;
  (void)err;
  return ent_vtab_connect(db, aux,
                          "CREATE TABLE x(plan TEXT, rank INTEGER, feature TEXT, type TEXT, "
                          "enabled INTEGER, quota INTEGER, period TEXT, soft INTEGER, "
                          "per_seat INTEGER, pool INTEGER, overage_price REAL, value ANY)",
                          sizeof(EntVtab), 1, out);
}

static int m_best_index(sqlite3_vtab *vt, sqlite3_index_info *info) {
  (void)vt;
  info->estimatedCost = 1000;
  return SQLITE_OK;
}

static int m_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out) {
  (void)vt;
  return ent_cursor_open(sizeof(MCur), out);
}

static int m_close(sqlite3_vtab_cursor *cur) {
  ent_config_release(((MCur *)cur)->cfg);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int m_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr, int argc,
                    sqlite3_value **argv) {
  MCur *c = (MCur *)cur;
  EntVtab *t = (EntVtab *)cur->pVtab;
  EntErr e = {0};
  (void)idxNum;
  (void)idxStr;
  (void)argc;
  (void)argv;
  if (ent_config_current(t->conn, &e) != SQLITE_OK) return ent_vtab_error(cur->pVtab, &e);
  /* a scan keeps the configuration it started with, even if a function in
  ** the same query reloads it (entitlements_load(..., 'replace')) */
  ent_config_release(c->cfg);
  c->cfg = t->conn->cfg;
  c->cfg->refs++;
  c->i = 0;
  c->n = c->cfg->nplans * c->cfg->nfeat;
  return SQLITE_OK;
}

static int m_next(sqlite3_vtab_cursor *cur) {
  ((MCur *)cur)->i++;
  return SQLITE_OK;
}

static int m_eof(sqlite3_vtab_cursor *cur) {
  return ((MCur *)cur)->i >= ((MCur *)cur)->n;
}

/* A config value as an SQL value: numbers, text, 0/1, JSON text otherwise. */
static void result_value(sqlite3_context *ctx, const cJSON *v, const char *text) {
  if (cJSON_IsNumber(v)) {
    if (v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9007199254740992.0) {
      sqlite3_result_int64(ctx, (sqlite3_int64)v->valuedouble);
    } else {
      sqlite3_result_double(ctx, v->valuedouble);
    }
  } else if (cJSON_IsString(v)) {
    sqlite3_result_text(ctx, v->valuestring, -1, SQLITE_TRANSIENT);
  } else if (cJSON_IsBool(v)) {
    sqlite3_result_int(ctx, cJSON_IsTrue(v));
  } else if (v && !cJSON_IsNull(v)) {
    sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
  }
}

static int m_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  MCur *c = (MCur *)cur;
  const EntConfig *g = c->cfg;
  const EntPlanCfg *p = &g->plans[c->i / g->nfeat];
  const EntFeatCfg *f = &g->feats[c->i % g->nfeat];
  const EntPlanEnt *en = p->ents[c->i % g->nfeat];
  int on = en && en->enabled, limits = on && (f->type == T_METERED || f->type == T_RATE);
  switch (col) {
    case M_PLAN:
      sqlite3_result_text(ctx, p->name, -1, SQLITE_TRANSIENT);
      break;
    case M_RANK:
      sqlite3_result_int64(ctx, p->rank);
      break;
    case M_FEATURE:
      sqlite3_result_text(ctx, f->name, -1, SQLITE_TRANSIENT);
      break;
    case M_TYPE:
      sqlite3_result_text(ctx, ent_type_name(f->type), -1, SQLITE_STATIC);
      break;
    case M_ENABLED:
      sqlite3_result_int(ctx, on);
      break;
    case M_QUOTA:
      if (limits && !en->unlimited) sqlite3_result_int64(ctx, en->quota);
      break;
    case M_PERIOD:
      if (limits && f->type == T_RATE) {
        sqlite3_result_text(ctx, en->rate_period, -1, SQLITE_TRANSIENT);
      } else if (limits) {
        sqlite3_result_text(ctx, ent_period_name(en->period), -1, SQLITE_STATIC);
      }
      break;
    case M_SOFT:
      sqlite3_result_int(ctx, limits && en->soft);
      break;
    case M_PER_SEAT:
      sqlite3_result_int(ctx, limits && en->per_seat);
      break;
    case M_POOL:
      sqlite3_result_int(ctx, limits && en->pool);
      break;
    case M_OVERAGE_PRICE:
      if (limits && en->has_price) sqlite3_result_double(ctx, (double)en->price_micros / 1e6);
      break;
    default:
      if (en && f->type == T_CONFIG) result_value(ctx, en->json, en->value);
      break;
  }
  return SQLITE_OK;
}

static int m_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  *out = ((MCur *)cur)->i;
  return SQLITE_OK;
}

static const sqlite3_module MATRIX_MODULE = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only */
    .xConnect = m_connect,
    .xBestIndex = m_best_index,
    .xDisconnect = ent_vtab_disconnect,
    .xDestroy = ent_vtab_disconnect,
    .xOpen = m_open,
    .xClose = m_close,
    .xFilter = m_filter,
    .xNext = m_next,
    .xEof = m_eof,
    .xColumn = m_column,
    .xRowid = m_rowid,
};

int ent_register_matrix(sqlite3 *db, EntConn *c) {
  return sqlite3_create_module_v2(db, "plan_matrix", &MATRIX_MODULE, c, 0);
}
