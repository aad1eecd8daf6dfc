/*
** config_read.c — reading a configuration document (SPEC §3): every section,
** plan and entitlement checked against its type, with the JSON path of the
** first thing that is wrong; types inferred from values where the features
** section is silent; inheritance cycles, one default plan; exact money.
** Nothing here touches the database: config.c writes what this accepts.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* ---- money: exact decimals with up to 6 places, as integer micro-units --- */

int ent_money_text(const char *z, int64_t *micros) {
  int64_t units = 0, frac = 0;
  int nd = 0, nf = 0;
  for (; *z >= '0' && *z <= '9'; z++, nd++) {
    if (units > (INT64_MAX / 1000000 - 9) / 10) return 0;
    units = units * 10 + (*z - '0');
  }
  if (nd == 0) return 0;
  if (*z == '.') {
    for (z++; *z >= '0' && *z <= '9'; z++, nf++) {
      if (nf == 6) return 0;
      frac = frac * 10 + (*z - '0');
    }
    if (nf == 0) return 0;
  }
  if (*z) return 0;
  while (nf++ < 6) frac *= 10;
  *micros = units * 1000000 + frac;
  return 1;
}

void ent_money_fmt(int64_t micros, char out[32]) {
  int n = snprintf(out, 32, "%lld.%06lld", (long long)(micros / 1000000),
                   (long long)(micros % 1000000));
  while (n > 0 && out[n - 1] == '0') out[--n] = 0;
  if (n > 0 && out[n - 1] == '.') out[--n] = 0;
}

int ent_money_json(const cJSON *it, int64_t *micros) {
  if (cJSON_IsString(it)) return ent_money_text(it->valuestring, micros);
  if (cJSON_IsNumber(it)) {
    double x = it->valuedouble;
    if (!(x >= 0) || x > MAX_JSON_INT / 1e6) return 0;
    *micros = llround(x * 1e6);
    return (double)*micros / 1e6 == x; /* no more than 6 decimal places */
  }
  return 0;
}

/* A price: exact, >= 0, at most 6 decimal places, as a number or text. */
static int json_price(EntErr *e, const char *path, const cJSON *it, int64_t *out,
                      const char *example) {
  if (ent_money_json(it, out)) return SQLITE_OK;
  return ent_err(e, SQLITE_ERROR,
                 "%s: expected a price >= 0 with at most 6 decimal places, as a number or text "
                 "(\"%s\")",
                 path, example);
}

/* Alert thresholds: percents of the quota, whole numbers 1 to 1000; stored
** sorted and without repeats, as JSON text ("[80,100]"). */
static int json_alerts(EntErr *e, const char *path, const cJSON *it, char *out, size_t n) {
  int seen[1001], i, len = 0;
  const cJSON *v;
  memset(seen, 0, sizeof(seen));
  if (!cJSON_IsArray(it)) {
    return ent_err(e, SQLITE_ERROR, "%s: expected an array of percents such as [80, 100]", path);
  }
  cJSON_ArrayForEach(v, it) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1000 ||
        v->valuedouble != floor(v->valuedouble)) {
      return ent_err(e, SQLITE_ERROR,
                     "%s: each alert is a whole percent of the quota from 1 to 1000", path);
    }
    seen[(int)v->valuedouble] = 1;
    if (cJSON_GetArraySize(it) > ENT_MAX_ALERTS) {
      return ent_err(e, SQLITE_ERROR, "%s: at most %d alerts", path, ENT_MAX_ALERTS);
    }
  }
  len += snprintf(out + len, n - (size_t)len, "[");
  for (i = 1; i <= 1000; i++) {
    if (seen[i] && (size_t)len < n - 8)
      len += snprintf(out + len, n - (size_t)len, "%s%d", len > 1 ? "," : "", i);
  }
  snprintf(out + len, n - (size_t)len, "]");
  return SQLITE_OK;
}

void ent_model_free(Model *m) {
  int i, j;
  for (i = 0; i < m->nfeats; i++) {
    sqlite3_free(m->feats[i].saw_bool);
    sqlite3_free(m->feats[i].saw_true);
    sqlite3_free(m->feats[i].saw_limit);
    sqlite3_free(m->feats[i].saw_other);
    sqlite3_free(m->feats[i].pricing);
    sqlite3_free(m->feats[i].rollover);
  }
  for (i = 0; i < m->nplans; i++) {
    for (j = 0; j < m->plans[i].nents; j++) sqlite3_free(m->plans[i].ents[j].path);
    sqlite3_free(m->plans[i].ents);
  }
  sqlite3_free(m->feats);
  sqlite3_free(m->plans);
  memset(m, 0, sizeof(*m));
}

Feat *ent_model_feat(Model *m, const char *name) {
  int i;
  for (i = 0; i < m->nfeats; i++) {
    if (strcmp(m->feats[i].name, name) == 0) return &m->feats[i];
  }
  return 0;
}

Feat *ent_model_feat_add(Model *m, const char *name) {
  Feat *f = sqlite3_realloc64(m->feats, sizeof(Feat) * (m->nfeats + 1));
  if (!f) return 0;
  m->feats = f;
  f = &m->feats[m->nfeats++];
  memset(f, 0, sizeof(*f));
  f->name = name;
  return f;
}

static int not_object(EntErr *e, const char *path, const cJSON *it) {
  const char *what = cJSON_IsString(it)   ? "text"
                     : cJSON_IsNumber(it) ? "a number"
                     : cJSON_IsBool(it)   ? "a boolean"
                     : cJSON_IsArray(it)  ? "an array"
                                          : "null";
  return ent_err(e, SQLITE_ERROR, "%s: expected an object, not %s", path, what);
}

/* Integer from 0 to 2^53-1 (JSON numbers beyond are not exact). */
static int json_count(EntErr *e, const char *path, const cJSON *it, int64_t *out) {
  double x = cJSON_IsNumber(it) ? it->valuedouble : -1;
  if (!cJSON_IsNumber(it) || x < 0 || x > MAX_JSON_INT || x != floor(x)) {
    return ent_err(e, SQLITE_ERROR, "%s: expected a whole number from 0 to 9007199254740991", path);
  }
  *out = (int64_t)x;
  return SQLITE_OK;
}

static int json_bool(EntErr *e, const char *path, const cJSON *it, int *out) {
  if (!cJSON_IsBool(it)) return ent_err(e, SQLITE_ERROR, "%s: expected true or false", path);
  *out = cJSON_IsTrue(it);
  return SQLITE_OK;
}

static int json_text(EntErr *e, const char *path, const cJSON *it, const char **out) {
  if (!cJSON_IsString(it) || !it->valuestring[0]) {
    return ent_err(e, SQLITE_ERROR, "%s: expected non-empty text", path);
  }
  *out = it->valuestring;
  return SQLITE_OK;
}

static int unknown_key(EntErr *e, const char *path, const char *key, const char *allowed) {
  return ent_err(e, SQLITE_ERROR, "%s: unknown key '%s' (expected %s)", path, key, allowed);
}

/* ---- reading the document ---------------------------------------------- */

static int read_features(Model *m, const cJSON *sec) {
  const cJSON *it;
  if (!cJSON_IsObject(sec)) return not_object(m->e, "features", sec);
  cJSON_ArrayForEach(it, sec) {
    char *path = sqlite3_mprintf("features.%s", it->string);
    const cJSON *k;
    Feat *f;
    int rc = SQLITE_OK;
    if (!path) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    if (!it->string[0]) rc = ent_err(m->e, SQLITE_ERROR, "features: a feature name is empty");
    if (rc == SQLITE_OK && (f = ent_model_feat(m, it->string)) != 0) {
      rc = f->is_currency ? ent_err(m->e, SQLITE_ERROR,
                                    "%s: '%s' is a currency (see \"currencies\"); a currency is "
                                    "not also a feature, remove it here",
                                    path, it->string)
                          : ent_err(m->e, SQLITE_ERROR, "%s: feature named twice", path);
    }
    if (rc == SQLITE_OK && !cJSON_IsObject(it)) {
      rc = ent_err(m->e, SQLITE_ERROR, "%s: expected an object such as {\"type\": \"metered\"}",
                   path);
    }
    if (rc == SQLITE_OK && !(f = ent_model_feat_add(m, it->string))) {
      rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
    }
    if (rc == SQLITE_OK) {
      f->declared = 1;
      cJSON_ArrayForEach(k, it) {
        if (strcmp(k->string, "type") == 0) {
          if (!cJSON_IsString(k) || !ent_type_parse(k->valuestring, &f->type)) {
            rc = ent_err(m->e, SQLITE_ERROR,
                         "%s.type: unknown type %s%s%s (expected boolean, config, metered, rate)",
                         path, cJSON_IsString(k) ? "'" : "",
                         cJSON_IsString(k) ? k->valuestring : "(not text)",
                         cJSON_IsString(k) ? "'" : "");
          }
          f->typed = 1;
        } else if (strcmp(k->string, "unit") == 0) {
          if (!cJSON_IsString(k)) {
            rc = ent_err(m->e, SQLITE_ERROR, "%s.unit: expected text such as \"image\"", path);
          }
          f->unit = cJSON_IsString(k) ? k->valuestring : 0;
        } else if (ent_pricing_key(k->string)) {
          rc = ent_pricing_note(m, f, k, path);
        } else if (strcmp(k->string, "rollover") == 0) {
          rc = ent_rollover_read(m, f, k, path);
        } else {
          rc = unknown_key(m->e, path, k->string,
                           "type, unit, currency, rate, rates, per, rollover");
        }
        if (rc != SQLITE_OK) break;
      }
      if (rc == SQLITE_OK && !f->typed) {
        rc = ent_err(m->e, SQLITE_ERROR,
                     "%s: missing \"type\" (one of boolean, config, metered, rate)", path);
      }
    }
    sqlite3_free(path);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* Pass one over a plan's entitlements: remember what each feature's values
** look like, to infer undeclared types and catch mixed ones. */
static int note_value(Model *m, const char *feature, const cJSON *v, const char *path) {
  Feat *f = ent_model_feat(m, feature);
  char **slot;
  if (!f && !(f = ent_model_feat_add(m, feature)))
    return ent_err(m->e, SQLITE_NOMEM, "out of memory");
  if (cJSON_IsBool(v)) {
    slot = cJSON_IsTrue(v) ? &f->saw_true : &f->saw_bool;
  } else if (cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "limit")) {
    slot = &f->saw_limit;
  } else {
    slot = &f->saw_other;
  }
  if (!*slot && !(*slot = sqlite3_mprintf("%s", path))) {
    return ent_err(m->e, SQLITE_NOMEM, "out of memory");
  }
  return SQLITE_OK;
}

static int mixed(EntErr *e, const Feat *f, const char *a, const char *b, const char *hint) {
  return ent_err(e, SQLITE_ERROR,
                 "%s: values of feature '%s' have different types across plans (see %s); %s", a,
                 f->name, b, hint);
}

static int infer_types(Model *m) {
  int i;
  for (i = 0; i < m->nfeats; i++) {
    Feat *f = &m->feats[i];
    const char *any_bool = f->saw_true ? f->saw_true : f->saw_bool;
    if (f->declared) continue;
    if (f->saw_limit) {
      f->type = T_METERED;
      if (f->saw_true) {
        return mixed(m->e, f, f->saw_true, f->saw_limit,
                     "a metered feature takes {\"limit\": N} or false");
      }
      if (f->saw_other) {
        return mixed(m->e, f, f->saw_other, f->saw_limit,
                     "declare its type in \"features\" or make the values alike");
      }
    } else if (f->saw_other) {
      f->type = T_CONFIG;
      if (any_bool) {
        return mixed(m->e, f, any_bool, f->saw_other,
                     "declare it {\"type\": \"config\"} in \"features\" to allow both");
      }
    } else {
      f->type = T_BOOLEAN;
    }
  }
  return SQLITE_OK;
}

static int read_metered(Model *m, Ent *en, const cJSON *v) {
  const cJSON *k;
  int rc = SQLITE_OK, has_limit = 0;
  char *p = 0;
  en->period = P_MONTH;
  cJSON_ArrayForEach(k, v) {
    sqlite3_free(p);
    p = sqlite3_mprintf("%s.%s", en->path, k->string);
    if (!p) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    if (strcmp(k->string, "limit") == 0) {
      has_limit = 1;
      if (cJSON_IsNull(k) || (cJSON_IsNumber(k) && k->valuedouble == -1)) {
        en->unlimited = 1;
      } else if (json_count(m->e, p, k, &en->quota) != SQLITE_OK) {
        rc = ent_err(m->e, SQLITE_ERROR,
                     "%s: expected a whole number from 0 to 9007199254740991, or null (or -1) "
                     "for unlimited",
                     p);
      }
    } else if (strcmp(k->string, "period") == 0) {
      if (!cJSON_IsString(k) || !ent_period_parse(k->valuestring, &en->period)) {
        rc = ent_err(m->e, SQLITE_ERROR,
                     "%s: unknown period %s%s%s (expected minute, hour, day, week, month, year, "
                     "lifetime)",
                     p, cJSON_IsString(k) ? "'" : "",
                     cJSON_IsString(k) ? k->valuestring : "(not text)",
                     cJSON_IsString(k) ? "'" : "");
      }
    } else if (strcmp(k->string, "soft") == 0) {
      rc = json_bool(m->e, p, k, &en->soft);
    } else if (strcmp(k->string, "per_seat") == 0) {
      rc = json_bool(m->e, p, k, &en->per_seat);
    } else if (strcmp(k->string, "cap") == 0) {
      en->has_cap = 1;
      rc = json_count(m->e, p, k, &en->cap);
    } else if (strcmp(k->string, "overage_price") == 0) {
      en->has_price = 1;
      rc = json_price(m->e, p, k, &en->price, "0.002");
    } else if (strcmp(k->string, "pool") == 0) {
      rc = json_bool(m->e, p, k, &en->pool);
    } else if (strcmp(k->string, "alerts") == 0) {
      rc = json_alerts(m->e, p, k, en->alerts, sizeof(en->alerts));
    } else if (strcmp(k->string, "ledger") == 0) {
      int keep = 1;
      rc = json_bool(m->e, p, k, &keep);
      en->no_ledger = !keep;
    } else {
      rc = unknown_key(m->e, en->path, k->string,
                       "limit, period, soft, cap, overage_price, per_seat, ledger, alerts, pool");
    }
    if (rc != SQLITE_OK) break;
  }
  sqlite3_free(p);
  if (rc != SQLITE_OK) return rc;
  if (!has_limit) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s: missing \"limit\" (a whole number, or null for unlimited)", en->path);
  }
  if (en->has_cap && !en->soft) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s.cap: a cap only applies to soft limits; add \"soft\": true or remove cap",
                   en->path);
  }
  if (en->has_cap && !en->unlimited && en->cap < en->quota) {
    return ent_err(m->e, SQLITE_ERROR, "%s.cap: cap %lld is below the limit %lld", en->path,
                   (long long)en->cap, (long long)en->quota);
  }
  return SQLITE_OK;
}

#define MAX_RATE_LIMIT 1000000

/* A rate entitlement: limit per period (minute, hour, day or seconds), and
** burst (default: limit). GCRA as redis-cell defines it; see rate.c. */
static int read_rate(Model *m, Ent *en, const cJSON *v) {
  const cJSON *k;
  int rc = SQLITE_OK, has_limit = 0, has_burst = 0;
  char *p = 0;
  en->rate_seconds = 60;
  snprintf(en->rate_period, sizeof(en->rate_period), "minute");
  cJSON_ArrayForEach(k, v) {
    sqlite3_free(p);
    p = sqlite3_mprintf("%s.%s", en->path, k->string);
    if (!p) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    if (strcmp(k->string, "limit") == 0) {
      has_limit = 1;
      if (json_count(m->e, p, k, &en->quota) != SQLITE_OK || en->quota > MAX_RATE_LIMIT) {
        rc = ent_err(m->e, SQLITE_ERROR, "%s: expected a whole number from 0 to %d per period", p,
                     MAX_RATE_LIMIT);
      }
    } else if (strcmp(k->string, "burst") == 0) {
      has_burst = 1;
      if (json_count(m->e, p, k, &en->burst) != SQLITE_OK || en->burst < 1 ||
          en->burst > MAX_RATE_LIMIT) {
        rc = ent_err(m->e, SQLITE_ERROR, "%s: expected a whole number from 1 to %d", p,
                     MAX_RATE_LIMIT);
      }
    } else if (strcmp(k->string, "period") == 0) {
      const char *name;
      rc = SQLITE_ERROR;
      if (cJSON_IsString(k) && ent_rate_period_named(k->valuestring, &name, &en->rate_seconds)) {
        snprintf(en->rate_period, sizeof(en->rate_period), "%s", name);
        rc = SQLITE_OK;
      }
      if (cJSON_IsNumber(k) && k->valuedouble >= 1 && k->valuedouble <= 31622400 &&
          k->valuedouble == floor(k->valuedouble)) {
        en->rate_seconds = (int64_t)k->valuedouble;
        snprintf(en->rate_period, sizeof(en->rate_period), "%lld", (long long)en->rate_seconds);
        rc = SQLITE_OK;
      }
      if (rc != SQLITE_OK) {
        rc = ent_err(m->e, SQLITE_ERROR,
                     "%s: a rate period is minute, hour, day or a whole number of seconds from "
                     "1 to 31622400",
                     p);
      }
    } else {
      rc = unknown_key(m->e, en->path, k->string, "limit, period, burst");
    }
    if (rc != SQLITE_OK) break;
  }
  sqlite3_free(p);
  if (rc != SQLITE_OK) return rc;
  if (!has_limit) {
    return ent_err(m->e, SQLITE_ERROR, "%s: missing \"limit\" (requests per period)", en->path);
  }
  if (!has_burst) en->burst = en->quota > 0 ? en->quota : 1;
  if (!ent_rate_fits(en->burst, en->rate_seconds, en->quota)) {
    /* burst x (period / limit) in microseconds must not overflow */
    return ent_err(m->e, SQLITE_ERROR,
                   "%s: a burst of %lld at %lld per %lld s spans more than 36,000 years of "
                   "tokens; lower the burst or the period, or raise the limit",
                   en->path, (long long)en->burst, (long long)en->quota,
                   (long long)en->rate_seconds);
  }
  return SQLITE_OK;
}

/* Pass two: an entitlement checked against its feature's type. */
static int read_entitlement(Model *m, Ent *en) {
  const Feat *f = ent_model_feat(m, en->feature);
  const cJSON *v = en->json;
  switch (f->type) {
    case T_BOOLEAN:
      if (!cJSON_IsBool(v)) {
        return ent_err(m->e, SQLITE_ERROR, "%s: feature '%s' is boolean: expected true or false",
                       en->path, f->name);
      }
      en->enabled = cJSON_IsTrue(v);
      return SQLITE_OK;
    case T_CONFIG:
      en->enabled = 1;
      return SQLITE_OK;
    default: { /* metered or rate: an object of limits, or false */
      int rate = f->type != T_METERED;
      if (cJSON_IsFalse(v)) return SQLITE_OK;
      if (!cJSON_IsObject(v)) {
        return ent_err(m->e, SQLITE_ERROR,
                       "%s: feature '%s' is %s: expected {\"limit\": N, \"period\": \"%s\"} or "
                       "false",
                       en->path, f->name, rate ? "a rate limit" : "metered",
                       rate ? "minute" : "month");
      }
      en->enabled = 1;
      return rate ? read_rate(m, en, v) : read_metered(m, en, v);
    }
  }
}

Plan *ent_model_plan(Model *m, const char *name) {
  int i;
  for (i = 0; i < m->nplans; i++) {
    if (strcmp(m->plans[i].name, name) == 0) return &m->plans[i];
  }
  return 0;
}

static int read_plan(Model *m, Plan *pl) {
  const cJSON *k;
  char *path = sqlite3_mprintf("plans.%s", pl->name), *p = 0;
  int rc = SQLITE_OK;
  if (!path) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
  if (!pl->name[0]) rc = ent_err(m->e, SQLITE_ERROR, "plans: a plan name is empty");
  if (rc == SQLITE_OK && !cJSON_IsObject(pl->json)) {
    rc = ent_err(m->e, SQLITE_ERROR, "%s: expected an object such as {\"features\": {...}}", path);
  }
  if (rc == SQLITE_OK) {
    cJSON_ArrayForEach(k, pl->json) {
      sqlite3_free(p);
      p = sqlite3_mprintf("%s.%s", path, k->string);
      if (!p) {
        rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
        break;
      }
      if (strcmp(k->string, "rank") == 0) {
        if (!cJSON_IsNumber(k) || k->valuedouble != floor(k->valuedouble) ||
            fabs(k->valuedouble) > MAX_JSON_INT) {
          rc = ent_err(m->e, SQLITE_ERROR, "%s: expected a whole number (higher = better plan)", p);
        }
        pl->rank = (int64_t)k->valuedouble;
      } else if (strcmp(k->string, "price") == 0) {
        pl->has_price = 1;
        rc = json_price(m->e, p, k, &pl->price, "29.99");
      } else if (strcmp(k->string, "currency") == 0) {
        rc = json_text(m->e, p, k, &pl->currency);
      } else if (strcmp(k->string, "inherits") == 0) {
        rc = json_text(m->e, p, k, &pl->inherits);
      } else if (strcmp(k->string, "trial_days") == 0) {
        pl->has_trial = 1;
        rc = json_count(m->e, p, k, &pl->trial_days);
      } else if (strcmp(k->string, "default") == 0) {
        rc = json_bool(m->e, p, k, &pl->is_default);
      } else if (strcmp(k->string, "spend_cap") == 0) {
        pl->has_spend_cap = 1;
        rc = json_price(m->e, p, k, &pl->spend_cap, "50.00");
      } else if (strcmp(k->string, "features") == 0) {
        const cJSON *fv;
        int n = cJSON_GetArraySize(k);
        if (!cJSON_IsObject(k)) {
          rc = ent_err(m->e, SQLITE_ERROR, "%s: expected an object of feature name to entitlement",
                       p);
          break;
        }
        pl->ents = sqlite3_malloc64(sizeof(Ent) * (n > 0 ? n : 1));
        if (!pl->ents) {
          rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
          break;
        }
        cJSON_ArrayForEach(fv, k) {
          Ent *en = &pl->ents[pl->nents++];
          memset(en, 0, sizeof(*en));
          en->feature = fv->string;
          en->json = fv;
          en->path = sqlite3_mprintf("%s.%s", p, fv->string);
          if (!en->path) {
            rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
          } else if (!fv->string[0]) {
            rc = ent_err(m->e, SQLITE_ERROR, "%s: a feature name is empty", p);
          } else if (cJSON_GetObjectItemCaseSensitive(k, fv->string) != fv) {
            rc = ent_err(m->e, SQLITE_ERROR, "%s: feature named twice", en->path);
          } else if (cJSON_IsNull(fv)) {
            rc = ent_err(m->e, SQLITE_ERROR,
                         "%s: null is not an entitlement; use false to leave the feature out",
                         en->path);
          } else {
            rc = note_value(m, fv->string, fv, en->path);
          }
          if (rc != SQLITE_OK) break;
        }
      } else {
        rc = unknown_key(m->e, path, k->string,
                         "rank, price, currency, inherits, trial_days, default, spend_cap, "
                         "features");
      }
      if (rc != SQLITE_OK) break;
    }
  }
  sqlite3_free(p);
  sqlite3_free(path);
  return rc;
}

static int check_plans(Model *m) {
  int i, j, rc;
  const Plan *def = 0;
  for (i = 0; i < m->nplans; i++) {
    const Plan *pl = &m->plans[i];
    if (pl->inherits && !ent_model_plan(m, pl->inherits)) {
      return ent_err(m->e, SQLITE_ERROR, "plans.%s.inherits: no plan named '%s'", pl->name,
                     pl->inherits);
    }
  }
  for (i = 0; i < m->nplans; i++) {
    Plan *pl = &m->plans[i];
    if (pl->is_default) {
      if (def) {
        return ent_err(m->e, SQLITE_ERROR,
                       "plans.%s.default: plans '%s' and '%s' are both the default; at most one "
                       "plan may be",
                       pl->name, def->name, pl->name);
      }
      def = pl;
    }
    if (pl->inherits) {
      /* every parent exists (checked above), so a walk meets no gap; a cycle
      ** is reported from a plan on it, not from one that only leads into it */
      const Plan *q = ent_model_plan(m, pl->inherits);
      int steps = 0;
      while (q != pl && q->inherits && steps++ <= m->nplans) q = ent_model_plan(m, q->inherits);
      if (q == pl) {
        sqlite3_str *s = sqlite3_str_new(0);
        char *chain;
        sqlite3_str_appendf(s, "%s", pl->name);
        for (q = ent_model_plan(m, pl->inherits);; q = ent_model_plan(m, q->inherits)) {
          sqlite3_str_appendf(s, " -> %s", q->name);
          if (q == pl) break;
        }
        chain = sqlite3_str_finish(s);
        rc = ent_err(m->e, SQLITE_ERROR, "plans.%s.inherits: inheritance cycle %s", pl->name,
                     chain ? chain : "");
        sqlite3_free(chain);
        return rc;
      }
    }
    for (j = 0; j < pl->nents; j++) {
      if ((rc = read_entitlement(m, &pl->ents[j])) != SQLITE_OK) return rc;
    }
  }
  return SQLITE_OK;
}

int ent_model_read(Model *m, const cJSON *doc) {
  const cJSON *k, *plans = 0, *features = 0, *currencies = 0;
  int rc = SQLITE_OK;
  if (!cJSON_IsObject(doc)) {
    return ent_err(m->e, SQLITE_ERROR,
                   "the configuration must be a JSON object with \"plans\" (and optionally "
                   "\"features\")");
  }
  cJSON_ArrayForEach(k, doc) {
    if (strcmp(k->string, "plans") == 0) {
      plans = k;
    } else if (strcmp(k->string, "features") == 0) {
      features = k;
    } else if (strcmp(k->string, "currencies") == 0) {
      currencies = k;
    } else if (strcmp(k->string, "settings") == 0) {
      const cJSON *s;
      if (!cJSON_IsObject(k)) return not_object(m->e, "settings", k);
      cJSON_ArrayForEach(s, k) {
        char buf[ENT_ALERTS_TEXT];
        int64_t cap;
        if (strcmp(s->string, "spend_cap") == 0) {
          if ((rc = json_price(m->e, "settings.spend_cap", s, &cap, "50.00")) != SQLITE_OK) {
            return rc;
          }
          continue;
        }
        if (strcmp(s->string, "alerts") != 0) {
          return unknown_key(m->e, "settings", s->string, "alerts, spend_cap");
        }
        if ((rc = json_alerts(m->e, "settings.alerts", s, buf, sizeof(buf))) != SQLITE_OK) {
          return rc;
        }
      }
      m->settings = k;
    } else {
      return unknown_key(m->e, "the configuration", k->string,
                         "features, currencies, plans, settings");
    }
  }
  if (currencies && (rc = ent_currencies_read(m, currencies)) != SQLITE_OK) return rc;
  if (features && (rc = read_features(m, features)) != SQLITE_OK) return rc;
  if ((rc = ent_pricing_check(m)) != SQLITE_OK) return rc;
  if ((rc = ent_rollover_check(m)) != SQLITE_OK) return rc;
  if (plans) {
    int n = cJSON_GetArraySize(plans);
    if (!cJSON_IsObject(plans)) {
      return ent_err(m->e, SQLITE_ERROR, "plans: expected an object of plan name to plan");
    }
    m->plans = sqlite3_malloc64(sizeof(Plan) * (n > 0 ? n : 1));
    if (!m->plans) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    cJSON_ArrayForEach(k, plans) {
      Plan *pl;
      if (ent_model_plan(m, k->string)) {
        return ent_err(m->e, SQLITE_ERROR, "plans.%s: plan named twice", k->string);
      }
      pl = &m->plans[m->nplans++];
      memset(pl, 0, sizeof(*pl));
      pl->name = k->string;
      pl->json = k;
      if ((rc = read_plan(m, pl)) != SQLITE_OK) return rc;
    }
  }
  if ((rc = infer_types(m)) != SQLITE_OK) return rc;
  return check_plans(m);
}

/* ---- the stored configuration as a document ---------------------------- */

/* Ranks and trial days came from JSON numbers, so they are exact doubles. */

/* What a JSON parser lets through but a configuration must not hold: a key
** twice in one object (which one wins would differ between 'merge' and
** 'replace') and numbers that are not finite (1e400 parses as infinity and
** would be written back as null). Reported with the path. */
int ent_doc_check(EntErr *e, const cJSON *it, const char *path) {
  const cJSON *k, *j;
  int rc = SQLITE_OK, i = 0;
  if (cJSON_IsNumber(it) && !isfinite(it->valuedouble)) {
    return ent_err(e, SQLITE_ERROR,
                   "%s: the number is out of range (not finite); numbers must be within +-1e308",
                   path[0] ? path : "(document)");
  }
  if (!cJSON_IsObject(it) && !cJSON_IsArray(it)) return SQLITE_OK;
  for (k = it->child; k && rc == SQLITE_OK; k = k->next, i++) {
    char *p;
    if (cJSON_IsObject(it)) {
      for (j = it->child; j != k; j = j->next) {
        if (strcmp(j->string, k->string) == 0) {
          return ent_err(e, SQLITE_ERROR,
                         "%s%s%s: the key appears twice in the same object; keep only one", path,
                         path[0] ? "." : "", k->string);
        }
      }
      p = sqlite3_mprintf("%s%s%s", path, path[0] ? "." : "", k->string);
    } else {
      p = sqlite3_mprintf("%s[%d]", path, i);
    }
    if (!p) return ent_err(e, SQLITE_NOMEM, "out of memory");
    rc = ent_doc_check(e, k, p);
    sqlite3_free(p);
  }
  return rc;
}
