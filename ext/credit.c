/*
** credit.c — calls on a feature priced in a currency (currency.c holds the
** price and the arithmetic). A consumption draws on two counters: the
** feature's own units (its own limit, if its plan gives one) and the
** currency's smallest units (the charge, rounded up). Both must admit it,
** both are written in the call's savepoint, and the ledger gets two rows:
** the feature's, which keeps the units, the rate used and the charge (so a
** later price change never reprices history), then the currency's, whose
** amount is the charge, so every counter is still explained by rows of its
** own feature. Reads of a priced feature (plan_allows, quota_remaining,
** entitlement(), usage_summary) answer with what the currency still
** affords. quota_estimate() prices a call without writing.
*/
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "call.h"

typedef unsigned __int128 u128;

/* The currency's side of a call: the same subject, time and kind. The
** subject's guessed counter key was for the priced feature, not this one. */
static int currency_side(Call *k, Call *cur, int64_t charge) {
  const EntConfig *g = k->c->cfg;
  memset(cur, 0, sizeof(*cur));
  cur->c = k->c;
  cur->kind = k->kind;
  cur->fn = k->fn;
  cur->subject = k->subject;
  cur->now = k->now;
  memcpy(cur->at, k->at, sizeof(cur->at));
  cur->s = k->s;
  cur->s.spec_bound = 0;
  cur->amount = cur->asked = charge;
  if (ent_resolve_feature(k->c, &cur->s, g->feats[k->f.pricing->currency].name, &cur->f, &k->e) !=
      SQLITE_OK) {
    return k->e.code;
  }
  cur->feature = cur->f.feature;
  cur->f.no_ledger = 0; /* a priced call's rows explain both counters */
  return SQLITE_OK;
}

static int side_load(Call *k) {
  if (ent_usage_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK) return k->e.code;
  return ent_grants_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e);
}

static int charge_of(const Call *k, int64_t rate, int64_t units, int64_t *out) {
  const EntConfig *g = k->c->cfg;
  return ent_charge(k->f.pricing, rate, g->feats[k->f.pricing->currency].decimals, units, out);
}

typedef struct Priced {
  Call *k, *cur;
  int64_t rate;
} Priced;

/* Whether units of the feature (and their charge) would be admitted now. */
static int fits(void *arg, int64_t units) {
  Priced *p = arg;
  Call *k = p->k, *cur = p->cur;
  int64_t rate = p->rate;
  char *why = 0;
  int64_t charge;
  int denied;
  if (k->s.bypass) return 1;
  if (!charge_of(k, rate, units, &charge)) return 0;
  denied = ent_denial(&k->s, &k->f, &k->u, units, &why) ||
           ent_denial(&cur->s, &cur->f, &cur->u, charge, &why);
  sqlite3_free(why);
  return !denied;
}

/* A denial by the currency says what the call would have cost. */
static int deny_charge(Call *k, Call *cur, char *why) {
  char *more = 0;
  int rc;
  if (why) {
    more = k->dim ? sqlite3_mprintf("%s; %lld '%s' at rate %s ('%s') cost %lld", why,
                                    (long long)k->amount, k->feature, k->rate_text, k->dim,
                                    (long long)cur->amount)
                  : sqlite3_mprintf("%s; %lld '%s' at rate %s cost %lld", why, (long long)k->amount,
                                    k->feature, k->rate_text, (long long)cur->amount);
  }
  if (more) {
    sqlite3_free(why);
    why = more;
  }
  why = ent_with_upgrade(why, k->c, &cur->s, cur->feature, k->now, cur->amount);
  k->denied = 1;
  rc = ent_err(&k->e, SQLITE_CONSTRAINT_FUNCTION, "%s", why ? why : "denied");
  sqlite3_free(why);
  return rc;
}

/* The currency side's error becomes the call's. */
static int take_err(Call *k, Call *cur) {
  if (cur->e.code && !k->e.code) {
    k->e = cur->e;
    memset(&cur->e, 0, sizeof(cur->e));
  }
  return k->e.code;
}

/* One counter's part of the write: the counter, the grants it burns, its
** ledger row, its alerts. */
static int write_side(Call *k) {
  int64_t burn = 0, before = k->u.used;
  int fit;
  if (k->u.used > INT64_MAX - k->amount) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: amount %lld would overflow the usage counter of '%s' for subject '%s' "
                   "(%lld used); nothing was recorded",
                   k->fn, (long long)k->amount, k->feature, k->subject, (long long)k->u.used);
  }
  if (k->s.plan && k->f.enabled && !k->f.unlimited) burn = ent_grant_part(&k->f, &k->u, k->amount);
  if (ent_call_counter_add(k, k->amount, INT64_MAX - k->amount, burn, &fit) != SQLITE_OK) {
    return k->e.code;
  }
  if (burn > 0) {
    if (ent_grants_burn(k->c, &k->s, &k->f, k->now, burn, &k->e) != SQLITE_OK) return k->e.code;
    ent_grants_spent(&k->u, burn);
  }
  if (ent_call_ledger_row(k, k->amount, k->amount != k->asked) != SQLITE_OK) return k->e.code;
  return ent_consume_alerts(k, before);
}

static int priced_run(Call *k, Call *cur, int64_t rate) {
  int found = 0;
  int64_t charge = 0;
  if (!charge_of(k, rate, k->amount, &charge)) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: %lld '%s' at %s would cost more than a 64-bit count of '%s'; nothing was "
                   "recorded",
                   k->fn, (long long)k->amount, k->feature, k->rate_text, k->currency);
  }
  if (currency_side(k, cur, charge) != SQLITE_OK) return k->e.code;
  if (k->key && k->amount > 0 && ent_call_replay(k, &found) != SQLITE_OK) return k->e.code;
  if (k->amount > 0 && ent_call_savepoint_now(k) != SQLITE_OK) return k->e.code;
  /* a call that records nothing makes no rollover grant either (rollover.c) */
  if (found || k->amount == 0) k->c->writing = 2;
  if (side_load(k) != SQLITE_OK || side_load(cur) != SQLITE_OK) {
    k->c->writing = 1;
    return take_err(k, cur);
  }
  k->c->writing = 1;
  if (k->kind == K_UPTO && !found && k->amount > 0) {
    Priced p;
    p.k = k;
    p.cur = cur;
    p.rate = rate;
    k->amount = ent_call_most(k->amount, fits, &p); /* both decisions are monotone */
    charge_of(k, rate, k->amount, &cur->amount);
    cur->asked = cur->amount;
  } else if (k->kind == K_UPTO && found) {
    k->amount = k->replayed;
  }
  if (!found && k->amount > 0 && k->kind <= K_TRY && !k->s.bypass) {
    char *why = 0;
    if (ent_denial(&k->s, &k->f, &k->u, k->amount, &why)) {
      sqlite3_free(why);
      return ent_call_deny(k);
    }
    if (ent_denial(&cur->s, &cur->f, &cur->u, cur->amount, &why)) return deny_charge(k, cur, why);
  } else if (k->amount == 0 && !found && k->kind <= K_TRY && !k->s.bypass) {
    char *why = 0; /* a check of nothing: denied only where access is */
    if (ent_denial(&k->s, &k->f, &k->u, 0, &why)) {
      sqlite3_free(why);
      return ent_call_deny(k);
    }
    if (ent_denial(&cur->s, &cur->f, &cur->u, 0, &why)) return deny_charge(k, cur, why);
  }
  if (!found && k->amount > 0) {
    /* expired holds on either counter are recorded first: the currency's row
    ** must come right after the priced row (entitlements_check() pairs them) */
    if (k->u.held != k->u.held_stored && ent_holds_expire(k) != SQLITE_OK) return k->e.code;
    if (cur->u.held != cur->u.held_stored && ent_holds_expire(cur) != SQLITE_OK) {
      return take_err(k, cur);
    }
    k->f.no_ledger = 0;
    k->charged = cur->amount;
    if (write_side(k) != SQLITE_OK) return k->e.code;
    if (write_side(cur) != SQLITE_OK) return take_err(k, cur);
  }
  ent_call_set_remaining(cur);
  k->has_remaining = cur->has_remaining;
  k->remaining = cur->remaining;
  return SQLITE_OK;
}

int ent_credit_run(Call *k) {
  Call cur;
  char rate_text[48], *dim = 0;
  int64_t rate;
  int rc;
  memset(&cur, 0, sizeof(cur));
  if (k->kind == K_REFUND) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: '%s' is priced in '%s'; give back what it cost with refund_quota(subject, "
                   "'%s', amount)",
                   k->fn, k->feature, k->c->cfg->feats[k->f.pricing->currency].name,
                   k->c->cfg->feats[k->f.pricing->currency].name);
  }
  if (ent_pricing_pick(k->f.pricing, k->feature, k->meta, k->fn, &rate, rate_text, &dim, &k->e) !=
      SQLITE_OK) {
    return k->e.code;
  }
  k->currency = k->c->cfg->feats[k->f.pricing->currency].name;
  k->rate_text = rate_text;
  k->dim = dim;
  rc = priced_run(k, &cur, rate);
  take_err(k, &cur);
  ent_err_clear(&cur.e);
  k->rate_text = 0;
  k->dim = 0;
  sqlite3_free(dim);
  return rc;
}

/* ---- holds (hold.c) ----------------------------------------------------- */

int ent_credit_hold(Call *k, EntCreditHold *h) {
  int64_t rate, charge;
  const char *currency = k->c->cfg->feats[k->f.pricing->currency].name;
  if (!k->s.bypass && (!k->s.plan || !k->f.enabled)) return ent_call_deny(k);
  if (k->s.plan && k->f.enabled && !k->f.unlimited) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: '%s' has a limit of its own (%lld) besides its price in '%s', and a hold "
                   "reserves one counter; reserve '%s' itself, or give '%s' no limit in plan "
                   "'%s'",
                   k->fn, k->feature, (long long)k->f.quota, currency, currency, k->feature,
                   k->s.plan);
  }
  if (ent_pricing_pick(k->f.pricing, k->feature, k->meta, k->fn, &rate, h->rate_text, &h->dim,
                       &k->e) != SQLITE_OK) {
    return k->e.code;
  }
  if (!charge_of(k, rate, k->amount, &charge)) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: %lld '%s' at %s would cost more than a 64-bit count of '%s'; nothing was "
                   "recorded",
                   k->fn, (long long)k->amount, k->feature, h->rate_text, currency);
  }
  h->draws = k->feature;
  h->units = k->amount;
  k->s.spec_bound = 0; /* the guessed counter key was the priced feature's */
  if (ent_resolve_feature(k->c, &k->s, currency, &k->f, &k->e) != SQLITE_OK) return k->e.code;
  k->feature = k->f.feature;
  k->amount = k->asked = charge;
  return SQLITE_OK;
}

int ent_credit_hold_charge(Call *k, const char *hold, const char *rate_text, int64_t units,
                           int64_t *charge) {
  EntPricing p;
  int64_t rate;
  memset(&p, 0, sizeof(p));
  if (!k->f.is_currency || !ent_rate_text_parse(rate_text, &rate, &p.per)) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: hold '%s' is on '%s', which is no longer a currency, or its rate '%s' "
                   "was changed by hand; release it",
                   k->fn, hold, k->feature, rate_text ? rate_text : "");
  }
  if (!ent_charge(&p, rate, k->f.decimals, units, charge)) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: actual %lld at %s would cost more than a 64-bit count of '%s'; nothing "
                   "changed",
                   k->fn, (long long)units, rate_text, k->feature);
  }
  return SQLITE_OK;
}

int ent_credit_settle_units(Call *k, const char *hold, const char *feature, int64_t units,
                            int64_t charged, const char *rate_text, const char *dim,
                            const char *taken_at, const char *meta) {
  Call t;
  int64_t taken;
  int fit;
  memset(&t, 0, sizeof(t));
  t.c = k->c;
  t.kind = K_SETTLE;
  t.fn = k->fn;
  t.subject = k->subject;
  t.feature = feature;
  t.now = k->now;
  memcpy(t.at, k->at, sizeof(t.at));
  if (strcmp(t.at, taken_at) < 0) sqlite3_snprintf(sizeof(t.at), t.at, "%s", taken_at);
  t.s = k->s;
  t.s.spec_bound = 0;
  t.meta = meta;
  t.hold = hold;
  t.amount = t.asked = units;
  t.currency = k->feature;
  t.charged = charged;
  t.rate_text = rate_text;
  t.dim = dim;
  if (ent_time_text(k->c, taken_at, "created_at", &taken, &k->e) != SQLITE_OK ||
      ent_resolve_feature(k->c, &t.s, feature, &t.f, &k->e) != SQLITE_OK) {
    return k->e.code;
  }
  if (t.f.type != T_METERED) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: feature '%s' of hold '%s' is %s now, not metered; the configuration "
                   "changed under it; release the hold",
                   k->fn, feature, hold, ent_type_name(t.f.type));
  }
  t.f.no_ledger = 0;
  /* counted in the period the hold was taken in, as its currency is */
  if (ent_usage_load(k->c, &t.s, &t.f, taken, &t.u, &t.e) != SQLITE_OK) return take_err(k, &t);
  if (t.u.used > INT64_MAX - units) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: actual %lld would overflow the usage counter of '%s'; nothing changed",
                   k->fn, (long long)units, feature);
  }
  if (ent_call_counter_add(&t, units, INT64_MAX - units, 0, &fit) != SQLITE_OK ||
      ent_call_ledger_row(&t, units, 0) != SQLITE_OK) {
    return take_err(k, &t);
  }
  return SQLITE_OK;
}

/* ---- reads -------------------------------------------------------------- */

static int64_t read_rate_of(const EntPricing *p) {
  int64_t r;
  int i;
  if (!p->by) return p->rate;
  if (p->has_default) return p->def;
  for (r = p->rates[0], i = 1; i < p->nvalues; i++) {
    if (p->rates[i] < r) r = p->rates[i];
  }
  return r;
}

int ent_credit_read(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                    int64_t units, EntCreditRead *out, EntErr *e) {
  const EntConfig *g = c->cfg;
  const EntPricing *p = f->pricing;
  int decimals = g->feats[p->currency].decimals;
  EntSubject cs = *s;
  EntFeature cf;
  EntUsage cu;
  EntView v;
  char buf[32];
  int64_t rate = read_rate_of(p), charge;
  memset(out, 0, sizeof(*out));
  memset(&cu, 0, sizeof(cu));
  out->currency = g->feats[p->currency].name;
  ent_money_fmt(rate, buf);
  if (p->per > 1) {
    snprintf(out->rate_text, sizeof(out->rate_text), "%.24s/%lld", buf, (long long)p->per);
  } else {
    snprintf(out->rate_text, sizeof(out->rate_text), "%s", buf);
  }
  cs.spec_bound = 0; /* the guessed counter key was the priced feature's */
  if (ent_resolve_feature(c, &cs, out->currency, &cf, e) != SQLITE_OK) return e->code;
  if (cs.plan && cf.enabled &&
      (ent_usage_load(c, &cs, &cf, now, &cu, e) != SQLITE_OK ||
       ent_grants_load(c, &cs, &cf, now, &cu, e) != SQLITE_OK)) {
    return e->code;
  }
  ent_view(&cs, &cf, &cu, &v);
  if (!cs.plan || !cf.enabled) {
    out->limited = 1; /* the currency is not in the plan: nothing is affordable */
  } else if (v.has_quota && rate > 0 && !(cf.soft && !cf.has_cap)) {
    /* the most units u with ceil(u * R / D) <= remaining: floor(remaining * D / R) */
    u128 d = (u128)p->per * 1000000u;
    u128 r = (u128)rate * (u128)(decimals == 0   ? 1
                                 : decimals == 1 ? 10
                                 : decimals == 2 ? 100
                                 : decimals == 3 ? 1000
                                 : decimals == 4 ? 10000
                                 : decimals == 5 ? 100000
                                                 : 1000000);
    u128 n = (u128)v.remaining * d / r;
    out->limited = 1;
    out->afford = n > (u128)INT64_MAX ? INT64_MAX : (int64_t)n;
  }
  if (units > 0 && !s->bypass) {
    if (!ent_charge(p, rate, decimals, units, &charge)) charge = INT64_MAX;
    out->denied = ent_denial(&cs, &cf, &cu, charge, &out->why);
  }
  return SQLITE_OK;
}

/* ---- quota_estimate ----------------------------------------------------- */

typedef struct Estimate {
  int fits, has_balance, has_cost;
  int64_t balance, cost;
  char rate_text[48];
  char *dim, *why;
  const char *currency;
} Estimate;

/* What consume_quota(subject, feature, amount, NULL, meta) would do now. */
static int estimate(Call *k, Estimate *x) {
  char *why = 0;
  EntView v;
  if (ent_call_resolve(k, "quota_estimate() prices metered features and rate limits") !=
      SQLITE_OK) {
    return k->e.code;
  }
  if (k->f.type == T_RATE) {
    int has = 0;
    int64_t tat = 0;
    EntRate r;
    if (ent_rate_read(k->c, &k->s, &k->f, &has, &tat, &k->e) != SQLITE_OK) return k->e.code;
    ent_rate_eval(&k->f, k->now * 1000, has, tat, k->amount, &r);
    x->has_balance = k->s.plan && k->f.enabled && !k->f.unlimited;
    x->balance = x->has_balance ? r.remaining : 0;
    x->fits = k->s.bypass || (k->s.plan && k->f.enabled && (k->f.unlimited || r.allowed));
    if (!x->fits) {
      x->why = k->s.plan && k->f.enabled ? ent_rate_denial(&k->s, &k->f, &r, k->amount) : 0;
      if (!x->why) ent_denial(&k->s, &k->f, &k->u, k->amount, &x->why);
    }
    return SQLITE_OK;
  }
  if (side_load(k) != SQLITE_OK) return k->e.code;
  if (!k->f.pricing) {
    ent_view(&k->s, &k->f, &k->u, &v);
    x->has_balance = v.has_quota || !k->s.plan || !k->f.enabled;
    x->balance = v.remaining;
    x->fits = k->s.bypass || !ent_denial(&k->s, &k->f, &k->u, k->amount, &x->why);
    return SQLITE_OK;
  }
  {
    Call cur;
    int64_t rate;
    int rc;
    if (ent_pricing_pick(k->f.pricing, k->feature, k->meta, k->fn, &rate, x->rate_text, &x->dim,
                         &k->e) != SQLITE_OK) {
      return k->e.code;
    }
    x->currency = k->c->cfg->feats[k->f.pricing->currency].name;
    k->rate_text = x->rate_text;
    k->dim = x->dim;
    if (!charge_of(k, rate, k->amount, &x->cost)) {
      return ent_err(&k->e, SQLITE_ERROR,
                     "%s: %lld '%s' at %s would cost more than a 64-bit count of '%s'", k->fn,
                     (long long)k->amount, k->feature, x->rate_text, x->currency);
    }
    x->has_cost = 1;
    rc = currency_side(k, &cur, x->cost);
    if (rc == SQLITE_OK) rc = side_load(&cur);
    if (rc == SQLITE_OK) {
      ent_view(&cur.s, &cur.f, &cur.u, &v);
      x->has_balance = v.has_quota || !cur.s.plan || !cur.f.enabled;
      x->balance = v.remaining;
      x->fits = 1;
      if (!k->s.bypass && ent_denial(&k->s, &k->f, &k->u, k->amount, &why)) {
        x->fits = 0;
        x->why = why;
      } else if (!k->s.bypass && ent_denial(&cur.s, &cur.f, &cur.u, cur.amount, &why)) {
        x->fits = 0;
        x->why = why;
      } else {
        sqlite3_free(why);
      }
    }
    take_err(k, &cur);
    ent_err_clear(&cur.e);
    k->rate_text = 0;
    k->dim = 0;
    return k->e.code;
  }
}

static cJSON *int_json(int has, int64_t v) {
  char buf[32];
  if (!has) return cJSON_CreateNull();
  snprintf(buf, sizeof(buf), "%lld", (long long)v);
  return cJSON_CreateRaw(buf);
}

static cJSON *text_json(const char *z) {
  return z ? cJSON_CreateString(z) : cJSON_CreateNull();
}

/* Adds v to o under key; when that fails (out of memory) v is freed here. */
static int put(cJSON *o, const char *key, cJSON *v) {
  if (v && cJSON_AddItemToObject(o, key, v)) return 1;
  cJSON_Delete(v);
  return 0;
}

/* quota_estimate(subject, feature, amount [, metadata]): what a consumption
** would cost and whether it fits now, as JSON; writes nothing. */
static void fn_estimate(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  Estimate x;
  int pinned = 0, ok = 1;
  cJSON *o = 0;
  if (!ent_argc(ctx, argc, 3, 4, "quota_estimate(subject, feature, amount [, metadata])")) return;
  memset(&k, 0, sizeof(k));
  memset(&x, 0, sizeof(x));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_CONSUME;
  k.fn = "quota_estimate";
  ent_call_args(&k, 3, argv);
  if (!k.e.code && argc == 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL &&
      sqlite3_value_type(argv[3]) != SQLITE_TEXT) {
    ent_err(&k.e, SQLITE_ERROR,
            "quota_estimate: metadata must be a JSON object as text, such as "
            "'{\"model\": \"large\"}'; use json_object() to build one");
  }
  if (!k.e.code && argc == 4 && sqlite3_value_type(argv[3]) == SQLITE_TEXT) {
    cJSON *m = cJSON_ParseWithLengthOpts((const char *)sqlite3_value_text(argv[3]),
                                         (size_t)sqlite3_value_bytes(argv[3]) + 1, 0, 1);
    if (!cJSON_IsObject(m)) {
      ent_err(&k.e, SQLITE_ERROR,
              "quota_estimate: metadata must be a JSON object as text, such as "
              "'{\"model\": \"large\"}'; use json_object() to build one");
    }
    cJSON_Delete(m);
    k.meta = (const char *)sqlite3_value_text(argv[3]);
  }
  if (!k.e.code) {
    k.now = ent_now(k.c);
    pinned = ent_read_begin(k.c);
    estimate(&k, &x);
    ent_read_end(k.c, pinned);
  }
  if (!k.e.code) {
    int64_t after = x.has_cost ? x.cost : k.amount;
    o = cJSON_CreateObject();
    ok = o != 0;
    ok = ok && put(o, "feature", text_json(k.feature));
    ok = ok && put(o, "amount", int_json(1, k.amount));
    ok = ok && put(o, "currency", text_json(x.currency));
    ok = ok && put(o, "rate", text_json(x.has_cost ? x.rate_text : 0));
    ok = ok && put(o, "dimension", text_json(x.dim));
    ok = ok && put(o, "cost", int_json(x.has_cost, x.cost));
    ok = ok && put(o, "fits", cJSON_CreateBool(x.fits));
    ok = ok && put(o, "balance", int_json(x.has_balance, x.balance));
    ok = ok && put(o, "balance_after",
                   int_json(x.has_balance && x.fits, x.balance > after ? x.balance - after : 0));
    ok = ok && put(o, "reason", text_json(x.fits ? 0 : x.why));
    if (ok) {
      char *json = cJSON_PrintUnformatted(o);
      if (json) {
        sqlite3_result_text(ctx, json, -1, SQLITE_TRANSIENT);
        cJSON_free(json);
      } else {
        ok = 0;
      }
    }
    if (!ok) sqlite3_result_error_nomem(ctx);
  } else {
    ent_result_err(ctx, &k.e);
  }
  cJSON_Delete(o);
  sqlite3_free(x.dim);
  sqlite3_free(x.why);
  ent_err_clear(&k.e);
}

int ent_register_credit(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {{"quota_estimate", fn_estimate}};
  return ent_register_fns(db, c, fns, 1);
}
