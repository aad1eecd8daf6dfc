/*
** plancache.c — the connection's in-memory copy of the configuration: every
** feature, and every plan's entitlements after inheritance, so that hot calls
** resolve a feature without SQL (the recursive inheritance query allocated a
** temporary table per call).
**
** Validity: ent_meta's config_generation is bumped by triggers on every
** change to ent_features, ent_plans and ent_plan_features, by any connection
** or by hand. Each call reads it in the same statement that reads the subject
** (no extra query), and a different value reloads the copy. Comparing for
** inequality also catches a rolled-back load.
*/
#include <cjson/cJSON.h>
#include <string.h>

#include "config.h"

static void plans_free(EntConfig *g) {
  int i, j;
  if (!g) return;
  for (i = 0; i < g->nplans; i++) {
    for (j = 0; g->plans[i].own && j < g->nfeat; j++) {
      sqlite3_free(g->plans[i].own[j].value);
      sqlite3_free(g->plans[i].own[j].rate_period);
      cJSON_Delete(g->plans[i].own[j].json);
    }
    sqlite3_free(g->plans[i].own);
    sqlite3_free(g->plans[i].ents);
    sqlite3_free(g->plans[i].name);
    sqlite3_free(g->plans[i].inherits);
  }
  for (i = 0; i < g->nfeat; i++) {
    sqlite3_free(g->feats[i].name);
    ent_pricing_free(g->feats[i].pricing);
  }
  sqlite3_free(g->plans);
  sqlite3_free(g->feats);
  sqlite3_free(g->feat_slots);
  sqlite3_free(g->plan_slots);
  sqlite3_free(g);
}

void ent_config_release(EntConfig *g) {
  if (g && --g->refs == 0) plans_free(g);
}

void ent_config_free(EntConn *c) {
  ent_config_release(c->cfg);
  c->cfg = 0;
}

static unsigned name_hash(const char *z) {
  unsigned h = 2166136261u; /* FNV-1a */
  while (*z) h = (h ^ (unsigned char)*z++) * 16777619u;
  return h;
}

/* Hot calls look names up by hash: a plan set can have many features. */
static int lookup(const int *slots, unsigned nslots, const char *name,
                  const char *(*name_of)(const EntConfig *, int), const EntConfig *g) {
  unsigned i;
  if (!slots) return -1;
  for (i = name_hash(name) & (nslots - 1); slots[i]; i = (i + 1) & (nslots - 1)) {
    if (strcmp(name_of(g, slots[i] - 1), name) == 0) return slots[i] - 1;
  }
  return -1;
}

static const char *feat_name(const EntConfig *g, int i) {
  return g->feats[i].name;
}
static const char *plan_name(const EntConfig *g, int i) {
  return g->plans[i].name;
}

int ent_config_feature(const EntConfig *g, const char *name) {
  return lookup(g->feat_slots, g->nslots, name, feat_name, g);
}

int ent_config_plan(const EntConfig *g, const char *name) {
  return lookup(g->plan_slots, g->nslots, name, plan_name, g);
}

static int index_names(EntConfig *g) {
  unsigned n = 8, i;
  int k;
  while (n < 2u * (unsigned)(g->nfeat > g->nplans ? g->nfeat : g->nplans)) n *= 2;
  g->nslots = n;
  g->feat_slots = sqlite3_malloc64(sizeof(int) * n);
  g->plan_slots = sqlite3_malloc64(sizeof(int) * n);
  if (!g->feat_slots || !g->plan_slots) return SQLITE_NOMEM;
  memset(g->feat_slots, 0, sizeof(int) * n);
  memset(g->plan_slots, 0, sizeof(int) * n);
  for (k = 0; k < g->nfeat; k++) {
    for (i = name_hash(g->feats[k].name) & (n - 1); g->feat_slots[i]; i = (i + 1) & (n - 1)) {
    }
    g->feat_slots[i] = k + 1;
  }
  for (k = 0; k < g->nplans; k++) {
    for (i = name_hash(g->plans[k].name) & (n - 1); g->plan_slots[i]; i = (i + 1) & (n - 1)) {
    }
    g->plan_slots[i] = k + 1;
  }
  return SQLITE_OK;
}

/* "[80,100]" into ints (the format config.c writes); returns the count. */
static int parse_alerts(const char *z, int *out) {
  int n = 0;
  while (*z && n < ENT_MAX_ALERTS) {
    if (*z >= '0' && *z <= '9') {
      int v = 0;
      while (*z >= '0' && *z <= '9') v = v * 10 + (*z++ - '0');
      out[n++] = v;
    } else {
      z++;
    }
  }
  return n;
}

static char *dup_col(sqlite3_stmt *st, int i, int *oom) {
  const unsigned char *z = sqlite3_column_text(st, i);
  char *d;
  if (!z) return 0;
  d = sqlite3_mprintf("%s", z);
  if (!d) *oom = 1;
  return d;
}

static int load(EntConn *c, int64_t generation, EntConfig **out, EntErr *e) {
  /* a database from a newer extension is refused by every function on first
  ** use (and whenever the configuration changes), not only by init */
  if (ent_schema_verify(c, e) != SQLITE_OK) return e->code;
  static const char *const SQLS[] = {
      "SELECT feature, type, decimals, pricing, rollover FROM main.ent_features ORDER BY "
      "position, "
      "feature",
      "SELECT plan, inherits, trial_days, is_default, rank, (SELECT json_extract(value, "
      "'$.alerts') FROM main.ent_meta WHERE key = 'settings'), spend_cap, (SELECT value FROM "
      "main.ent_meta WHERE key = 'settings') FROM main.ent_plans ORDER BY position, plan",
      "SELECT plan, feature, enabled, quota, period, soft, cap, overage_price, per_seat, value, "
      "burst, ledger, alerts, (SELECT json_extract(value, '$.alerts') FROM main.ent_meta WHERE key "
      "= "
      "'settings'), pool FROM main.ent_plan_features",
  };
  sqlite3_stmt *st[3] = {0, 0, 0};
  EntConfig *g = sqlite3_malloc(sizeof(*g));
  int rc = g ? SQLITE_OK : SQLITE_NOMEM, i, j, oom = 0, n;
  if (g) memset(g, 0, sizeof(*g));
  if (g) g->default_plan = -1;
  for (i = 0; i < 3 && rc == SQLITE_OK; i++) rc = sqlite3_prepare_v2(c->db, SQLS[i], -1, &st[i], 0);
  /* features */
  while (rc == SQLITE_OK && (rc = sqlite3_step(st[0])) == SQLITE_ROW) {
    EntFeatCfg *grown = sqlite3_realloc64(g->feats, sizeof(EntFeatCfg) * (g->nfeat + 1));
    rc = SQLITE_OK;
    if (!grown) {
      rc = SQLITE_NOMEM;
      break;
    }
    g->feats = grown;
    n = g->nfeat++;
    memset(&g->feats[n], 0, sizeof(g->feats[n]));
    g->feats[n].name = dup_col(st[0], 0, &oom);
    g->feats[n].decimals =
        sqlite3_column_type(st[0], 2) == SQLITE_NULL ? -1 : sqlite3_column_int(st[0], 2);
    if (g->feats[n].decimals > 6) rc = SQLITE_CORRUPT;
    if (rc == SQLITE_OK && sqlite3_column_type(st[0], 4) != SQLITE_NULL) {
      rc = ent_rollover_parse((const char *)sqlite3_column_text(st[0], 4),
                              &g->feats[n].rollover_max, &g->feats[n].rollover_after);
    }
    if (!ent_type_parse((const char *)sqlite3_column_text(st[0], 1), &g->feats[n].type)) {
      rc = SQLITE_CORRUPT;
    }
    if (oom) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  /* plans, each with a row of own entitlements per feature */
  while (rc == SQLITE_OK && (rc = sqlite3_step(st[1])) == SQLITE_ROW) {
    EntPlanCfg *grown = sqlite3_realloc64(g->plans, sizeof(EntPlanCfg) * (g->nplans + 1)), *p;
    rc = SQLITE_OK;
    if (!grown) {
      rc = SQLITE_NOMEM;
      break;
    }
    g->plans = grown;
    p = &g->plans[g->nplans++];
    memset(p, 0, sizeof(*p));
    p->name = dup_col(st[1], 0, &oom);
    p->inherits = dup_col(st[1], 1, &oom);
    p->has_trial = sqlite3_column_type(st[1], 2) != SQLITE_NULL;
    p->trial_days = sqlite3_column_int64(st[1], 2);
    p->rank = sqlite3_column_int64(st[1], 4);
    if (sqlite3_column_type(st[1], 6) != SQLITE_NULL) {
      p->has_spend_cap = 1;
      if (!ent_money_text((const char *)sqlite3_column_text(st[1], 6), &p->spend_cap)) {
        rc = SQLITE_CORRUPT;
      }
    }
    if (g->nplans == 1 && sqlite3_column_type(st[1], 7) == SQLITE_TEXT) {
      /* settings.spend_cap: a number or text, as the document gave it */
      cJSON *set = cJSON_Parse((const char *)sqlite3_column_text(st[1], 7));
      const cJSON *cap = cJSON_GetObjectItemCaseSensitive(set, "spend_cap");
      if (cap) {
        g->has_spend_cap = 1;
        if (!(cJSON_IsString(cap) ? ent_money_text(cap->valuestring, &g->spend_cap)
                                  : ent_money_json(cap, &g->spend_cap))) {
          rc = SQLITE_CORRUPT;
        }
      }
      cJSON_Delete(set);
    }
    if (g->nplans == 1) {
      const char *al = (const char *)sqlite3_column_text(st[1], 5);
      g->ndef_alerts = al ? parse_alerts(al, g->def_alerts) : 2;
      if (!al) {
        g->def_alerts[0] = 80;
        g->def_alerts[1] = 100;
      }
    }
    if (sqlite3_column_int(st[1], 3) && g->default_plan < 0) g->default_plan = g->nplans - 1;
    p->own = sqlite3_malloc64(sizeof(EntPlanEnt) * (g->nfeat + 1));
    p->ents = sqlite3_malloc64(sizeof(EntPlanEnt *) * (g->nfeat + 1));
    if (oom || !p->own || !p->ents) {
      rc = SQLITE_NOMEM;
      break;
    }
    memset(p->own, 0, sizeof(EntPlanEnt) * (g->nfeat + 1));
    memset(p->ents, 0, sizeof(EntPlanEnt *) * (g->nfeat + 1));
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc == SQLITE_OK) rc = index_names(g);
  /* prices, once every currency is known */
  for (j = 0; rc == SQLITE_OK && (rc = sqlite3_reset(st[0])) == SQLITE_OK;) {
    while ((rc = sqlite3_step(st[0])) == SQLITE_ROW) {
      const char *price = (const char *)sqlite3_column_text(st[0], 3);
      int fi = ent_config_feature(g, (const char *)sqlite3_column_text(st[0], 0));
      if (!price || fi < 0) continue;
      if (g->feats[fi].type != T_METERED) {
        rc = SQLITE_CORRUPT;
        break;
      }
      if ((rc = ent_pricing_parse(price, g, &g->feats[fi].pricing)) != SQLITE_OK) break;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    break;
  }
  /* every plan's own entitlements */
  while (rc == SQLITE_OK && (rc = sqlite3_step(st[2])) == SQLITE_ROW) {
    int pi = ent_config_plan(g, (const char *)sqlite3_column_text(st[2], 0));
    int fi = ent_config_feature(g, (const char *)sqlite3_column_text(st[2], 1));
    const char *period = (const char *)sqlite3_column_text(st[2], 4);
    const char *price = (const char *)sqlite3_column_text(st[2], 7);
    EntPlanEnt *en;
    rc = SQLITE_OK;
    if (pi < 0 || fi < 0) continue; /* a row for a deleted plan or feature: ignored */
    en = &g->plans[pi].own[fi];
    en->found = 1;
    en->enabled = sqlite3_column_int(st[2], 2) != 0;
    en->unlimited = sqlite3_column_type(st[2], 3) == SQLITE_NULL;
    en->quota = sqlite3_column_int64(st[2], 3);
    en->period = P_MONTH;
    if (g->feats[fi].type == T_RATE) {
      /* a rate period: minute, hour, day or whole seconds */
      en->period = P_NONE;
      en->rate_period = dup_col(st[2], 4, &oom);
      en->rate_seconds = !period                         ? 0
                         : strcmp(period, "minute") == 0 ? 60
                         : strcmp(period, "hour") == 0   ? 3600
                         : strcmp(period, "day") == 0    ? 86400
                                                         : sqlite3_column_int64(st[2], 4);
      en->burst = sqlite3_column_int64(st[2], 10);
      if (en->enabled && (en->rate_seconds <= 0 || en->burst < 1)) rc = SQLITE_CORRUPT;
    } else if (period && !ent_period_parse(period, &en->period)) {
      rc = SQLITE_CORRUPT;
    }
    en->no_ledger = sqlite3_column_type(st[2], 11) != SQLITE_NULL && !sqlite3_column_int(st[2], 11);
    en->pool = sqlite3_column_int(st[2], 14);
    /* thresholds: the entitlement's own, else settings.alerts, else 80 and 100 */
    {
      const char *al = (const char *)sqlite3_column_text(st[2], 12);
      if (!al) al = (const char *)sqlite3_column_text(st[2], 13);
      en->nalerts = al ? parse_alerts(al, en->alerts) : 2;
      if (!al) {
        en->alerts[0] = 80;
        en->alerts[1] = 100;
      }
    }
    en->soft = sqlite3_column_int(st[2], 5);
    en->has_cap = sqlite3_column_type(st[2], 6) != SQLITE_NULL;
    en->cap = sqlite3_column_int64(st[2], 6);
    en->has_price = price != 0;
    if (price && !ent_money_text(price, &en->price_micros)) rc = SQLITE_CORRUPT;
    en->per_seat = sqlite3_column_int(st[2], 8);
    en->value = dup_col(st[2], 9, &oom);
    /* parsed here once, not on every plan_allows() of a config feature */
    if (en->value && !(en->json = cJSON_Parse(en->value))) rc = SQLITE_CORRUPT;
    if (oom) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  /* each feature's usual period, for guessing counter keys */
  for (j = 0; rc == SQLITE_OK && j < g->nfeat; j++) {
    g->feats[j].spec_period = -1;
    for (i = 0; i < g->nplans && g->feats[j].spec_period < 0; i++) {
      if (g->plans[i].own[j].found && g->plans[i].own[j].enabled && g->feats[j].type == T_METERED) {
        g->feats[j].spec_period = (int)g->plans[i].own[j].period;
      }
    }
  }
  /* inheritance: the nearest plan in the chain that names the feature */
  for (i = 0; rc == SQLITE_OK && i < g->nplans; i++) {
    for (j = 0; j < g->nfeat; j++) {
      int pi = i, depth;
      for (depth = 0; pi >= 0 && depth <= g->nplans; depth++) {
        if (g->plans[pi].own[j].found) {
          g->plans[i].ents[j] = &g->plans[pi].own[j];
          break;
        }
        pi = g->plans[pi].inherits ? ent_config_plan(g, g->plans[pi].inherits) : -1;
      }
    }
  }
  /* A priced feature a plan does not name is there without a limit of its
  ** own wherever the plan has its currency: its calls are decided by the
  ** currency alone, and its units still counted (in the currency's period). */
  for (i = 0; rc == SQLITE_OK && i < g->nplans; i++) {
    for (j = 0; j < g->nfeat; j++) {
      const EntPlanEnt *cur;
      EntPlanEnt *en = &g->plans[i].own[j];
      if (!g->feats[j].pricing || g->plans[i].ents[j]) continue;
      cur = g->plans[i].ents[g->feats[j].pricing->currency];
      if (!cur || !cur->enabled) continue;
      en->found = en->enabled = en->unlimited = 1;
      en->period = cur->period;
      en->pool = cur->pool;
      g->plans[i].ents[j] = en;
    }
  }
  for (i = 0; i < 3; i++) sqlite3_finalize(st[i]);
  if (rc == SQLITE_OK) {
    g->refs = 1;
    g->generation = generation;
    *out = g;
    return SQLITE_OK;
  }
  plans_free(g);
  if (rc == SQLITE_NOMEM) return ent_err(e, SQLITE_NOMEM, "out of memory");
  if (rc == SQLITE_CORRUPT) {
    return ent_err(
        e, SQLITE_ERROR,
        "ent_features or ent_plan_features holds an invalid type, period, price or value; "
        "reload the configuration with entitlements_load()");
  }
  return ent_err_db(e, c->db, rc, "reading the configuration");
}

/* For readers without a subject (plan_matrix): read the generation, sync. */
int ent_config_current(EntConn *c, EntErr *e) {
  sqlite3_stmt *st = ent_stmt(c, ST_GENERATION, e);
  int rc;
  int64_t gen;
  if (!st) return e->code;
  rc = sqlite3_step(st);
  gen = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (rc == SQLITE_DONE) {
    return ent_err(e, SQLITE_ERROR,
                   "ent_meta has no config_generation row: the entitlements tables are "
                   "damaged; run SELECT entitlements_init() to repair them");
  }
  if (rc != SQLITE_ROW) return ent_err_db(e, c->db, rc, "reading ent_meta");
  return ent_config_sync(c, gen, e);
}

int ent_config_sync(EntConn *c, int64_t generation, EntErr *e) {
  EntConfig *g = 0;
  if (c->cfg && c->cfg->generation == generation) return SQLITE_OK;
  if (load(c, generation, &g, e) != SQLITE_OK) return e->code;
  ent_config_free(c);
  c->cfg = g;
  return SQLITE_OK;
}
