/*
** grant.c — grant_quota(subject, feature, amount [, expires_at [, key
** [, priority [, starts_at [, category]]]]]) (SPEC §6 "Grants"): credits on
** top of the plan's quota, with a ledger row of kind 'grant'; and
** grant_void(grant [, reason]), which stops what is left of one from
** counting, with a ledger row of kind 'void'.
*/
#include <cjson/cJSON.h>
#include <string.h>

#include "call.h"

/* grant_quota(subject, feature, amount [, expires_at [, key [, priority
** [, starts_at [, category]]]]]): credits on top of the plan's quota, counted
** from starts_at (default now) until expires_at; returns the grant's id.
** category: 'paid' (default) or 'promotional' (burned first). Grants of a
** pooled feature go to the pool's owner. Idempotent with a key. */
static void fn_grant(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  int rc, found = 0;
  int64_t starts, expires = 0, priority = 0;
  int has_expiry = 0;
  char s_text[32], e_text[32];
  const char *category = "paid";
  if (!ent_argc(ctx, argc, 3, 8,
                "grant_quota(subject, feature, amount [, expires_at [, key [, priority [, "
                "starts_at [, category]]]]])")) {
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
  if (rc == SQLITE_OK && argc >= 8 && sqlite3_value_type(argv[7]) != SQLITE_NULL) {
    const char *z = (const char *)sqlite3_value_text(argv[7]);
    if (sqlite3_value_type(argv[7]) != SQLITE_TEXT || !z ||
        (strcmp(z, "paid") != 0 && strcmp(z, "promotional") != 0)) {
      rc = ent_err(&k.e, SQLITE_ERROR,
                   "grant_quota: category must be 'paid' (the default) or 'promotional' "
                   "(burned before paid grants), not %s%s%s",
                   sqlite3_value_type(argv[7]) == SQLITE_TEXT ? "'" : "",
                   sqlite3_value_type(argv[7]) == SQLITE_TEXT && z ? z : "a value that is not text",
                   sqlite3_value_type(argv[7]) == SQLITE_TEXT ? "'" : "");
    } else {
      category = strcmp(z, "paid") == 0 ? "paid" : "promotional";
    }
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
        sqlite3_bind_text(st, 9, category, -1, SQLITE_STATIC);
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

/* The grant's row, for grant_void. */
static int void_run(Call *k, int64_t id, const char *reason, int64_t *left) {
  sqlite3_stmt *st = 0;
  char *subject = 0, *feature = 0, *voided = 0, *meta = 0;
  int rc;
  cJSON *m;
  *left = 0;
  if ((rc = ent_call_begin(k, 0)) != SQLITE_OK) return rc;
  rc =
      sqlite3_prepare_v2(k->c->db,
                         "SELECT subject, feature, remaining, voided_at FROM main.ent_grants WHERE "
                         "id = ?1",
                         -1, &st, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      subject = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
      feature = sqlite3_mprintf("%s", sqlite3_column_text(st, 1));
      *left = sqlite3_column_int64(st, 2);
      if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        voided = sqlite3_mprintf("%s", sqlite3_column_text(st, 3));
      }
      rc = !subject || !feature || (sqlite3_column_type(st, 3) != SQLITE_NULL && !voided)
               ? SQLITE_NOMEM
               : SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = ent_err(&k->e, SQLITE_ERROR,
                   "grant_void: there is no grant %lld; pass the id grant_quota() returned (SELECT "
                   "id FROM ent_grants)",
                   (long long)id);
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK && !k->e.code) ent_err_db(&k->e, k->c->db, rc, "reading ent_grants");
  if (rc == SQLITE_OK && voided) {
    rc = ent_err(&k->e, SQLITE_ERROR,
                 "grant_void: grant %lld was already voided at %s; what was left of it stopped "
                 "counting then",
                 (long long)id, voided);
  }
  /* the ledger row says which grant and why */
  if (rc == SQLITE_OK) {
    m = cJSON_CreateObject();
    if (!m || !cJSON_AddNumberToObject(m, "grant", (double)id) ||
        (reason && !cJSON_AddStringToObject(m, "reason", reason)) ||
        !(meta = cJSON_PrintUnformatted(m))) {
      rc = ent_err(&k->e, SQLITE_NOMEM, "out of memory");
    }
    cJSON_Delete(m);
  }
  if (rc == SQLITE_OK) {
    rc =
        sqlite3_prepare_v2(k->c->db,
                           "UPDATE main.ent_grants SET voided_at = ?2, void_reason = ?3 WHERE id = "
                           "?1 AND voided_at IS NULL",
                           -1, &st, 0);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(st, 1, id);
      sqlite3_bind_text(st, 2, k->at, -1, SQLITE_STATIC);
      if (reason) sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
      rc = ent_step_done(k->c, st, &k->e, "voiding the grant");
    } else {
      ent_err_db(&k->e, k->c->db, rc, "voiding the grant");
    }
    sqlite3_finalize(st);
  }
  if (rc == SQLITE_OK) {
    k->subject = k->s.subject = subject; /* the owner's row: no pool column */
    k->feature = k->f.feature = feature;
    k->meta = meta;
    rc = ent_call_ledger_row(k, *left, 0);
  }
  k->meta = 0;
  cJSON_free(meta);
  sqlite3_free(subject);
  sqlite3_free(feature);
  sqlite3_free(voided);
  return rc;
}

/* grant_void(grant [, reason]): the units left of a grant stop counting;
** returns them. The grant and its ledger row stay. */
static void fn_void(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  int rc = SQLITE_OK;
  int64_t left = 0, id = 0;
  const char *reason = 0;
  if (!ent_argc(ctx, argc, 1, 2, "grant_void(grant [, reason])")) return;
  memset(&k, 0, sizeof(k));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_VOID;
  k.fn = "grant_void";
  k.now = ent_now(k.c);
  ent_fmt_time(k.now, 0, k.at);
  if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER) {
    rc = ent_err(&k.e, SQLITE_ERROR,
                 "grant_void: grant must be the integer id grant_quota() returned, not %s",
                 sqlite3_value_type(argv[0]) == SQLITE_NULL   ? "NULL"
                 : sqlite3_value_type(argv[0]) == SQLITE_TEXT ? "text"
                                                              : "a real or blob");
  }
  id = sqlite3_value_int64(argv[0]);
  if (rc == SQLITE_OK && argc == 2 && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
    reason = (const char *)sqlite3_value_text(argv[1]);
    if (sqlite3_value_type(argv[1]) != SQLITE_TEXT || !reason) {
      rc = ent_err(&k.e, SQLITE_ERROR,
                   "grant_void: reason must be text (or NULL), such as "
                   "'refunded: order 42'");
    }
  }
  if (rc == SQLITE_OK) rc = ent_call_enter(k.c, k.fn, &k.e);
  if (rc == SQLITE_OK) {
    rc = void_run(&k, id, reason, &left);
    if (ent_call_end(&k, rc == SQLITE_OK) != SQLITE_OK && rc == SQLITE_OK) rc = k.e.code;
    k.c->writing = 0;
  }
  if (rc == SQLITE_OK) {
    sqlite3_result_int64(ctx, left);
  } else {
    ent_result_err(ctx, &k.e);
  }
  ent_err_clear(&k.e);
}

int ent_register_grant(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {{"grant_quota", fn_grant}, {"grant_void", fn_void}};
  return ent_register_fns(db, c, fns, 2);
}
