/*
** config.c — the configuration as JSON (SPEC §3), writing half:
** entitlements_load() has config_read.c check the whole document, then writes
** ent_features, ent_plans and ent_plan_features in one savepoint;
** entitlements_config() writes the stored configuration back out as a
** document that load reproduces exactly.
**
** 'merge' is done by overlaying the document on the stored configuration and
** loading the result as a whole, so both modes share one checker and one
** writer, and every check (types across plans, inheritance cycles, one
** default) sees the configuration as it will be.
*/
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static cJSON *money_out(int64_t micros) {
  char buf[32];
  if ((double)micros < MAX_JSON_INT) return cJSON_CreateNumber((double)micros / 1e6);
  ent_money_fmt(micros, buf);
  return cJSON_CreateString(buf);
}

/* Adds v to o under key; when that fails (out of memory) v belongs to
** nobody, so it is freed here. */
static int attach(cJSON *o, const char *key, cJSON *v) {
  if (v && cJSON_AddItemToObject(o, key, v)) return 1;
  cJSON_Delete(v);
  return 0;
}

static int add_number(cJSON *o, const char *name, int64_t v) {
  return cJSON_AddNumberToObject(o, name, (double)v) != 0;
}

/* A feature's or currency's "rollover", from column i (JSON) when set. */
static int add_rollover(cJSON *f, sqlite3_stmt *st, int i, int *ok) {
  cJSON *r;
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return SQLITE_OK;
  if (!(r = cJSON_Parse((const char *)sqlite3_column_text(st, i))) || !cJSON_IsObject(r)) {
    cJSON_Delete(r);
    return SQLITE_CORRUPT;
  }
  *ok = attach(f, "rollover", r);
  return SQLITE_OK;
}

static int config_doc(EntConn *c, cJSON **out, EntErr *e) {
  static const char *const SQLS[] = {
      "SELECT feature, type, unit, decimals, pricing, rollover FROM main.ent_features WHERE "
      "declared = 1 "
      "ORDER BY position",
      "SELECT plan, rank, price, currency, inherits, trial_days, is_default, spend_cap FROM "
      "main.ent_plans ORDER BY position, plan",
      "SELECT feature, spec FROM main.ent_plan_features WHERE plan = ?1 ORDER BY position, feature",
  };
  sqlite3_stmt *st[3] = {0, 0, 0};
  cJSON *doc = cJSON_CreateObject(), *feats = cJSON_CreateObject(), *plans = 0, *curs = 0;
  int rc = SQLITE_OK, i, ok = doc && feats;
  for (i = 0; i < 3 && rc == SQLITE_OK; i++) rc = sqlite3_prepare_v2(c->db, SQLS[i], -1, &st[i], 0);
  while (rc == SQLITE_OK && ok && (rc = sqlite3_step(st[0])) == SQLITE_ROW) {
    cJSON *f = cJSON_CreateObject(), *price;
    const char *name = (const char *)sqlite3_column_text(st[0], 0);
    rc = SQLITE_OK;
    if (sqlite3_column_type(st[0], 3) != SQLITE_NULL) { /* a currency */
      if (!curs && (!(curs = cJSON_CreateObject()) || !attach(doc, "currencies", curs))) ok = 0;
      if (ok) {
        ok = attach(curs, name, f);
      } else {
        cJSON_Delete(f);
      }
      if (ok && sqlite3_column_int(st[0], 3) > 0)
        ok = add_number(f, "decimals", sqlite3_column_int(st[0], 3));
      if (ok && (rc = add_rollover(f, st[0], 5, &ok)) != SQLITE_OK) break;
      continue;
    }
    ok = attach(feats, name, f) &&
         cJSON_AddStringToObject(f, "type", (const char *)sqlite3_column_text(st[0], 1));
    if (ok && sqlite3_column_type(st[0], 2) != SQLITE_NULL) {
      ok = cJSON_AddStringToObject(f, "unit", (const char *)sqlite3_column_text(st[0], 2)) != 0;
    }
    if (ok && sqlite3_column_type(st[0], 4) != SQLITE_NULL) {
      cJSON *it, *next;
      if (!(price = cJSON_Parse((const char *)sqlite3_column_text(st[0], 4)))) {
        rc = SQLITE_CORRUPT;
        break;
      }
      for (it = price->child; it && ok; it = next) { /* moved into the feature's object */
        next = it->next;
        ok = attach(f, it->string, cJSON_DetachItemViaPointer(price, it));
      }
      cJSON_Delete(price);
    }
    if (ok && (rc = add_rollover(f, st[0], 5, &ok)) != SQLITE_OK) break;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc == SQLITE_OK && ok) {
    if (cJSON_GetArraySize(feats) > 0) {
      ok = attach(doc, "features", feats);
    } else {
      cJSON_Delete(feats);
    }
    feats = 0;
    ok = ok && (plans = cJSON_AddObjectToObject(doc, "plans")) != 0;
  }
  while (rc == SQLITE_OK && ok && (rc = sqlite3_step(st[1])) == SQLITE_ROW) {
    sqlite3_stmt *q = st[1];
    cJSON *p = cJSON_CreateObject(), *pf = 0;
    ok = attach(plans, (const char *)sqlite3_column_text(q, 0), p) &&
         add_number(p, "rank", sqlite3_column_int64(q, 1));
    if (ok && sqlite3_column_type(q, 2) != SQLITE_NULL) {
      int64_t micros = 0;
      ent_money_text((const char *)sqlite3_column_text(q, 2), &micros);
      ok = attach(p, "price", money_out(micros));
    }
    if (ok && sqlite3_column_type(q, 3) != SQLITE_NULL) {
      ok = cJSON_AddStringToObject(p, "currency", (const char *)sqlite3_column_text(q, 3)) != 0;
    }
    if (ok && sqlite3_column_type(q, 4) != SQLITE_NULL) {
      ok = cJSON_AddStringToObject(p, "inherits", (const char *)sqlite3_column_text(q, 4)) != 0;
    }
    if (ok && sqlite3_column_type(q, 5) != SQLITE_NULL) {
      ok = add_number(p, "trial_days", sqlite3_column_int64(q, 5));
    }
    if (ok && sqlite3_column_int(q, 6)) ok = cJSON_AddTrueToObject(p, "default") != 0;
    if (ok && sqlite3_column_type(q, 7) != SQLITE_NULL) {
      int64_t micros = 0;
      ent_money_text((const char *)sqlite3_column_text(q, 7), &micros);
      ok = attach(p, "spend_cap", money_out(micros));
    }
    ok = ok && (pf = cJSON_AddObjectToObject(p, "features")) != 0;
    sqlite3_bind_text(st[2], 1, (const char *)sqlite3_column_text(q, 0), -1, SQLITE_TRANSIENT);
    while (ok && (rc = sqlite3_step(st[2])) == SQLITE_ROW) {
      cJSON *v = cJSON_Parse((const char *)sqlite3_column_text(st[2], 1));
      if (!v) {
        rc = SQLITE_CORRUPT;
        break;
      }
      ok = attach(pf, (const char *)sqlite3_column_text(st[2], 0), v);
    }
    sqlite3_reset(st[2]);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc == SQLITE_OK && ok) {
    /* settings, as they were loaded */
    sqlite3_stmt *q = 0;
    rc = sqlite3_prepare_v2(c->db, "SELECT value FROM main.ent_meta WHERE key = 'settings'", -1, &q,
                            0);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
      cJSON *v = cJSON_Parse((const char *)sqlite3_column_text(q, 0));
      if (!v) rc = SQLITE_CORRUPT;
      ok = attach(doc, "settings", v);
    }
    sqlite3_finalize(q);
  }
  if (rc == SQLITE_CORRUPT) {
    ent_err(e, SQLITE_ERROR,
            "ent_plan_features.spec or ent_meta.settings holds invalid JSON; reload the "
            "configuration with entitlements_load()");
  } else if (rc != SQLITE_OK) {
    ent_err_db(e, c->db, rc, "reading the configuration");
  } else if (!ok) {
    ent_err(e, SQLITE_NOMEM, "out of memory");
  }
  for (i = 0; i < 3; i++) sqlite3_finalize(st[i]);
  cJSON_Delete(feats);
  if (e->code != SQLITE_OK) {
    cJSON_Delete(doc);
    return e->code;
  }
  *out = doc;
  return SQLITE_OK;
}

/* 'merge': the stored configuration with the document's features, plans and
** currencies put in place of those of the same name. A plan the document
** makes the default takes that role from the stored one. */
static int overlay(cJSON *base, const cJSON *doc, EntErr *e) {
  static const char *const SECTIONS[] = {"features", "plans", "currencies"};
  static const char *const WHAT[] = {"feature", "plan", "currency"};
  const cJSON *it;
  int i, new_default = 0;
  /* the overlay would fold a name given twice into one: refuse it first */
  for (i = 0; i < 3; i++) {
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(doc, SECTIONS[i]);
    if (!cJSON_IsObject(sec)) continue;
    cJSON_ArrayForEach(it, sec) {
      if (cJSON_GetObjectItemCaseSensitive(sec, it->string) != it) {
        return ent_err(e, SQLITE_ERROR, "%s.%s: %s named twice", SECTIONS[i], it->string, WHAT[i]);
      }
    }
  }
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "plans")) {
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "default"))) new_default = 1;
  }
  if (new_default) {
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(base, "plans")) {
      cJSON_DeleteItemFromObjectCaseSensitive(p, "default");
    }
  }
  for (i = 0; i < 3; i++) {
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(doc, SECTIONS[i]);
    cJSON *dst;
    if (!src) continue;
    dst = cJSON_GetObjectItemCaseSensitive(base, SECTIONS[i]);
    if (!cJSON_IsObject(src) || !cJSON_IsObject(dst)) {
      /* not mergeable: take it as it is, and let the checker say what is wrong */
      cJSON *copy = cJSON_Duplicate(src, 1);
      if (!copy) return ent_err(e, SQLITE_NOMEM, "out of memory");
      cJSON_DeleteItemFromObjectCaseSensitive(base, SECTIONS[i]);
      if (!attach(base, SECTIONS[i], copy)) return ent_err(e, SQLITE_NOMEM, "out of memory");
      continue;
    }
    cJSON_ArrayForEach(it, src) {
      cJSON *copy = cJSON_Duplicate(it, 1);
      if (!copy) return ent_err(e, SQLITE_NOMEM, "out of memory");
      cJSON *old = cJSON_GetObjectItemCaseSensitive(dst, it->string);
      if (old) {
        /* in place (the order is the position), keeping the copy's own name:
        ** cJSON_ReplaceItemInObject() copies the name again and, when that
        ** copy fails for lack of memory, inserts an item with no name */
        if (!copy->string || !cJSON_ReplaceItemViaPointer(dst, old, copy)) {
          cJSON_Delete(copy);
          return ent_err(e, SQLITE_NOMEM, "out of memory");
        }
      } else if (!attach(dst, it->string, copy)) {
        return ent_err(e, SQLITE_NOMEM, "out of memory");
      }
    }
  }
  for (it = doc->child; it; it = it->next) {
    if (strcmp(it->string, "features") && strcmp(it->string, "plans") &&
        strcmp(it->string, "currencies")) {
      cJSON *copy = cJSON_Duplicate(it, 1);
      if (!copy) return ent_err(e, SQLITE_NOMEM, "out of memory");
      cJSON_DeleteItemFromObjectCaseSensitive(base, it->string);
      if (!attach(base, it->string, copy)) return ent_err(e, SQLITE_NOMEM, "out of memory");
    }
  }
  return SQLITE_OK;
}

/* ---- writing the model ---------------------------------------------------- */

/* 'replace' may not delete a plan that subjects are on. */
static int check_orphans(EntConn *c, Model *m, EntErr *e) {
  sqlite3_stmt *st = 0;
  int rc =
      sqlite3_prepare_v2(c->db,
                         "SELECT plan, count(*), min(subject) FROM main.ent_subjects WHERE plan "
                         "IS NOT NULL GROUP BY plan ORDER BY plan",
                         -1, &st, 0);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *plan = (const char *)sqlite3_column_text(st, 0);
    rc = SQLITE_OK; /* next row: every plan in use is checked, not only the first */
    if (!ent_model_plan(m, plan)) {
      ent_err(e, SQLITE_ERROR,
              "entitlements_load: 'replace' would delete plan '%s', still used by %lld "
              "subject(s) such as '%s'; move them with subject_set_plan() first, or keep the "
              "plan in the document",
              plan, (long long)sqlite3_column_int64(st, 1), sqlite3_column_text(st, 2));
      break;
    }
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc != SQLITE_OK && !e->code) ent_err_db(e, c->db, rc, "checking plans in use");
  sqlite3_finalize(st);
  return e->code;
}

static const char *const WRITE_SQL[] = {
    "DELETE FROM main.ent_plan_features",
    "SELECT feature FROM main.ent_features",
    "DELETE FROM main.ent_features WHERE feature = ?1",
    /* a merge whose plans only mention a currency keeps it one */
    "INSERT INTO main.ent_features(feature, type, unit, declared, position, decimals, pricing, "
    "rollover) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(feature) DO UPDATE SET type = "
    "excluded.type, "
    "unit = excluded.unit, declared = CASE WHEN excluded.declared = 0 AND decimals IS NOT NULL "
    "AND excluded.type = 'metered' THEN 1 ELSE excluded.declared END, position = "
    "excluded.position, decimals = CASE WHEN excluded.declared = 0 AND excluded.type = 'metered' "
    "THEN decimals ELSE excluded.decimals END, pricing = excluded.pricing, rollover = CASE WHEN "
    "excluded.declared = 0 AND excluded.type = 'metered' THEN rollover ELSE excluded.rollover END",
    "SELECT plan FROM main.ent_plans",
    "DELETE FROM main.ent_plans WHERE plan = ?1",
    "INSERT INTO main.ent_plans(plan, rank, price, currency, inherits, trial_days, is_default, "
    "position, spend_cap) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(plan) DO UPDATE "
    "SET rank = excluded.rank, price = excluded.price, currency = excluded.currency, inherits = "
    "excluded.inherits, trial_days = excluded.trial_days, is_default = excluded.is_default, "
    "position = excluded.position, spend_cap = excluded.spend_cap",
    "INSERT INTO main.ent_plan_features(plan, feature, enabled, quota, period, soft, cap, "
    "overage_price, per_seat, value, spec, position, burst, ledger, alerts, pool) VALUES (?1, "
    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    "INSERT INTO main.ent_meta(key, value) VALUES ('settings', ?1) ON CONFLICT(key) DO UPDATE SET "
    "value = excluded.value",
    "DELETE FROM main.ent_meta WHERE key = 'settings'",
};
enum {
  W_CLEAR_PF,
  W_LIST_F,
  W_DEL_F,
  W_PUT_F,
  W_LIST_P,
  W_DEL_P,
  W_PUT_P,
  W_PUT_PF,
  W_PUT_SETTINGS,
  W_DEL_SETTINGS,
  W_COUNT
};

/* Binds are STATIC throughout the writes: every bound text outlives its step,
** and a copy could fail for lack of memory after the first write, when SQLite
** can no longer run the statements that would undo it. */
static void bind_opt_text(sqlite3_stmt *st, int i, const char *z) {
  if (z) {
    sqlite3_bind_text(st, i, z, -1, SQLITE_STATIC);
  } else {
    sqlite3_bind_null(st, i);
  }
}

/* Deletes the rows of a registry (features or plans) the model does not name. */
static int sweep(EntConn *c, sqlite3_stmt *list, sqlite3_stmt *del, Model *m, int plans) {
  int rc;
  while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(list, 0);
    if (plans ? ent_model_plan(m, name) != 0 : ent_model_feat(m, name) != 0) continue;
    sqlite3_bind_text(del, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(del);
    sqlite3_reset(del);
    if (rc != SQLITE_DONE) break;
  }
  sqlite3_reset(list);
  (void)c;
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int write_model(EntConn *c, Model *m) {
  sqlite3_stmt *st[W_COUNT] = {0};
  int rc = SQLITE_OK, i, j, k;
  for (i = 0; i < W_COUNT && rc == SQLITE_OK; i++) {
    rc = sqlite3_prepare_v2(c->db, WRITE_SQL[i], -1, &st[i], 0);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st[W_CLEAR_PF]) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
  }
  if (rc == SQLITE_OK) rc = sweep(c, st[W_LIST_F], st[W_DEL_F], m, 0);
  for (i = 0; i < m->nfeats && rc == SQLITE_OK; i++) {
    sqlite3_stmt *q = st[W_PUT_F];
    sqlite3_bind_text(q, 1, m->feats[i].name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ent_type_name(m->feats[i].type), -1, SQLITE_STATIC);
    bind_opt_text(q, 3, m->feats[i].unit);
    sqlite3_bind_int(q, 4, m->feats[i].declared);
    sqlite3_bind_int(q, 5, i);
    if (m->feats[i].is_currency) {
      sqlite3_bind_int64(q, 6, m->feats[i].decimals);
    } else {
      sqlite3_bind_null(q, 6);
    }
    bind_opt_text(q, 7, m->feats[i].pricing);
    bind_opt_text(q, 8, m->feats[i].rollover);
    rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
    sqlite3_reset(q);
  }
  if (rc == SQLITE_OK) rc = sweep(c, st[W_LIST_P], st[W_DEL_P], m, 1);
  for (i = 0; i < m->nplans && rc == SQLITE_OK; i++) {
    const Plan *pl = &m->plans[i];
    sqlite3_stmt *q = st[W_PUT_P];
    char price[32], cap[32];
    sqlite3_bind_text(q, 1, pl->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, pl->rank);
    ent_money_fmt(pl->spend_cap, cap);
    bind_opt_text(q, 9, pl->has_spend_cap ? cap : 0);
    ent_money_fmt(pl->price, price);
    bind_opt_text(q, 3, pl->has_price ? price : 0);
    bind_opt_text(q, 4, pl->currency);
    bind_opt_text(q, 5, pl->inherits);
    if (pl->has_trial) {
      sqlite3_bind_int64(q, 6, pl->trial_days);
    } else {
      sqlite3_bind_null(q, 6);
    }
    sqlite3_bind_int(q, 7, pl->is_default);
    sqlite3_bind_int(q, 8, i);
    rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
    sqlite3_reset(q);
    for (j = 0; j < pl->nents && rc == SQLITE_OK; j++) {
      const Ent *en = &pl->ents[j];
      const Feat *f = ent_model_feat(m, en->feature);
      char *spec = cJSON_PrintUnformatted(en->json);
      q = st[W_PUT_PF];
      if (!spec) {
        rc = SQLITE_NOMEM;
        break;
      }
      sqlite3_bind_text(q, 1, pl->name, -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 2, en->feature, -1, SQLITE_STATIC);
      sqlite3_bind_int(q, 3, en->enabled);
      for (k = 4; k <= 10; k++) sqlite3_bind_null(q, k);
      sqlite3_bind_null(q, 13);
      sqlite3_bind_int(q, 14, !en->no_ledger);
      sqlite3_bind_int(q, 16, en->pool);
      if (en->alerts[0]) {
        sqlite3_bind_text(q, 15, en->alerts, -1, SQLITE_STATIC);
      } else {
        sqlite3_bind_null(q, 15);
      }
      if (f->type == T_METERED && en->enabled) {
        if (!en->unlimited) sqlite3_bind_int64(q, 4, en->quota);
        sqlite3_bind_text(q, 5, ent_period_name(en->period), -1, SQLITE_STATIC);
        if (en->has_cap) sqlite3_bind_int64(q, 7, en->cap);
        ent_money_fmt(en->price, price);
        if (en->has_price) sqlite3_bind_text(q, 8, price, -1, SQLITE_STATIC);
      } else if (f->type == T_RATE && en->enabled) {
        sqlite3_bind_int64(q, 4, en->quota);
        sqlite3_bind_text(q, 5, en->rate_period, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 13, en->burst);
      } else if (f->type == T_BOOLEAN || f->type == T_CONFIG) {
        sqlite3_bind_text(q, 10, spec, -1, SQLITE_STATIC);
      }
      sqlite3_bind_int(q, 6, en->soft);
      sqlite3_bind_int(q, 9, en->per_seat);
      sqlite3_bind_text(q, 11, spec, -1, SQLITE_STATIC);
      sqlite3_bind_int(q, 12, j);
      rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
      sqlite3_reset(q);
      cJSON_free(spec);
    }
  }
  if (rc == SQLITE_OK) {
    char *json = m->settings ? cJSON_PrintUnformatted(m->settings) : 0;
    sqlite3_stmt *q = st[json ? W_PUT_SETTINGS : W_DEL_SETTINGS];
    if (json) sqlite3_bind_text(q, 1, json, -1, SQLITE_STATIC);
    if (m->settings && !json) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK) rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
    cJSON_free(json);
  }
  /* the message now: finalizing the other statements clears it */
  if (rc != SQLITE_OK) ent_err_db(m->e, c->db, rc, "writing the configuration");
  for (i = 0; i < W_COUNT; i++) sqlite3_finalize(st[i]);
  return rc;
}

/* ---- the SQL functions ------------------------------------------------- */

static void fn_load(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  Model m = {.e = &e};
  cJSON *doc = 0, *whole = 0;
  const char *json, *end = 0;
  int replace = 0, rc, nplans;
  if (!ent_argc(ctx, argc, 1, 2, "entitlements_load(json [, mode])")) return;
  if (argc == 2 && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
    const char *mode = (const char *)sqlite3_value_text(argv[1]);
    if (mode && strcmp(mode, "replace") == 0) {
      replace = 1;
    } else if (!mode || strcmp(mode, "merge") != 0) {
      ent_err(&e, SQLITE_ERROR,
              "entitlements_load: mode must be 'merge' (the default) or 'replace', not '%s'",
              mode ? mode : "");
      ent_result_err(ctx, &e);
      return;
    }
  }
  /* a blob is taken as UTF-8 text: readfile('plans.json') returns one */
  if (sqlite3_value_type(argv[0]) != SQLITE_TEXT && sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    ent_err(&e, SQLITE_ERROR,
            "entitlements_load: json must be the configuration as JSON text, not %s",
            sqlite3_value_type(argv[0]) == SQLITE_NULL ? "NULL" : "a number");
    ent_result_err(ctx, &e);
    return;
  }
  json = (const char *)sqlite3_value_text(argv[0]);
  /* + 1: the terminating NUL SQLite guarantees, which cJSON wants inside the length */
  doc = cJSON_ParseWithLengthOpts(json, (size_t)sqlite3_value_bytes(argv[0]) + 1, &end, 1);
  if (!doc) {
    long off = end ? (long)(end - json) : 0;
    ent_err(&e, SQLITE_ERROR,
            "entitlements_load: invalid JSON at byte offset %ld (near '%.20s'); check the "
            "document with json_valid()",
            off, json + (off <= sqlite3_value_bytes(argv[0]) ? off : 0));
    ent_result_err(ctx, &e);
    return;
  }
  nplans = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "plans"));
  rc = ent_doc_check(&e, doc, "");
  if (rc == SQLITE_OK)
    rc = cJSON_IsObject(doc) ? ent_schema_ensure(c, 0, &e) : ent_model_read(&m, doc);
  if (rc == SQLITE_OK) {
    if (replace) {
      whole = doc;
      doc = 0;
    } else if ((rc = config_doc(c, &whole, &e)) == SQLITE_OK) {
      rc = overlay(whole, doc, &e);
    }
  }
  if (rc == SQLITE_OK) rc = ent_model_read(&m, whole);
  if (rc == SQLITE_OK && replace) rc = check_orphans(c, &m, &e);
  if (rc == SQLITE_OK) {
    /* every check is done: nothing below fails on the document's content */
    EntSavepoint sp;
    if ((rc = ent_sp_open(c, &sp, "entitlements_load", &e)) == SQLITE_OK) {
      rc = write_model(c, &m);
      if (rc != SQLITE_OK && !e.code) ent_err_db(&e, c->db, rc, "writing the configuration");
      rc = ent_sp_close(c, &sp, rc == SQLITE_OK, &e);
    }
  }
  ent_model_free(&m);
  cJSON_Delete(doc);
  cJSON_Delete(whole);
  if (rc != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  sqlite3_result_int(ctx, nplans);
}

static void fn_config(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  cJSON *doc = 0;
  char *s;
  (void)argv;
  if (!ent_argc(ctx, argc, 0, 0, "entitlements_config()")) return;
  if (ent_schema_verify(c, &e) != SQLITE_OK || config_doc(c, &doc, &e) != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  s = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  if (!s) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, s, -1, cJSON_free);
}

int ent_register_config(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {
      {"entitlements_load", fn_load},
      {"entitlements_config", fn_config},
  };
  return ent_register_fns(db, c, fns, (int)(sizeof(fns) / sizeof(fns[0])));
}
