/*
** checks.c — the read-only questions (SPEC §6 "Checks"): plan_allows,
** quota_remaining, plan_value, entitlement() and entitlements(). None of them
** writes, so all of them work on a read-only database.
*/
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ent.h"

/* The state every check starts from: the subject at this moment, and the
** feature's entitlement under its plan. */
typedef struct Ask {
  EntConn *c;
  int pinned; /* holds a read transaction for the call (ent_read_begin) */
  int64_t now;
  EntSubject s;
  EntFeature f;
  EntUsage u;
  EntRate r;     /* rate features: the bucket now (rate_now) */
  int64_t units; /* metered and rate: units asked for when arg is omitted */
  EntErr e;
} Ask;

/* A rate feature's bucket for n tokens at this moment. */
static int rate_now(Ask *a, int64_t n) {
  int has = 0;
  int64_t tat = 0;
  if (ent_rate_read(a->c, &a->s, &a->f, &has, &tat, &a->e) != SQLITE_OK) return a->e.code;
  ent_rate_eval(&a->f, a->now * 1000, has, tat, n, &a->r);
  return SQLITE_OK;
}

static int ask_open(Ask *a, sqlite3_context *ctx, sqlite3_value **argv, const char *fn) {
  const char *subject, *feature;
  memset(a, 0, sizeof(*a));
  a->c = sqlite3_user_data(ctx);
  a->now = ent_now(a->c);
  a->units = 1;
  if (ent_arg_subject(argv[0], fn, &subject, &a->e) != SQLITE_OK) return a->e.code;
  if (ent_arg_feature(argv[1], fn, &feature, &a->e) != SQLITE_OK) return a->e.code;
  if (ent_resolve_subject(a->c, subject, feature, a->now, &a->s, &a->e) != SQLITE_OK)
    return a->e.code;
  return ent_resolve_feature(a->c, &a->s, feature, &a->f, &a->e);
}

static void ask_close(Ask *a, sqlite3_context *ctx) {
  ent_read_end(a->c, a->pinned);
  if (a->e.code != SQLITE_OK) ent_result_err(ctx, &a->e);
  ent_subject_clear(&a->s);
  ent_feature_clear(&a->f);
}

static int wrong_type(Ask *a, const char *fn, const char *want) {
  return ent_err(&a->e, SQLITE_ERROR, "%s: feature '%s' is %s; %s takes a %s feature", fn,
                 a->f.feature, ent_type_name(a->f.type), fn, want);
}

static int truthy(const cJSON *v) {
  if (cJSON_IsTrue(v)) return 1;
  if (cJSON_IsNumber(v)) return v->valuedouble != 0;
  if (cJSON_IsString(v)) return v->valuestring[0] != 0;
  if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != 0;
  return 0;
}

/* A config value against plan_allows' arg: a number is a maximum, an array
** a set of allowed values, text a required value, an object a set of keys. */
static int config_allows(Ask *a, const cJSON *v, sqlite3_value *arg, int *out) {
  int t = sqlite3_value_type(arg);
  const char *z = (const char *)sqlite3_value_text(arg);
  const cJSON *it;
  *out = 0;
  if (cJSON_IsNumber(v)) {
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
      return ent_err(&a->e, SQLITE_ERROR,
                     "plan_allows: feature '%s' has a number value (a maximum); arg must be a "
                     "number, not %s",
                     a->f.feature,
                     t == SQLITE_NULL   ? "NULL"
                     : t == SQLITE_TEXT ? "text"
                                        : "a blob");
    }
    *out = sqlite3_value_double(arg) <= v->valuedouble;
  } else if (cJSON_IsArray(v)) {
    cJSON_ArrayForEach(it, v) {
      if ((cJSON_IsString(it) && t == SQLITE_TEXT && strcmp(it->valuestring, z) == 0) ||
          (cJSON_IsNumber(it) && (t == SQLITE_INTEGER || t == SQLITE_FLOAT) &&
           it->valuedouble == sqlite3_value_double(arg))) {
        *out = 1;
      }
    }
  } else if (cJSON_IsString(v)) {
    *out = t != SQLITE_NULL && z && strcmp(v->valuestring, z) == 0;
  } else if (cJSON_IsObject(v)) {
    *out = t == SQLITE_TEXT && cJSON_GetObjectItemCaseSensitive(v, z) != 0;
  } else if (cJSON_IsBool(v)) {
    *out = (t == SQLITE_INTEGER || t == SQLITE_FLOAT) &&
           (sqlite3_value_double(arg) != 0) == cJSON_IsTrue(v);
  }
  return SQLITE_OK;
}

/* plan_allows for the resolved feature; arg may be NULL (omitted). When
** denied and reason is not NULL, *reason says why (no prefix). */
static int allows(Ask *a, sqlite3_value *arg, int *out, char **reason) {
  *out = 0;
  if (reason) *reason = 0;
  if (a->s.bypass) {
    *out = 1;
    return SQLITE_OK;
  }
  if (a->f.type == T_METERED) {
    int64_t amount = a->units;
    char *why = 0;
    if (arg && ent_arg_amount(arg, "plan_allows", "arg (units)", &amount, &a->e) != SQLITE_OK) {
      return a->e.code;
    }
    if (a->f.enabled && (ent_usage_load(a->c, &a->s, &a->f, a->now, &a->u, &a->e) != SQLITE_OK ||
                         ent_grants_load(a->c, &a->s, &a->f, a->now, &a->u, &a->e) != SQLITE_OK)) {
      return a->e.code;
    }
    *out = !ent_denial(&a->s, &a->f, &a->u, amount, &why);
    if (*out && a->f.pricing && amount > 0) { /* its currency must admit the charge too */
      EntCreditRead cr;
      if (ent_credit_read(a->c, &a->s, &a->f, a->now, amount, &cr, &a->e) != SQLITE_OK) {
        return a->e.code;
      }
      *out = !cr.denied;
      why = cr.why;
    }
    if (reason) {
      *reason = why;
    } else {
      sqlite3_free(why);
    }
    return SQLITE_OK;
  }
  if (!a->s.plan || !a->f.enabled) {
    if (reason) ent_denial(&a->s, &a->f, &a->u, 0, reason);
    return SQLITE_OK;
  }
  if (a->f.type == T_RATE) { /* peek: takes nothing */
    int64_t n = a->units;
    if (arg && ent_arg_amount(arg, "plan_allows", "arg (tokens)", &n, &a->e) != SQLITE_OK) {
      return a->e.code;
    }
    if (rate_now(a, n) != SQLITE_OK) return a->e.code;
    *out = a->r.allowed;
    if (!*out && reason) *reason = ent_rate_denial(&a->s, &a->f, &a->r, n);
    return SQLITE_OK;
  }
  if (a->f.type == T_CONFIG) {
    int rc = SQLITE_OK;
    if (arg) {
      rc = config_allows(a, a->f.json, arg, out);
    } else {
      *out = truthy(a->f.json);
    }
    if (rc == SQLITE_OK && !*out && reason) {
      *reason = sqlite3_mprintf("the value of '%s' in plan '%s' does not allow it", a->f.feature,
                                a->s.plan);
    }
    return rc;
  }
  *out = 1; /* boolean, enabled */
  return SQLITE_OK;
}

/* Whether plan pi would allow the call, with the subject's usage, seats and
** anchor as they are. */
static int allows_on(const Ask *a, int pi, sqlite3_value *arg, int *out) {
  Ask b = *a;
  int rc;
  memset(&b.e, 0, sizeof(b.e));
  memset(&b.u, 0, sizeof(b.u));
  memset(&b.r, 0, sizeof(b.r));
  b.s.plan_idx = pi;
  b.s.plan = a->c->cfg->plans[pi].name;
  b.s.bypass = 0;
  b.s.spec_bound = 0;  /* the guessed counter key was for the current plan */
  b.s.ovr_subject = 0; /* an override is the subject's, not the plan's */
  int writing = b.c->writing;
  /* a what-if, also when a write's denial asks it: it makes no rollover
  ** grant for a plan the subject is not on (rollover.c) */
  if (writing) b.c->writing = 2;
  rc = ent_resolve_feature(b.c, &b.s, a->f.feature, &b.f, &b.e);
  if (rc == SQLITE_OK) rc = allows(&b, arg, out, 0);
  b.c->writing = writing;
  ent_err_clear(&b.e);
  return rc;
}

/* The lowest-ranked plan above the current one that would allow the call
** (ties: the first in the configuration); -1 when none would. */
static int upgrade_plan(const Ask *a, sqlite3_value *arg) {
  const EntConfig *g = a->c->cfg;
  int pi, best = -1, ok;
  for (pi = 0; pi < g->nplans; pi++) {
    if (a->s.plan_idx >= 0 && g->plans[pi].rank <= g->plans[a->s.plan_idx].rank) continue;
    if (best >= 0 && g->plans[pi].rank >= g->plans[best].rank) continue;
    if (allows_on(a, pi, arg, &ok) == SQLITE_OK && ok) best = pi;
  }
  return best;
}

const char *ent_upgrade_units(EntConn *c, const EntSubject *s, const char *feature, int64_t now,
                              int64_t units) {
  Ask a;
  int pi;
  memset(&a, 0, sizeof(a));
  a.c = c;
  a.now = now;
  a.units = units;
  a.s = *s;
  if (!c->cfg || ent_resolve_feature(c, &a.s, feature, &a.f, &a.e) != SQLITE_OK) {
    ent_err_clear(&a.e);
    return 0;
  }
  pi = upgrade_plan(&a, 0);
  return pi >= 0 ? c->cfg->plans[pi].name : 0;
}

char *ent_with_upgrade(char *why, EntConn *c, const EntSubject *s, const char *feature, int64_t now,
                       int64_t units) {
  const char *plan = why ? ent_upgrade_units(c, s, feature, now, units) : 0;
  char *out;
  if (!plan) return why;
  out = sqlite3_mprintf("%s; upgrade to '%s'", why, plan);
  if (!out) return why;
  sqlite3_free(why);
  return out;
}

/* plan_upgrade_for(subject, feature [, arg]): the plan to offer. */
static void fn_upgrade_for(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Ask a;
  if (!ent_argc(ctx, argc, 2, 3, "plan_upgrade_for(subject, feature [, arg])")) return;
  if (ask_open(&a, ctx, argv, "plan_upgrade_for") == SQLITE_OK) {
    int pi = upgrade_plan(&a, argc == 3 ? argv[2] : 0);
    if (pi >= 0) {
      sqlite3_result_text(ctx, a.c->cfg->plans[pi].name, -1, SQLITE_TRANSIENT);
    } else {
      sqlite3_result_null(ctx);
    }
  }
  ask_close(&a, ctx);
}

static void fn_plan_allows(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Ask a;
  int ok = 0;
  if (!ent_argc(ctx, argc, 2, 3, "plan_allows(subject, feature [, arg])")) return;
  if (ask_open(&a, ctx, argv, "plan_allows") == SQLITE_OK &&
      allows(&a, argc == 3 ? argv[2] : 0, &ok, 0) == SQLITE_OK) {
    sqlite3_result_int(ctx, ok);
  }
  ask_close(&a, ctx);
}

static void fn_quota_remaining(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Ask a;
  if (!ent_argc(ctx, argc, 2, 2, "quota_remaining(subject, feature)")) return;
  if (ask_open(&a, ctx, argv, "quota_remaining") == SQLITE_OK) {
    if (a.f.type == T_RATE) {
      if (!a.s.plan || !a.f.enabled) {
        sqlite3_result_int(ctx, 0);
      } else if (a.f.unlimited) {
        sqlite3_result_null(ctx);
      } else if (rate_now(&a, 0) == SQLITE_OK) {
        sqlite3_result_int64(ctx, a.r.remaining);
      }
    } else if (a.f.type != T_METERED) {
      wrong_type(&a, "quota_remaining", "metered or rate");
    } else if ((ent_usage_load(a.c, &a.s, &a.f, a.now, &a.u, &a.e) == SQLITE_OK &&
                ent_grants_load(a.c, &a.s, &a.f, a.now, &a.u, &a.e) == SQLITE_OK)) {
      EntView v;
      EntCreditRead cr;
      int unlimited = a.s.plan && a.f.enabled && a.f.unlimited;
      ent_view(&a.s, &a.f, &a.u, &v);
      /* a priced feature: also no more than its currency affords */
      if (a.f.pricing && a.s.plan && a.f.enabled) {
        if (ent_credit_read(a.c, &a.s, &a.f, a.now, 0, &cr, &a.e) != SQLITE_OK) {
          ask_close(&a, ctx);
          return;
        }
        if (cr.limited && (unlimited || cr.afford < v.remaining)) v.remaining = cr.afford;
        if (cr.limited) unlimited = 0;
      }
      if (unlimited) {
        sqlite3_result_null(ctx);
      } else {
        sqlite3_result_int64(ctx, v.remaining);
      }
    }
  }
  ask_close(&a, ctx);
}

/* A JSON value as an SQL value: numbers stay numbers, text text, true and
** false 1 and 0, arrays and objects their JSON text. */
static void result_json(sqlite3_context *ctx, const char *json) {
  cJSON *v = cJSON_Parse(json ? json : "null");
  if (!v) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
      sqlite3_result_int64(ctx, (sqlite3_int64)d);
    } else {
      sqlite3_result_double(ctx, d);
    }
  } else if (cJSON_IsString(v)) {
    sqlite3_result_text(ctx, v->valuestring, -1, SQLITE_TRANSIENT);
  } else if (cJSON_IsBool(v)) {
    sqlite3_result_int(ctx, cJSON_IsTrue(v));
  } else if (cJSON_IsNull(v)) {
    sqlite3_result_null(ctx);
  } else {
    sqlite3_result_text(ctx, json, -1, SQLITE_TRANSIENT);
  }
  cJSON_Delete(v);
}

static void fn_plan_value(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Ask a;
  if (!ent_argc(ctx, argc, 2, 2, "plan_value(subject, feature)")) return;
  if (ask_open(&a, ctx, argv, "plan_value") == SQLITE_OK) {
    if (a.f.type == T_BOOLEAN) {
      sqlite3_result_int(ctx, a.s.plan && a.f.enabled);
    } else if (!a.s.plan || !a.f.enabled || (a.f.type != T_CONFIG && a.f.unlimited)) {
      sqlite3_result_null(ctx);
    } else if (a.f.type == T_METERED || a.f.type == T_RATE) {
      sqlite3_result_int64(ctx, a.f.quota);
    } else {
      result_json(ctx, a.f.value);
    }
  }
  ask_close(&a, ctx);
}

/* ---- entitlement() and entitlements() ---------------------------------- */

/* The JSON of entitlement() is written straight into one string, in the
** order and the form cJSON_PrintUnformatted() gave when it was built as a
** cJSON tree (that cost twice the rest of the call): strings escaped as
** cJSON escapes them, numbers that are not integers and config values
** printed by cJSON itself. */
typedef struct Jw {
  char *p; /* stack[] until it outgrows it */
  size_t n, cap;
  int oom;
  int members; /* written in the current object */
  char stack[1024];
} Jw;

static void jw_init(Jw *w) {
  w->p = w->stack;
  w->n = 0;
  w->cap = sizeof(w->stack);
  w->oom = 0;
  w->members = 0;
}

static void jw_free(Jw *w) {
  if (w->p != w->stack) sqlite3_free(w->p);
  w->p = w->stack;
}

static void jw_put(Jw *w, const char *z, size_t n) {
  if (w->oom) return;
  if (w->n + n > w->cap) {
    size_t cap = (w->n + n) * 2;
    char *q = sqlite3_malloc64(cap);
    if (!q) {
      w->oom = 1;
      return;
    }
    memcpy(q, w->p, w->n);
    jw_free(w);
    w->p = q;
    w->cap = cap;
  }
  memcpy(w->p + w->n, z, n);
  w->n += n;
}

static void jw_str(Jw *w, const char *z) {
  jw_put(w, z, strlen(z));
}

static void jw_text(Jw *w, const char *z) {
  const unsigned char *p = (const unsigned char *)z, *run = p;
  jw_put(w, "\"", 1);
  for (; *p; p++) {
    char esc[8];
    if (*p > 31 && *p != '"' && *p != '\\') continue;
    jw_put(w, (const char *)run, (size_t)(p - run));
    run = p + 1;
    switch (*p) {
      case '"':
        jw_str(w, "\\\"");
        break;
      case '\\':
        jw_str(w, "\\\\");
        break;
      case '\b':
        jw_str(w, "\\b");
        break;
      case '\f':
        jw_str(w, "\\f");
        break;
      case '\n':
        jw_str(w, "\\n");
        break;
      case '\r':
        jw_str(w, "\\r");
        break;
      case '\t':
        jw_str(w, "\\t");
        break;
      default:
        snprintf(esc, sizeof(esc), "\\u%04x", *p);
        jw_str(w, esc);
        break;
    }
  }
  jw_put(w, (const char *)run, (size_t)(p - run));
  jw_put(w, "\"", 1);
}

/* name: one of our own keys (plain ASCII, nothing to escape) */
static void jw_key(Jw *w, const char *name) {
  if (w->members++) jw_put(w, ",", 1);
  jw_put(w, "\"", 1);
  jw_str(w, name);
  jw_put(w, "\":", 2);
}

static void jw_raw(Jw *w, const char *name, const char *raw) {
  jw_key(w, name);
  jw_str(w, raw);
}

static void jw_int(Jw *w, const char *name, int64_t v) {
  char buf[24], *q = buf + sizeof(buf);
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--q = '-';
  jw_key(w, name);
  jw_put(w, q, (size_t)(buf + sizeof(buf) - q));
}

static void jw_opt_int(Jw *w, const char *name, int has, int64_t v) {
  if (has) {
    jw_int(w, name, v);
  } else {
    jw_raw(w, name, "null");
  }
}

static void jw_text_or_null(Jw *w, const char *name, const char *z) {
  jw_key(w, name);
  if (z) {
    jw_text(w, z);
  } else {
    jw_str(w, "null");
  }
}

/* A cJSON item printed as cJSON prints it; consumes it. */
static int jw_cjson(Jw *w, const char *name, cJSON *v) {
  char *p = v ? cJSON_PrintUnformatted(v) : 0;
  cJSON_Delete(v);
  if (!p) return 0;
  jw_raw(w, name, p);
  cJSON_free(p);
  return !w->oom;
}

/* The members of entitlement()'s object for the feature resolved in a. */
static int describe(Ask *a, Jw *w) {
  char *reason = 0, retry[32] = "";
  int access = 0, ok = 1;
  if (allows(a, 0, &access, &reason) == SQLITE_OK && !access) {
    reason = ent_with_upgrade(reason, a->c, &a->s, a->f.feature, a->now, 1);
  }
  if (a->e.code != SQLITE_OK) return a->e.code;
  jw_text_or_null(w, "feature", a->f.feature);
  jw_text_or_null(w, "type", ent_type_name(a->f.type));
  jw_text_or_null(w, "plan", a->s.plan);
  jw_raw(w, "has_access", access ? "true" : "false");
  if (a->f.type == T_METERED) {
    EntView v;
    EntCreditRead cr;
    int live = a->s.plan && a->f.enabled, priced = 0;
    if (live)
      ok = (ent_usage_load(a->c, &a->s, &a->f, a->now, &a->u, &a->e) == SQLITE_OK &&
            ent_grants_load(a->c, &a->s, &a->f, a->now, &a->u, &a->e) == SQLITE_OK);
    ent_view(&a->s, &a->f, &a->u, &v);
    if (ok && live && a->f.pricing) { /* remaining: also what its currency affords */
      ok = ent_credit_read(a->c, &a->s, &a->f, a->now, 0, &cr, &a->e) == SQLITE_OK;
      if (ok && cr.limited && (!v.has_quota || cr.afford < v.remaining)) v.remaining = cr.afford;
      priced = ok && cr.limited;
    }
    jw_opt_int(w, "quota", v.has_quota, v.quota);
    jw_int(w, "used", a->u.used);
    jw_int(w, "held", a->u.held);
    jw_int(w, "granted", v.granted);
    jw_opt_int(w, "remaining", v.has_quota || !live || priced, v.remaining);
    jw_int(w, "overage", v.overage);
    if (v.has_cost) {
      ok = ok && jw_cjson(w, "cost", cJSON_CreateNumber(v.cost));
    } else {
      jw_raw(w, "cost", "null");
    }
    jw_text_or_null(w, "period", live ? ent_period_name(a->f.period) : 0);
    jw_text_or_null(w, "period_start", live && a->f.period != P_LIFETIME ? a->u.start_text : 0);
    jw_text_or_null(w, "period_end", live && a->f.period != P_LIFETIME ? a->u.end_text : 0);
    jw_raw(w, "soft", a->f.soft ? "true" : "false");
    jw_raw(w, "value", "null");
  } else if (a->f.type == T_RATE) {
    int live = a->s.plan && a->f.enabled, limited = live && !a->f.unlimited;
    if (limited && a->r.new_tat == 0) ok = rate_now(a, 1) == SQLITE_OK;
    jw_opt_int(w, "quota", limited || !live, limited ? a->f.burst : 0);
    jw_int(w, "used", limited ? a->f.burst - a->r.remaining : 0);
    jw_raw(w, "held", "null");
    jw_int(w, "granted", 0);
    jw_opt_int(w, "remaining", limited || !live, limited ? a->r.remaining : 0);
    jw_int(w, "overage", 0);
    jw_raw(w, "cost", "null");
    jw_text_or_null(w, "period", live ? a->f.rate_period : 0);
    jw_raw(w, "period_start", "null");
    jw_raw(w, "period_end", "null");
    jw_raw(w, "soft", "false");
    jw_raw(w, "value", "null");
    if (live && !access && a->r.retry_us >= 0) ent_fmt_seconds(a->r.retry_us, retry);
  } else {
    static const char *const NULLS[] = {"quota",        "used",       "held", "granted",
                                        "remaining",    "overage",    "cost", "period",
                                        "period_start", "period_end", "soft"};
    size_t i;
    for (i = 0; i < sizeof(NULLS) / sizeof(NULLS[0]); i++) jw_raw(w, NULLS[i], "null");
    if (a->f.type == T_BOOLEAN) {
      jw_raw(w, "value", a->s.plan && a->f.enabled ? "true" : "false");
    } else {
      ok = jw_cjson(w, "value",
                    cJSON_Parse(a->s.plan && a->f.enabled && a->f.value ? a->f.value : "null"));
    }
  }
  jw_text_or_null(w, "reason", reason);
  jw_raw(w, "retry_after", retry[0] ? retry : "null");
  if (a->f.pricing) { /* priced in a currency: which, and at what rate (ent_credit_read) */
    jw_text_or_null(w, "currency", a->c->cfg->feats[a->f.pricing->currency].name);
    if (a->f.pricing->by) {
      jw_text_or_null(w, "rate_by", a->f.pricing->by);
    } else {
      char rate[32];
      ent_money_fmt(a->f.pricing->rate, rate);
      jw_text_or_null(w, "rate", rate);
    }
    jw_int(w, "per", a->f.pricing->per);
  } else if (a->f.is_currency) {
    jw_int(w, "decimals", a->f.decimals);
  }
  sqlite3_free(reason);
  if (!ok || w->oom) {
    return a->e.code ? a->e.code : ent_err(&a->e, SQLITE_NOMEM, "out of memory");
  }
  return SQLITE_OK;
}

/* Hands the string to SQLite (a copy), or reports why there is none. */
static void jw_result(sqlite3_context *ctx, Jw *w) {
  if (w->oom) {
    sqlite3_result_error_nomem(ctx);
  } else {
    sqlite3_result_text64(ctx, w->p, w->n, SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  jw_free(w);
}

static void fn_entitlement(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Ask a;
  Jw w;
  if (!ent_argc(ctx, argc, 2, 2, "entitlement(subject, feature)")) return;
  jw_init(&w);
  if (ask_open(&a, ctx, argv, "entitlement") == SQLITE_OK) {
    jw_put(&w, "{", 1);
    if (describe(&a, &w) == SQLITE_OK) {
      jw_put(&w, "}", 1);
      jw_result(ctx, &w);
    }
  }
  jw_free(&w);
  ask_close(&a, ctx);
}

static void fn_entitlements(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Ask a;
  const char *subject;
  Jw w;
  int fi, rc;
  if (!ent_argc(ctx, argc, 1, 1, "entitlements(subject)")) return;
  jw_init(&w);
  memset(&a, 0, sizeof(a));
  a.c = sqlite3_user_data(ctx);
  a.now = ent_now(a.c);
  a.units = 1; /* has_access asks for one unit, as entitlement() does */
  rc = ent_arg_subject(argv[0], "entitlements", &subject, &a.e);
  if (rc == SQLITE_OK) a.pinned = ent_read_begin(a.c);
  if (rc == SQLITE_OK) rc = ent_resolve_subject(a.c, subject, 0, a.now, &a.s, &a.e);
  jw_put(&w, "{", 1);
  /* every feature the plan (or a plan it inherits) names, in feature order */
  for (fi = 0; rc == SQLITE_OK && a.s.plan_idx >= 0 && fi < a.c->cfg->nfeat; fi++) {
    const char *name = a.c->cfg->feats[fi].name;
    /* the plan's features, and any an override of the subject turns on */
    if (!a.c->cfg->plans[a.s.plan_idx].ents[fi] && !a.s.ovr_subject) continue;
    memset(&a.u, 0, sizeof(a.u));
    rc = ent_resolve_feature(a.c, &a.s, name, &a.f, &a.e);
    if (rc == SQLITE_OK && !a.f.found) continue;
    if (rc != SQLITE_OK) break;
    if (w.members++) jw_put(&w, ",", 1);
    jw_text(&w, name);
    jw_put(&w, ":{", 2);
    w.members = 0;
    rc = describe(&a, &w);
    jw_put(&w, "}", 1);
    w.members = 1;
  }
  if (rc == SQLITE_OK) {
    jw_put(&w, "}", 1);
    jw_result(ctx, &w);
  }
  jw_free(&w);
  ask_close(&a, ctx);
}

int ent_register_checks(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {
      {"plan_allows", fn_plan_allows},   {"quota_remaining", fn_quota_remaining},
      {"plan_value", fn_plan_value},     {"entitlement", fn_entitlement},
      {"entitlements", fn_entitlements}, {"plan_upgrade_for", fn_upgrade_for},
  };
  return ent_register_fns(db, c, fns, (int)(sizeof(fns) / sizeof(fns[0])));
}
