/*
** reset.c — reset_quota(subject [, feature]) (SPEC §6): this period's usage
** back to zero, recorded in the ledger as kind 'reset'.
*/
#include <string.h>

#include "call.h"

/* Resets one feature this period; counts it in *n when there was usage. */
static int reset_one(Call *k, int *n) {
  sqlite3_stmt *st;
  int64_t logged;
  if (k->f.type == T_RATE) {
    if (!(st = ent_stmt(k->c, ST_RATE_RESET, &k->e))) return k->e.code;
    sqlite3_bind_text(st, 1, k->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->f.feature, -1, SQLITE_STATIC);
    if (ent_step_done(k->c, st, &k->e, "resetting ent_rates") != SQLITE_OK) return k->e.code;
    if (sqlite3_changes(k->c->db) == 0) return SQLITE_OK;
    (*n)++;
    k->feature = k->f.feature;
    return ent_call_ledger_row(k, 0, 0);
  }
  if (ent_usage_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK) return k->e.code;
  if (k->u.used == 0) return SQLITE_OK;
  {
    /* the logged part of used: what the ledger rows of this period add up to */
    sqlite3_stmt *q = ent_stmt(k->c, ST_COUNTER_LOGGED, &k->e);
    int rc;
    if (!q) return k->e.code;
    sqlite3_bind_text(q, 1, ent_counter_subject(&k->s, &k->f), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, k->f.feature, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, k->u.start_text, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    logged = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW) return ent_err_db(&k->e, k->c->db, rc, "reading ent_counters");
  }
  if (!(st = ent_stmt(k->c, ST_COUNTER_RESET, &k->e))) return k->e.code;
  sqlite3_bind_text(st, 1, ent_counter_subject(&k->s, &k->f), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->f.feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
  if (ent_step_done(k->c, st, &k->e, "resetting the counter") != SQLITE_OK) return k->e.code;
  (*n)++;
  k->feature = k->f.feature;
  return ent_call_ledger_row(k, logged, 0);
}

/* reset_quota(subject [, feature]): this period's usage back to 0, for one
** feature or every metered and rate feature of the subject's plan; an admin
** action, recorded in the ledger as kind 'reset'. Returns how many were
** reset. */
static void fn_reset(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  int rc, n = 0, fi;
  if (!ent_argc(ctx, argc, 1, 2, "reset_quota(subject [, feature])")) return;
  memset(&k, 0, sizeof(k));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_RESET;
  k.fn = "reset_quota";
  rc = ent_arg_subject(argv[0], k.fn, &k.subject, &k.e);
  if (rc == SQLITE_OK && argc == 2) rc = ent_arg_feature(argv[1], k.fn, &k.feature, &k.e);
  if (rc == SQLITE_OK) rc = ent_call_enter(k.c, k.fn, &k.e);
  if (rc == SQLITE_OK) {
    k.now = ent_now(k.c);
    ent_fmt_time(k.now, 0, k.at);
    k.amount = 1; /* not 0: take the lock and the savepoint */
    rc = ent_call_begin(&k, 0);
    if (rc == SQLITE_OK) rc = ent_resolve_subject(k.c, k.subject, 0, k.now, &k.s, &k.e);
    if (rc == SQLITE_OK && argc == 2) {
      rc = ent_resolve_feature(k.c, &k.s, k.feature, &k.f, &k.e);
      if (rc == SQLITE_OK && k.f.type != T_METERED && k.f.type != T_RATE) {
        rc = ent_err(&k.e, SQLITE_ERROR,
                     "reset_quota: feature '%s' is %s; only metered and rate features have "
                     "usage to reset",
                     k.feature, ent_type_name(k.f.type));
      }
      if (rc == SQLITE_OK) rc = reset_one(&k, &n);
    }
    for (fi = 0; rc == SQLITE_OK && argc == 1 && k.s.plan_idx >= 0 && fi < k.c->cfg->nfeat; fi++) {
      EntFeatCfg *fc = &k.c->cfg->feats[fi];
      if (!k.c->cfg->plans[k.s.plan_idx].ents[fi] ||
          (fc->type != T_METERED && fc->type != T_RATE)) {
        continue;
      }
      rc = ent_resolve_feature(k.c, &k.s, fc->name, &k.f, &k.e);
      if (rc == SQLITE_OK) rc = reset_one(&k, &n);
    }
    if (ent_call_end(&k, rc == SQLITE_OK) != SQLITE_OK && rc == SQLITE_OK) rc = k.e.code;
    k.c->writing = 0;
  }
  if (rc == SQLITE_OK) {
    sqlite3_result_int(ctx, n);
  } else {
    ent_result_err(ctx, &k.e);
  }
  ent_err_clear(&k.e);
}

int ent_register_reset(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {{"reset_quota", fn_reset}};
  return ent_register_fns(db, c, fns, 1);
}
