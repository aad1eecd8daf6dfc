/*
** config.c — the configuration as JSON (SPEC §3): entitlements_load() reads a
** document with cJSON, checks all of it, then writes ent_features, ent_plans
** and ent_plan_features in one savepoint; entitlements_config() writes the
** stored configuration back out as a document that load reproduces exactly.
**
** 'merge' is done by overlaying the document on the stored configuration and
** loading the result as a whole, so both modes share one checker and one
** writer, and every check (types across plans, inheritance cycles, one
** default) sees the configuration as it will be.
*/
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ent.h"

#define MAX_JSON_INT 9007199254740991.0 /* 2^53 - 1: larger JSON numbers are not exact */

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

static int money_json(const cJSON *it, int64_t *micros) {
  if (cJSON_IsString(it)) return ent_money_text(it->valuestring, micros);
  if (cJSON_IsNumber(it)) {
    double x = it->valuedouble;
    if (!(x >= 0) || x > MAX_JSON_INT / 1e6) return 0;
    *micros = llround(x * 1e6);
    return (double)*micros / 1e6 == x; /* no more than 6 decimal places */
  }
  return 0;
}

static cJSON *money_out(int64_t micros) {
  char buf[32];
  if ((double)micros < MAX_JSON_INT) return cJSON_CreateNumber((double)micros / 1e6);
  ent_money_fmt(micros, buf);
  return cJSON_CreateString(buf);
}

/* ---- the checked model of a whole configuration ------------------------ */

typedef struct Feat {
  const char *name;
  EntType type;
  int declared, typed;
  const char *unit;
  /* what the plans' values looked like, for inference: a path of each kind */
  char *saw_bool, *saw_true, *saw_limit, *saw_other;
} Feat;

typedef struct Ent {
  const char *feature;
  const cJSON *json;
  char *path;
  int enabled, unlimited, soft, has_cap, per_seat, has_price;
  int64_t quota, cap, price;
  EntPeriod period;
  int no_ledger;                /* metered: "ledger": false (counters only) */
  int pool;                     /* metered: counted on the top-level parent */
  char alerts[ENT_ALERTS_TEXT]; /* metered: its own thresholds as JSON, or "" */
  int64_t burst, rate_seconds;  /* rate: tokens at once; the period in seconds */
  char rate_period[24];         /* rate: 'minute', 'hour', 'day' or seconds as text */
} Ent;

typedef struct Plan {
  const char *name;
  const cJSON *json;
  int64_t rank, trial_days, price;
  int has_trial, has_price, is_default;
  const char *currency, *inherits;
  Ent *ents;
  int nents;
} Plan;

typedef struct Model {
  EntErr *e;
  Feat *feats;
  int nfeats;
  Plan *plans;
  int nplans;
  const cJSON *settings; /* written to ent_meta as it is */
} Model;

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

static void model_free(Model *m) {
  int i, j;
  for (i = 0; i < m->nfeats; i++) {
    sqlite3_free(m->feats[i].saw_bool);
    sqlite3_free(m->feats[i].saw_true);
    sqlite3_free(m->feats[i].saw_limit);
    sqlite3_free(m->feats[i].saw_other);
  }
  for (i = 0; i < m->nplans; i++) {
    for (j = 0; j < m->plans[i].nents; j++) sqlite3_free(m->plans[i].ents[j].path);
    sqlite3_free(m->plans[i].ents);
  }
  sqlite3_free(m->feats);
  sqlite3_free(m->plans);
  memset(m, 0, sizeof(*m));
}

static Feat *feat_find(Model *m, const char *name) {
  int i;
  for (i = 0; i < m->nfeats; i++) {
    if (strcmp(m->feats[i].name, name) == 0) return &m->feats[i];
  }
  return 0;
}

static Feat *feat_add(Model *m, const char *name) {
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
    if (rc == SQLITE_OK && feat_find(m, it->string)) {
      rc = ent_err(m->e, SQLITE_ERROR, "%s: feature named twice", path);
    }
    if (rc == SQLITE_OK && !cJSON_IsObject(it)) {
      rc = ent_err(m->e, SQLITE_ERROR, "%s: expected an object such as {\"type\": \"metered\"}",
                   path);
    }
    if (rc == SQLITE_OK && !(f = feat_add(m, it->string))) {
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
        } else {
          rc = unknown_key(m->e, path, k->string, "type, unit");
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
  Feat *f = feat_find(m, feature);
  char **slot;
  if (!f && !(f = feat_add(m, feature))) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
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
      if (!money_json(k, &en->price)) {
        rc = ent_err(m->e, SQLITE_ERROR,
                     "%s: expected a price >= 0 with at most 6 decimal places, as a number or "
                     "text (\"0.002\")",
                     p);
      }
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
      static const struct {
        const char *name;
        int64_t seconds;
      } NAMES[] = {{"minute", 60}, {"hour", 3600}, {"day", 86400}};
      size_t i;
      rc = SQLITE_ERROR;
      for (i = 0; cJSON_IsString(k) && i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        if (strcmp(k->valuestring, NAMES[i].name) == 0) {
          en->rate_seconds = NAMES[i].seconds;
          snprintf(en->rate_period, sizeof(en->rate_period), "%s", NAMES[i].name);
          rc = SQLITE_OK;
        }
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
  const Feat *f = feat_find(m, en->feature);
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

static Plan *plan_find(Model *m, const char *name) {
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
        if (!money_json(k, &pl->price)) {
          rc = ent_err(m->e, SQLITE_ERROR,
                       "%s: expected a price >= 0 with at most 6 decimal places, as a number or "
                       "text (\"29.99\")",
                       p);
        }
      } else if (strcmp(k->string, "currency") == 0) {
        rc = json_text(m->e, p, k, &pl->currency);
      } else if (strcmp(k->string, "inherits") == 0) {
        rc = json_text(m->e, p, k, &pl->inherits);
      } else if (strcmp(k->string, "trial_days") == 0) {
        pl->has_trial = 1;
        rc = json_count(m->e, p, k, &pl->trial_days);
      } else if (strcmp(k->string, "default") == 0) {
        rc = json_bool(m->e, p, k, &pl->is_default);
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
                         "rank, price, currency, inherits, trial_days, default, features");
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
    if (pl->inherits && !plan_find(m, pl->inherits)) {
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
      const Plan *q = plan_find(m, pl->inherits);
      int steps = 0;
      while (q != pl && q->inherits && steps++ <= m->nplans) q = plan_find(m, q->inherits);
      if (q == pl) {
        sqlite3_str *s = sqlite3_str_new(0);
        char *chain;
        sqlite3_str_appendf(s, "%s", pl->name);
        for (q = plan_find(m, pl->inherits);; q = plan_find(m, q->inherits)) {
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

static int read_model(Model *m, const cJSON *doc) {
  const cJSON *k, *plans = 0, *features = 0;
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
    } else if (strcmp(k->string, "settings") == 0) {
      const cJSON *s;
      if (!cJSON_IsObject(k)) return not_object(m->e, "settings", k);
      cJSON_ArrayForEach(s, k) {
        char buf[ENT_ALERTS_TEXT];
        if (strcmp(s->string, "alerts") != 0) {
          return unknown_key(m->e, "settings", s->string, "alerts");
        }
        if ((rc = json_alerts(m->e, "settings.alerts", s, buf, sizeof(buf))) != SQLITE_OK) {
          return rc;
        }
      }
      m->settings = k;
    } else {
      return unknown_key(m->e, "the configuration", k->string, "features, plans, settings");
    }
  }
  if (features && (rc = read_features(m, features)) != SQLITE_OK) return rc;
  if (plans) {
    int n = cJSON_GetArraySize(plans);
    if (!cJSON_IsObject(plans)) {
      return ent_err(m->e, SQLITE_ERROR, "plans: expected an object of plan name to plan");
    }
    m->plans = sqlite3_malloc64(sizeof(Plan) * (n > 0 ? n : 1));
    if (!m->plans) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    cJSON_ArrayForEach(k, plans) {
      Plan *pl;
      if (plan_find(m, k->string)) {
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

static int config_doc(EntConn *c, cJSON **out, EntErr *e) {
  static const char *const SQLS[] = {
      "SELECT feature, type, unit FROM main.ent_features WHERE declared = 1 ORDER BY position",
      "SELECT plan, rank, price, currency, inherits, trial_days, is_default FROM main.ent_plans "
      "ORDER BY position, plan",
      "SELECT feature, spec FROM main.ent_plan_features WHERE plan = ?1 ORDER BY position, feature",
  };
  sqlite3_stmt *st[3] = {0, 0, 0};
  cJSON *doc = cJSON_CreateObject(), *feats = cJSON_CreateObject(), *plans = 0;
  int rc = SQLITE_OK, i, ok = doc && feats;
  for (i = 0; i < 3 && rc == SQLITE_OK; i++) rc = sqlite3_prepare_v2(c->db, SQLS[i], -1, &st[i], 0);
  while (rc == SQLITE_OK && ok && (rc = sqlite3_step(st[0])) == SQLITE_ROW) {
    cJSON *f = cJSON_CreateObject();
    ok = attach(feats, (const char *)sqlite3_column_text(st[0], 0), f) &&
         cJSON_AddStringToObject(f, "type", (const char *)sqlite3_column_text(st[0], 1));
    if (ok && sqlite3_column_type(st[0], 2) != SQLITE_NULL) {
      ok = cJSON_AddStringToObject(f, "unit", (const char *)sqlite3_column_text(st[0], 2)) != 0;
    }
    rc = SQLITE_OK;
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
    cJSON *p = cJSON_CreateObject(), *pf;
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

/* 'merge': the stored configuration with the document's features and plans
** put in place of those of the same name. A plan the document makes the
** default takes that role from the stored one. */
static int overlay(cJSON *base, const cJSON *doc, EntErr *e) {
  static const char *const SECTIONS[] = {"features", "plans"};
  const cJSON *it;
  int i, new_default = 0;
  /* the overlay would fold a name given twice into one: refuse it first */
  for (i = 0; i < 2; i++) {
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(doc, SECTIONS[i]);
    if (!cJSON_IsObject(sec)) continue;
    cJSON_ArrayForEach(it, sec) {
      if (cJSON_GetObjectItemCaseSensitive(sec, it->string) != it) {
        return ent_err(e, SQLITE_ERROR, "%s.%s: %s named twice", SECTIONS[i], it->string,
                       i ? "plan" : "feature");
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
  for (i = 0; i < 2; i++) {
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
      if (cJSON_GetObjectItemCaseSensitive(dst, it->string)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(dst, it->string, copy)) {
          cJSON_Delete(copy);
          return ent_err(e, SQLITE_NOMEM, "out of memory");
        }
      } else if (!attach(dst, it->string, copy)) {
        return ent_err(e, SQLITE_NOMEM, "out of memory");
      }
    }
  }
  for (it = doc->child; it; it = it->next) {
    if (strcmp(it->string, "features") && strcmp(it->string, "plans")) {
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
    if (!plan_find(m, plan)) {
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
    "INSERT INTO main.ent_features(feature, type, unit, declared, position) VALUES (?1, ?2, ?3, "
    "?4, "
    "?5) ON CONFLICT(feature) DO UPDATE SET type = excluded.type, unit = excluded.unit, "
    "declared = excluded.declared, position = excluded.position",
    "SELECT plan FROM main.ent_plans",
    "DELETE FROM main.ent_plans WHERE plan = ?1",
    "INSERT INTO main.ent_plans(plan, rank, price, currency, inherits, trial_days, is_default, "
    "position) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(plan) DO UPDATE SET rank = "
    "excluded.rank, price = excluded.price, currency = excluded.currency, inherits = "
    "excluded.inherits, trial_days = excluded.trial_days, is_default = excluded.is_default, "
    "position = excluded.position",
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
    if (plans ? plan_find(m, name) != 0 : feat_find(m, name) != 0) continue;
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
    rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
    sqlite3_reset(q);
  }
  if (rc == SQLITE_OK) rc = sweep(c, st[W_LIST_P], st[W_DEL_P], m, 1);
  for (i = 0; i < m->nplans && rc == SQLITE_OK; i++) {
    const Plan *pl = &m->plans[i];
    sqlite3_stmt *q = st[W_PUT_P];
    char price[32];
    sqlite3_bind_text(q, 1, pl->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, pl->rank);
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
      const Feat *f = feat_find(m, en->feature);
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

/* What a JSON parser lets through but a configuration must not hold: a key
** twice in one object (which one wins would differ between 'merge' and
** 'replace') and numbers that are not finite (1e400 parses as infinity and
** would be written back as null). Reported with the path. */
static int doc_check(EntErr *e, const cJSON *it, const char *path) {
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
    rc = doc_check(e, k, p);
    sqlite3_free(p);
  }
  return rc;
}

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
  rc = doc_check(&e, doc, "");
  if (rc == SQLITE_OK) rc = cJSON_IsObject(doc) ? ent_schema_ensure(c, 0, &e) : read_model(&m, doc);
  if (rc == SQLITE_OK) {
    if (replace) {
      whole = doc;
      doc = 0;
    } else if ((rc = config_doc(c, &whole, &e)) == SQLITE_OK) {
      rc = overlay(whole, doc, &e);
    }
  }
  if (rc == SQLITE_OK) rc = read_model(&m, whole);
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
  model_free(&m);
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
