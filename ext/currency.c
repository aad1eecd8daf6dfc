/*
** currency.c — credit currencies: the configuration's "currencies" section
** and a feature's price in one ("currency", "rate" or "rates", "per"), read
** and checked with the document (config_read.c calls in); the price as the
** configuration in memory keeps it; and the one piece of arithmetic every
** priced call shares, the charge, exact and rounded up.
**
** A currency is a metered feature whose amounts are whole numbers of its
** smallest unit ("decimals": 2 counts hundredths), as Stripe counts cents:
** counters, grants, holds and the ledger stay integers. Rates are written in
** whole currency units per `per` units of the feature, as prices are quoted.
*/
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

#define MAX_RATE_MICROS 1000000000000000LL /* 10^9 currency units per `per` units */
#define MAX_PER 1000000000LL

static const int64_t POW10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

/* ---- reading the document ---------------------------------------------- */

int ent_currencies_read(Model *m, const cJSON *sec) {
  const cJSON *it, *k;
  if (!cJSON_IsObject(sec)) {
    return ent_err(m->e, SQLITE_ERROR,
                   "currencies: expected an object such as {\"credits\": {\"decimals\": 2}}");
  }
  cJSON_ArrayForEach(it, sec) {
    Feat *f;
    if (!it->string[0]) return ent_err(m->e, SQLITE_ERROR, "currencies: a currency name is empty");
    if (ent_model_feat(m, it->string)) {
      return ent_err(m->e, SQLITE_ERROR, "currencies.%s: currency named twice", it->string);
    }
    if (!cJSON_IsObject(it)) {
      return ent_err(m->e, SQLITE_ERROR,
                     "currencies.%s: expected an object such as {\"decimals\": 2} (or {})",
                     it->string);
    }
    if (!(f = ent_model_feat_add(m, it->string))) {
      return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    }
    f->declared = f->typed = f->is_currency = 1;
    f->type = T_METERED;
    cJSON_ArrayForEach(k, it) {
      if (strcmp(k->string, "rollover") == 0) {
        char *path = sqlite3_mprintf("currencies.%s", it->string);
        int rc =
            path ? ent_rollover_read(m, f, k, path) : ent_err(m->e, SQLITE_NOMEM, "out of memory");
        sqlite3_free(path);
        if (rc != SQLITE_OK) return rc;
        continue;
      }
      if (strcmp(k->string, "decimals") != 0) {
        return ent_err(m->e, SQLITE_ERROR,
                       "currencies.%s: unknown key '%s' (expected decimals, rollover)", it->string,
                       k->string);
      }
      if (!cJSON_IsNumber(k) || k->valuedouble < 0 || k->valuedouble > 6 ||
          k->valuedouble != (double)(int)k->valuedouble) {
        return ent_err(m->e, SQLITE_ERROR,
                       "currencies.%s.decimals: expected a whole number from 0 to 6 (the "
                       "decimal places of its smallest unit: 2 counts hundredths)",
                       it->string);
      }
      f->decimals = (int64_t)k->valuedouble;
    }
  }
  return SQLITE_OK;
}

int ent_pricing_key(const char *key) {
  return strcmp(key, "currency") == 0 || strcmp(key, "rate") == 0 || strcmp(key, "rates") == 0 ||
         strcmp(key, "per") == 0;
}

int ent_pricing_note(Model *m, Feat *f, const cJSON *k, const char *path) {
  (void)m;
  (void)path;
  if (strcmp(k->string, "currency") == 0) f->currency = k;
  if (strcmp(k->string, "rate") == 0) f->rate = k;
  if (strcmp(k->string, "rates") == 0) f->rates = k;
  if (strcmp(k->string, "per") == 0) f->per = k;
  return SQLITE_OK;
}

/* A rate: an exact decimal >= 0 with at most 6 places, up to 10^9. */
static int rate_json(Model *m, const char *path, const cJSON *v, cJSON **out) {
  int64_t micros;
  char buf[32];
  if (!ent_money_json(v, &micros) || micros > MAX_RATE_MICROS) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s: expected a rate >= 0 with at most 6 decimal places and at most "
                   "1000000000, as a number or text (\"15\", \"0.5\")",
                   path);
  }
  ent_money_fmt(micros, buf);
  if (!(*out = cJSON_CreateString(buf))) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
  return SQLITE_OK;
}

static int rates_json(Model *m, const char *path, const cJSON *v, cJSON *out) {
  const cJSON *k, *by = 0, *values = 0, *def = 0;
  cJSON *vals, *r = 0;
  if (!cJSON_IsObject(v)) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s: expected an object such as {\"by\": \"model\", \"values\": {\"small\": "
                   "\"1\", \"large\": \"15\"}, \"default\": \"4\"}",
                   path);
  }
  cJSON_ArrayForEach(k, v) {
    if (strcmp(k->string, "by") == 0) {
      by = k;
    } else if (strcmp(k->string, "values") == 0) {
      values = k;
    } else if (strcmp(k->string, "default") == 0) {
      def = k;
    } else {
      return ent_err(m->e, SQLITE_ERROR, "%s: unknown key '%s' (expected by, values, default)",
                     path, k->string);
    }
  }
  if (!cJSON_IsString(by) || !by->valuestring[0]) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s.by: expected the metadata key that selects the rate, as text (\"model\")",
                   path);
  }
  if (!cJSON_IsObject(values) || !values->child) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s.values: expected an object of value to rate with at least one entry, "
                   "such as {\"small\": \"1\"}",
                   path);
  }
  if (!cJSON_AddStringToObject(out, "by", by->valuestring) ||
      !(vals = cJSON_AddObjectToObject(out, "values"))) {
    return ent_err(m->e, SQLITE_NOMEM, "out of memory");
  }
  cJSON_ArrayForEach(k, values) {
    char *p = sqlite3_mprintf("%s.values.%s", path, k->string);
    int rc = p ? rate_json(m, p, k, &r) : ent_err(m->e, SQLITE_NOMEM, "out of memory");
    sqlite3_free(p);
    if (rc != SQLITE_OK) return rc;
    if (!cJSON_AddItemToObject(vals, k->string, r)) {
      cJSON_Delete(r);
      return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    }
  }
  if (def) {
    char *p = sqlite3_mprintf("%s.default", path);
    int rc = p ? rate_json(m, p, def, &r) : ent_err(m->e, SQLITE_NOMEM, "out of memory");
    sqlite3_free(p);
    if (rc != SQLITE_OK) return rc;
    if (!cJSON_AddItemToObject(out, "default", r)) {
      cJSON_Delete(r);
      return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    }
  }
  return SQLITE_OK;
}

/* After the features and currencies are read: each priced feature is
** metered, names a currency of the same document and has one rate or one
** set of rates; its price is kept as normalized JSON for ent_features. */
static int pricing_one(Model *m, Feat *f) {
  char *path = sqlite3_mprintf("features.%s", f->name);
  cJSON *out = cJSON_CreateObject(), *r = 0;
  Feat *cur = 0;
  int rc = SQLITE_OK;
  if (!path || !out) rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
  if (rc == SQLITE_OK && !f->currency) {
    rc = ent_err(m->e, SQLITE_ERROR,
                 "%s: \"%s\" needs \"currency\": the currency it is priced in (declared in "
                 "\"currencies\")",
                 path,
                 f->rate    ? "rate"
                 : f->rates ? "rates"
                            : "per");
  }
  if (rc == SQLITE_OK &&
      (!cJSON_IsString(f->currency) || !(cur = ent_model_feat(m, f->currency->valuestring)) ||
       !cur->is_currency)) {
    rc = ent_err(m->e, SQLITE_ERROR,
                 "%s.currency: %s%s%s is not a currency of this document; declare it in "
                 "\"currencies\", such as {\"credits\": {\"decimals\": 2}}",
                 path, cJSON_IsString(f->currency) ? "'" : "",
                 cJSON_IsString(f->currency) ? f->currency->valuestring : "(not text)",
                 cJSON_IsString(f->currency) ? "'" : "");
  }
  if (rc == SQLITE_OK && f->type != T_METERED) {
    rc = ent_err(m->e, SQLITE_ERROR,
                 "%s: only a metered feature can be priced in a currency, not a %s one", path,
                 ent_type_name(f->type));
  }
  if (rc == SQLITE_OK && (f->rate != 0) == (f->rates != 0)) {
    rc = ent_err(m->e, SQLITE_ERROR,
                 "%s: %s \"rate\" (one price) or \"rates\" (a price per value of a metadata "
                 "key)%s",
                 path, f->rate ? "give" : "a price needs", f->rate ? ", not both" : "");
  }
  if (rc == SQLITE_OK && !cJSON_AddStringToObject(out, "currency", cur->name)) {
    rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
  }
  if (rc == SQLITE_OK && f->per) {
    if (!cJSON_IsNumber(f->per) || f->per->valuedouble < 1 || f->per->valuedouble > MAX_PER ||
        f->per->valuedouble != (double)(int64_t)f->per->valuedouble) {
      rc = ent_err(m->e, SQLITE_ERROR,
                   "%s.per: expected a whole number of units from 1 to 1000000000 that the rate "
                   "is for (1000: the rate is per 1,000 units)",
                   path);
    } else if (f->per->valuedouble > 1 &&
               !cJSON_AddNumberToObject(out, "per", f->per->valuedouble)) {
      rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
    }
  }
  if (rc == SQLITE_OK && f->rate) {
    char *p = sqlite3_mprintf("%s.rate", path);
    rc = p ? rate_json(m, p, f->rate, &r) : ent_err(m->e, SQLITE_NOMEM, "out of memory");
    sqlite3_free(p);
    if (rc == SQLITE_OK && !cJSON_AddItemToObject(out, "rate", r)) {
      cJSON_Delete(r);
      rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
    }
  } else if (rc == SQLITE_OK) {
    char *p = sqlite3_mprintf("%s.rates", path);
    cJSON *rs = cJSON_AddObjectToObject(out, "rates");
    rc = p && rs ? rates_json(m, p, f->rates, rs) : ent_err(m->e, SQLITE_NOMEM, "out of memory");
    sqlite3_free(p);
  }
  if (rc == SQLITE_OK && !(f->pricing = cJSON_PrintUnformatted(out))) {
    rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
  }
  if (f->pricing) { /* cJSON's allocator is not SQLite's */
    char *copy = sqlite3_mprintf("%s", f->pricing);
    cJSON_free(f->pricing);
    f->pricing = copy;
    if (!copy && rc == SQLITE_OK) rc = ent_err(m->e, SQLITE_NOMEM, "out of memory");
  }
  cJSON_Delete(out);
  sqlite3_free(path);
  return rc;
}

int ent_pricing_check(Model *m) {
  int i, rc;
  for (i = 0; i < m->nfeats; i++) {
    Feat *f = &m->feats[i];
    if (!f->currency && !f->rate && !f->rates && !f->per) continue;
    if ((rc = pricing_one(m, f)) != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* ---- the price in memory ------------------------------------------------ */

void ent_pricing_free(EntPricing *p) {
  int i;
  if (!p) return;
  for (i = 0; i < p->nvalues; i++) sqlite3_free(p->names[i]);
  sqlite3_free(p->names);
  sqlite3_free(p->rates);
  sqlite3_free(p->by);
  sqlite3_free(p);
}

/* From ent_features.pricing, as pricing_one() wrote it; SQLITE_CORRUPT when
** it is not that (written by hand), SQLITE_NOMEM. */
int ent_pricing_parse(const char *json, const EntConfig *g, EntPricing **out) {
  cJSON *doc = cJSON_Parse(json), *cur, *per, *rate, *rates, *it;
  EntPricing *p = sqlite3_malloc(sizeof(*p));
  int rc = SQLITE_OK, n;
  *out = 0;
  if (!p) {
    cJSON_Delete(doc);
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->per = 1;
  cur = cJSON_GetObjectItemCaseSensitive(doc, "currency");
  per = cJSON_GetObjectItemCaseSensitive(doc, "per");
  rate = cJSON_GetObjectItemCaseSensitive(doc, "rate");
  rates = cJSON_GetObjectItemCaseSensitive(doc, "rates");
  if (!cJSON_IsString(cur) || (p->currency = ent_config_feature(g, cur->valuestring)) < 0 ||
      g->feats[p->currency].decimals < 0) {
    rc = SQLITE_CORRUPT;
  }
  if (rc == SQLITE_OK && per) {
    if (!cJSON_IsNumber(per) || per->valuedouble < 1 || per->valuedouble > MAX_PER) {
      rc = SQLITE_CORRUPT;
    }
    p->per = (int64_t)per->valuedouble;
  }
  if (rc == SQLITE_OK && rate) {
    if (!cJSON_IsString(rate) || !ent_money_text(rate->valuestring, &p->rate) ||
        p->rate > MAX_RATE_MICROS) {
      rc = SQLITE_CORRUPT;
    }
  } else if (rc == SQLITE_OK) {
    cJSON *by = cJSON_GetObjectItemCaseSensitive(rates, "by");
    cJSON *vals = cJSON_GetObjectItemCaseSensitive(rates, "values");
    cJSON *def = cJSON_GetObjectItemCaseSensitive(rates, "default");
    n = cJSON_GetArraySize(vals);
    if (!cJSON_IsString(by) || !cJSON_IsObject(vals) || n < 1) rc = SQLITE_CORRUPT;
    if (rc == SQLITE_OK) {
      p->by = sqlite3_mprintf("%s", by->valuestring);
      p->names = sqlite3_malloc64(sizeof(char *) * (size_t)n);
      p->rates = sqlite3_malloc64(sizeof(int64_t) * (size_t)n);
      if (!p->by || !p->names || !p->rates) rc = SQLITE_NOMEM;
    }
    cJSON_ArrayForEach(it, vals) {
      if (rc != SQLITE_OK) break;
      if (!cJSON_IsString(it) || !ent_money_text(it->valuestring, &p->rates[p->nvalues]) ||
          p->rates[p->nvalues] > MAX_RATE_MICROS) {
        rc = SQLITE_CORRUPT;
      } else if (!(p->names[p->nvalues++] = sqlite3_mprintf("%s", it->string))) {
        p->nvalues--;
        rc = SQLITE_NOMEM;
      }
    }
    if (rc == SQLITE_OK && def) {
      p->has_default = 1;
      if (!cJSON_IsString(def) || !ent_money_text(def->valuestring, &p->def)) rc = SQLITE_CORRUPT;
    }
  }
  cJSON_Delete(doc);
  if (rc != SQLITE_OK) {
    ent_pricing_free(p);
    return rc;
  }
  *out = p;
  return SQLITE_OK;
}

/* ---- the charge --------------------------------------------------------- */

/* ceil(units * rate * 10^decimals / (per * 10^6)) in 128 bits: units up to
** 2^63, rate up to 10^15 micro-units, 10^decimals up to 10^6, per up to
** 10^9; split as units = a*d + b so that neither product passes 2^127. */
int ent_charge(const EntPricing *p, int64_t rate, int decimals, int64_t units, int64_t *out) {
  typedef unsigned __int128 u128;
  if (units < 0) return 0;
  u128 rm = (u128)rate * (u128)POW10[decimals < 0 ? 0 : decimals > 6 ? 6 : decimals];
  u128 d = (u128)p->per * 1000000u;
  u128 a = (u128)units / d, b = (u128)units % d, total;
  total = a * rm + (b * rm + d - 1) / d;
  if (total > (u128)INT64_MAX) return 0;
  *out = (int64_t)total;
  return 1;
}

int ent_pricing_pick(const EntPricing *p, const char *feature, const char *meta, const char *fn,
                     int64_t *rate, char rate_text[48], char **dim, EntErr *e) {
  char buf[32];
  int i;
  *dim = 0;
  *rate = p->rate;
  if (p->by) {
    cJSON *doc = meta ? cJSON_Parse(meta) : 0;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, p->by);
    if (v && !cJSON_IsString(v)) {
      cJSON_Delete(doc);
      return ent_err(e, SQLITE_ERROR,
                     "%s: metadata's \"%s\" must be text that names a rate of '%s', such as "
                     "'{\"%s\": \"%s\"}'",
                     fn, p->by, feature, p->by, p->names[0]);
    }
    for (i = 0; v && i < p->nvalues; i++) {
      if (strcmp(p->names[i], v->valuestring) == 0) break;
    }
    if (v && !(*dim = sqlite3_mprintf("%s", v->valuestring))) {
      cJSON_Delete(doc);
      return ent_err(e, SQLITE_NOMEM, "out of memory");
    }
    if (v && i < p->nvalues) {
      *rate = p->rates[i];
    } else if (p->has_default) {
      *rate = p->def;
    } else {
      sqlite3_str *known = sqlite3_str_new(0);
      char *list;
      for (i = 0; i < p->nvalues; i++)
        sqlite3_str_appendf(known, "%s'%s'", i ? ", " : "", p->names[i]);
      list = sqlite3_str_finish(known);
      if (v) {
        ent_err(e, SQLITE_ERROR,
                "%s: '%s' has no rate for %s '%s' (known: %s) and no default; pass one of them "
                "in metadata, or add \"default\" to its rates",
                fn, feature, p->by, v->valuestring, list ? list : "?");
      } else {
        ent_err(e, SQLITE_ERROR,
                "%s: '%s' is priced by \"%s\": pass it in metadata, such as '{\"%s\": \"%s\"}' "
                "(known: %s)",
                fn, feature, p->by, p->by, p->names[0], list ? list : "?");
      }
      sqlite3_free(list);
      sqlite3_free(*dim);
      *dim = 0;
      cJSON_Delete(doc);
      return e->code;
    }
    cJSON_Delete(doc);
  }
  ent_money_fmt(*rate, buf);
  if (p->per > 1) {
    snprintf(rate_text, 48, "%.24s/%lld", buf, (long long)p->per);
  } else {
    snprintf(rate_text, 48, "%s", buf);
  }
  return SQLITE_OK;
}

int ent_rate_text_parse(const char *z, int64_t *rate, int64_t *per) {
  char buf[48];
  const char *slash = z ? strchr(z, '/') : 0;
  size_t n = slash ? (size_t)(slash - z) : (z ? strlen(z) : 0);
  if (!z || n == 0 || n >= sizeof(buf)) return 0;
  memcpy(buf, z, n);
  buf[n] = 0;
  if (!ent_money_text(buf, rate)) return 0;
  *per = 1;
  if (slash) {
    int64_t v = 0;
    const char *q = slash + 1;
    if (!*q) return 0;
    for (; *q >= '0' && *q <= '9'; q++) {
      if (v > MAX_PER) return 0;
      v = v * 10 + (*q - '0');
    }
    if (*q || v < 1 || v > MAX_PER) return 0;
    *per = v;
  }
  return 1;
}
