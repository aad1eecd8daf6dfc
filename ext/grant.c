/*
** grant.c — grant_quota(subject, feature, amount [, expires_at [, key
** [, priority [, starts_at]]]]) (SPEC §6 "Grants"): credits on top of the
** plan's quota, with a ledger row of kind 'grant'.
*/
#include <string.h>

#include "call.h"

/* grant_quota(subject, feature, amount [, expires_at [, key [, priority
** [, starts_at]]]]): credits on top of the plan's quota, counted from
** starts_at (default now) until expires_at; returns the grant's id. Grants
** of a pooled feature go to the pool's owner. Idempotent with a key. */
static void fn_grant(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  int rc, found = 0;
  int64_t starts, expires = 0, priority = 0;
  int has_expiry = 0;
  char s_text[32], e_text[32];
  if (!ent_argc(ctx, argc, 3, 7,
                "grant_quota(subject, feature, amount [, expires_at [, key [, priority [, "
                "starts_at]]]])")) {
    return;
  }
  memset(&k, 0, sizeof(k));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_GRANT;
  k.fn = "grant_quota";
  k.now = ent_now(k.c);
  starts = k.now;
  {
    /* the key is argument 5 here; ent_call_args() reads it from position 4 */
    sqlite3_value *v[4] = {argv[0], argv[1], argv[2], argc >= 5 ? argv[4] : 0};
    rc = ent_call_args(&k, argc >= 5 ? 4 : 3, v);
  }
  if (rc == SQLITE_OK && k.amount < 1) {
    rc = ent_err(&k.e, SQLITE_ERROR, "grant_quota: amount must be >= 1, got %lld",
                 (long long)k.amount);
  }
  if (rc == SQLITE_OK && argc >= 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL) {
    has_expiry = 1;
    rc = ent_time_value(k.c, argv[3], "grant_quota: expires_at", &expires, &k.e);
  }
  if (rc == SQLITE_OK && argc >= 6 && sqlite3_value_type(argv[5]) != SQLITE_NULL) {
    if (sqlite3_value_type(argv[5]) != SQLITE_INTEGER) {
      rc = ent_err(&k.e, SQLITE_ERROR,
                   "grant_quota: priority must be an integer (lower burns first), not %s",
                   sqlite3_value_type(argv[5]) == SQLITE_TEXT ? "text" : "a real or blob");
    }
    priority = sqlite3_value_int64(argv[5]);
  }
  if (rc == SQLITE_OK && argc >= 7 && sqlite3_value_type(argv[6]) != SQLITE_NULL) {
    rc = ent_time_value(k.c, argv[6], "grant_quota: starts_at", &starts, &k.e);
  }
  ent_fmt_time(starts, 0, s_text);
  ent_fmt_time(expires, 0, e_text);
  if (rc == SQLITE_OK && has_expiry && expires <= starts) {
    rc = ent_err(&k.e, SQLITE_ERROR, "grant_quota: expires_at %s is not after starts_at %s", e_text,
                 s_text);
  }
  if (rc == SQLITE_OK) rc = ent_call_enter(k.c, k.fn, &k.e);
  if (rc == SQLITE_OK) {
    ent_fmt_time(k.now, 0, k.at);
    rc = ent_call_begin(&k, 0);
    if (rc == SQLITE_OK) rc = ent_resolve_subject(k.c, k.subject, 0, k.now, &k.s, &k.e);
    if (rc == SQLITE_OK) rc = ent_resolve_feature(k.c, &k.s, k.feature, &k.f, &k.e);
    if (rc == SQLITE_OK && k.f.type != T_METERED) {
      rc = ent_err(&k.e, SQLITE_ERROR,
                   "grant_quota: feature '%s' is %s; grants add to metered "
                   "quotas",
                   k.feature, ent_type_name(k.f.type));
    }
    if (rc == SQLITE_OK && k.key) rc = ent_call_replay(&k, &found);
    if (rc == SQLITE_OK) {
      sqlite3_stmt *st = ent_stmt(k.c, found ? ST_GRANT_BY_KEY : ST_GRANT_INSERT, &k.e);
      const char *owner = ent_counter_subject(&k.s, &k.f);
      if (!st) rc = k.e.code;
      if (st && found) { /* a retry: the grant made the first time */
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k.key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_NOTFOUND;
        k.remaining = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_OK) {
          rc = ent_err(&k.e, SQLITE_ERROR,
                       "grant_quota: key '%s' is in the ledger but its "
                       "grant is gone from ent_grants",
                       k.key);
        }
      } else if (st) {
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k.feature, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, k.amount);
        sqlite3_bind_int64(st, 4, priority);
        sqlite3_bind_text(st, 5, s_text, -1, SQLITE_STATIC);
        if (has_expiry) {
          sqlite3_bind_text(st, 6, e_text, -1, SQLITE_STATIC);
        } else {
          sqlite3_bind_null(st, 6);
        }
        if (k.key) {
          sqlite3_bind_text(st, 7, k.key, -1, SQLITE_STATIC);
        } else {
          sqlite3_bind_null(st, 7);
        }
        sqlite3_bind_text(st, 8, k.at, -1, SQLITE_STATIC);
        rc = ent_step_done(k.c, st, &k.e, "writing ent_grants");
        k.remaining = sqlite3_last_insert_rowid(k.c->db);
        if (rc == SQLITE_OK) {
          int64_t id = k.remaining;
          rc = ent_call_ledger_row(&k, k.amount, 0);
          k.remaining = id;
        }
      }
    }
    if (ent_call_end(&k, rc == SQLITE_OK) != SQLITE_OK && rc == SQLITE_OK) rc = k.e.code;
    k.c->writing = 0;
  }
  if (rc == SQLITE_OK) {
    sqlite3_result_int64(ctx, k.remaining); /* the grant's id */
  } else {
    ent_result_err(ctx, &k.e);
  }
  ent_err_clear(&k.e);
}

int ent_register_grant(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {{"grant_quota", fn_grant}};
  return ent_register_fns(db, c, fns, 1);
}
