/*
** resolve.c — which entitlements apply (SPEC §5): a subject's effective plan
** at a time (default plan, parent chains, trial and grace ends, canceled and
** paused), and a feature's entitlement under that plan after inheritance
** and overrides. How much of it is left, and the decision, are in usage.c.
**
** Also the argument checks shared by every function that takes a subject,
** a feature or an amount.
*/
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "ent.h"

static const char *const TYPE_NAMES[] = {"boolean", "config", "metered", "rate"};

const char *ent_type_name(EntType t) {
  return TYPE_NAMES[t];
}

int ent_type_parse(const char *z, EntType *out) {
  int i;
  for (i = 0; i < 4; i++) {
    if (z && strcmp(z, TYPE_NAMES[i]) == 0) {
      *out = (EntType)i;
      return 1;
    }
  }
  return 0;
}

/* A value as a short quoted excerpt for an error message. */
static char *shown(sqlite3_value *v) {
  const char *z = (const char *)sqlite3_value_text(v);
  int n = z ? (int)strlen(z) : 0;
  if (n > 40) return sqlite3_mprintf("'%.40s...'", z);
  return sqlite3_mprintf("'%s'", z ? z : "");
}

int ent_arg_subject(sqlite3_value *v, const char *fn, const char **out, EntErr *e) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_TEXT:
    case SQLITE_INTEGER:
      *out = (const char *)sqlite3_value_text(v);
      if (!*out) return ent_err(e, SQLITE_NOMEM, "out of memory");
      if (!**out) {
        return ent_err(e, SQLITE_ERROR,
                       "%s: subject is empty text; pass the user, team or API key id", fn);
      }
      return SQLITE_OK;
    case SQLITE_NULL:
      return ent_err(e, SQLITE_ERROR,
                     "%s: subject is NULL; pass the user, team or API key id as text or an "
                     "integer",
                     fn);
    case SQLITE_FLOAT:
      return ent_err(e, SQLITE_ERROR,
                     "%s: subject must be text or an integer, not the real number %!.15g", fn,
                     sqlite3_value_double(v));
    default:
      return ent_err(e, SQLITE_ERROR,
                     "%s: subject must be text or an integer, not a blob; CAST it AS TEXT", fn);
  }
}

int ent_arg_feature(sqlite3_value *v, const char *fn, const char **out, EntErr *e) {
  if (sqlite3_value_type(v) != SQLITE_TEXT) {
    return ent_err(e, SQLITE_ERROR,
                   "%s: feature must be a feature name as text, not %s; see SELECT feature FROM "
                   "ent_features",
                   fn,
                   sqlite3_value_type(v) == SQLITE_NULL   ? "NULL"
                   : sqlite3_value_type(v) == SQLITE_BLOB ? "a blob"
                                                          : "a number");
  }
  *out = (const char *)sqlite3_value_text(v);
  if (!*out) return ent_err(e, SQLITE_NOMEM, "out of memory");
  return SQLITE_OK;
}

int ent_arg_amount(sqlite3_value *v, const char *fn, const char *what, int64_t *out, EntErr *e) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
      *out = sqlite3_value_int64(v);
      if (*out < 0) {
        return ent_err(
            e, SQLITE_ERROR, "%s: %s must be >= 0, got %lld%s", fn, what, (long long)*out,
            strcmp(what, "amount") == 0 ? "; use refund_quota() to give units back" : "");
      }
      return SQLITE_OK;
    case SQLITE_FLOAT: {
      /* Whole-valued reals are accepted: some bindings send every number as one. */
      double d = sqlite3_value_double(v);
      if (!(d >= 0) || d >= 9223372036854775808.0 || d != floor(d)) {
        return ent_err(e, SQLITE_ERROR, "%s: %s must be a whole number from 0 to %lld, got %!.15g",
                       fn, what, (long long)INT64_MAX, d);
      }
      *out = (int64_t)d;
      return SQLITE_OK;
    }
    case SQLITE_NULL:
      return ent_err(e, SQLITE_ERROR, "%s: %s is NULL; pass a whole number >= 0", fn, what);
    case SQLITE_TEXT: {
      char *z = shown(v);
      int rc =
          ent_err(e, SQLITE_ERROR, "%s: %s must be an integer, got text %s; bind it as a number",
                  fn, what, z ? z : "");
      sqlite3_free(z);
      return rc;
    }
    default:
      return ent_err(e, SQLITE_ERROR, "%s: %s must be an integer, not a blob", fn, what);
  }
}

void ent_subject_clear(EntSubject *s) {
  memset(s, 0, sizeof(*s));
}

void ent_feature_clear(EntFeature *f) {
  memset(f, 0, sizeof(*f));
}

/* A time column of ent_subjects. */
static int col_time(EntConn *c, sqlite3_stmt *st, int i, const char *subject, const char *col,
                    int *has, int64_t *out, EntErr *e) {
  char *what;
  int rc;
  *has = sqlite3_column_type(st, i) != SQLITE_NULL;
  if (!*has) return SQLITE_OK;
  what = sqlite3_mprintf("ent_subjects.%s of subject '%s'", col, subject);
  if (!what) return ent_err(e, SQLITE_NOMEM, "out of memory");
  rc = ent_time_value(c, sqlite3_column_value(st, i), what, out, e);
  sqlite3_free(what);
  return rc;
}

/* Column numbers of ST_SUBJECT. */
enum {
  SC_GEN,
  SC_PLAN,
  SC_STATUS,
  SC_TRIAL,
  SC_GRACE,
  SC_SEATS,
  SC_PARENT,
  SC_ANCHOR,
  SC_BYPASS,
  SC_USED,
  SC_FROM_GRANTS,
  SC_HAS_GRANTS,
  SC_HAS_OVERRIDES,
  SC_FOUND,
  SC_ANY_GRANTS,
  SC_HELD
};

/* The counter key to fetch with the subject: the feature's usual period,
** unanchored, at now, from the cached configuration (which may be stale: the
** guess is used only once checked against the real key). */
static int guess_key(EntConn *c, const char *feature, int64_t now, EntSubject *s) {
  int fi = feature && c->cfg ? ent_config_feature(c->cfg, feature) : -1;
  int64_t start, end;
  s->spec_bound = 0;
  if (fi < 0 || c->cfg->feats[fi].spec_period < 0) return 0;
  s->spec_bound = 1;
  s->spec_period = (EntPeriod)c->cfg->feats[fi].spec_period;
  s->spec_start[0] = 0;
  if (s->spec_period != P_LIFETIME) {
    ent_period_bounds(s->spec_period, 0, 0, now, &start, &end);
    ent_fmt_time(start, 0, s->spec_start);
  }
  return 1;
}

/* A time column into the row; a value that does not convert sets its bit
** in row->bad (the error is made again, from the statement, if needed). */
static void row_time(EntConn *c, sqlite3_stmt *st, int i, int bit, int *has, int64_t *out,
                     EntRow *row) {
  EntErr ignored = {0};
  *has = sqlite3_column_type(st, i) != SQLITE_NULL;
  if (*has && ent_time_value(c, sqlite3_column_value(st, i), "", out, &ignored) != SQLITE_OK) {
    row->bad |= bit;
    *has = 0;
  }
  ent_err_clear(&ignored);
}

/* The row of ST_SUBJECT; its strings live until the statement is reset. */
static void row_read(EntConn *c, sqlite3_stmt *st, EntRow *row) {
  memset(row, 0, sizeof(*row));
  row->found = sqlite3_column_int(st, SC_FOUND);
  row->plan = (const char *)sqlite3_column_text(st, SC_PLAN);
  row->status = (const char *)sqlite3_column_text(st, SC_STATUS);
  row->parent = (const char *)sqlite3_column_text(st, SC_PARENT);
  row->seats = sqlite3_column_int64(st, SC_SEATS);
  row->bypass = sqlite3_column_int(st, SC_BYPASS);
  row->has_overrides = sqlite3_column_int(st, SC_HAS_OVERRIDES);
  row->has_grants = sqlite3_column_int(st, SC_ANY_GRANTS);
  row_time(c, st, SC_TRIAL, 1, &row->has_trial, &row->trial_ms, row);
  row_time(c, st, SC_GRACE, 2, &row->has_grace, &row->grace_ms, row);
  row_time(c, st, SC_ANCHOR, 4, &row->has_anchor, &row->anchor_ms, row);
}

/* The error for a time column that did not convert, made from the statement
** (rows with such values come only from SQL, never from the memo). */
static int row_time_error(EntConn *c, sqlite3_stmt *st, int i, const char *subject, const char *col,
                          EntErr *e) {
  int has;
  int64_t v;
  if (!st)
    return ent_err(e, SQLITE_ERROR, "ent_subjects.%s of subject '%s' is invalid", col, subject);
  return col_time(c, st, i, subject, col, &has, &v, e);
}

/* Decides, from the holder's row, whether its own plan applies now. */
static int status_keeps_plan(EntConn *c, const EntRow *row, sqlite3_stmt *st, const char *holder,
                             int64_t now, int *keep, EntErr *e) {
  const char *status = row->status;
  *keep = 0;
  if (!status || strcmp(status, "active") == 0) {
    *keep = 1;
  } else if (strcmp(status, "trialing") == 0 || strcmp(status, "past_due") == 0) {
    int trial = status[0] == 't';
    if (row->bad & (trial ? 1 : 2)) {
      return row_time_error(c, st, trial ? SC_TRIAL : SC_GRACE, holder,
                            trial ? "trial_ends_at" : "grace_ends_at", e);
    }
    if (trial) {
      *keep = !row->has_trial || now < row->trial_ms;
    } else {
      *keep = !row->has_grace || now < row->grace_ms;
    }
  } else if (strcmp(status, "canceled") != 0 && strcmp(status, "paused") != 0) {
    return ent_err(e, SQLITE_ERROR,
                   "ent_subjects.status of subject '%s' is '%s', not one of active, trialing, "
                   "past_due, canceled, paused; fix the row",
                   holder, status);
  }
  return SQLITE_OK;
}

/* Whose overrides apply: the subject's own, or the holder's (kept in the
** connection's scratch for the call). */
static int set_ovr_subject(EntConn *c, EntSubject *s, const char *subject, const char *holder) {
  if (!holder) {
    s->ovr_subject = subject;
    return SQLITE_OK;
  }
  sqlite3_free(c->holder_scratch);
  c->holder_scratch = sqlite3_mprintf("%s", holder);
  s->ovr_subject = c->holder_scratch;
  return s->ovr_subject ? SQLITE_OK : SQLITE_NOMEM;
}

/* The row of `who` from the memo, else from SQL (then *st is left on it,
** to be reset by the caller, and the row is remembered). At depth 0 the SQL
** also brings the configuration's generation and the guessed counter. */
static int subject_row(EntConn *c, const char *who, int depth, const char *subject,
                       const char *feature_hint, int64_t now, EntSubject *s, EntRow *row,
                       sqlite3_stmt **pst, EntErr *e) {
  int guess, step;
  sqlite3_stmt *st;
  *pst = 0;
  if (ent_memo_subject(c, who, row)) {
    if (depth == 0) s->spec_bound = 0;
    return SQLITE_OK;
  }
  guess = depth == 0 && guess_key(c, feature_hint, now, s);
  st = ent_stmt(c, guess ? ST_SUBJECT_COUNTER : ST_SUBJECT, e);
  if (!st) return e->code;
  sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
  if (guess) {
    sqlite3_bind_text(st, 2, feature_hint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ent_period_name(s->spec_period), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, s->spec_start, -1, SQLITE_STATIC);
  }
  step = sqlite3_step(st);
  if (step != SQLITE_ROW) {
    sqlite3_reset(st);
    return step == SQLITE_DONE
               ? ent_err(e, SQLITE_ERROR,
                         "ent_meta has no config_generation row: the entitlements tables are "
                         "damaged; run SELECT entitlements_init() to repair them")
               : ent_err_db(e, c->db, step, "reading ent_subjects");
  }
  *pst = st;
  if (depth == 0) {
    int rc;
    s->spec_used = sqlite3_column_int64(st, SC_USED); /* no counter row: 0 */
    s->spec_from_grants = s->spec_bound ? sqlite3_column_int64(st, SC_FROM_GRANTS) : 0;
    s->spec_has_grants = s->spec_bound && sqlite3_column_int(st, SC_HAS_GRANTS);
    s->spec_held = s->spec_bound ? sqlite3_column_int64(st, SC_HELD) : 0;
    if (s->spec_bound && !ent_counter_ok(st, SC_USED, &s->spec_used)) {
      return ent_bad_counter(e, subject, feature_hint);
    }
    if ((rc = ent_config_sync(c, sqlite3_column_int64(st, SC_GEN), e)) != SQLITE_OK) return rc;
    if (s->spec_bound) {
      EntCounterMemo v;
      v.found = sqlite3_column_type(st, SC_USED) != SQLITE_NULL;
      v.used = s->spec_used;
      v.from_grants = s->spec_from_grants;
      v.has_grants = s->spec_has_grants;
      v.held = s->spec_held;
      ent_memo_put_counter(c, who, feature_hint, ent_period_name(s->spec_period), s->spec_start, 1,
                           &v);
    }
  }
  row_read(c, st, row);
  ent_memo_put_subject(c, who, row);
  return SQLITE_OK;
}

/* SPEC §5. A subject with no plan of its own follows its parent chain; the
** subject whose row decides the plan (the "holder") also gives seats and the
** billing anchor. Statuses that lose the plan fall back to the default plan.
** Rows come from the memo when it can prove them current (memo.c). */
int ent_resolve_subject(EntConn *c, const char *subject, const char *feature_hint, int64_t now,
                        EntSubject *s, EntErr *e) {
  char *holder = 0, **seen = 0;
  int nseen = 0, rc = SQLITE_OK, use_default = 0, depth;
  memset(s, 0, sizeof(*s));
  s->seats = 1;
  s->plan_idx = -1;
  s->subject = subject;
  s->now = now;
  if ((rc = ent_memo_check(c, e)) != SQLITE_OK) {
    ent_memo_release(c);
    return rc;
  }
  for (depth = 0;; depth++) {
    const char *who = holder ? holder : subject;
    sqlite3_stmt *st = 0;
    EntRow row;
    int keep = 0;
    if ((rc = subject_row(c, who, depth, subject, feature_hint, now, s, &row, &st, e)) !=
        SQLITE_OK) {
      if (st) sqlite3_reset(st);
      break;
    }
    if (depth == 0 && !c->cfg && (rc = ent_config_current(c, e)) != SQLITE_OK) {
      if (st) sqlite3_reset(st);
      break;
    }
    if (row.bypass) s->bypass = 1;
    if (depth == 0) s->has_grants = row.has_grants;
    if (!row.plan && row.parent) {
      /* follow the parent; its row decides */
      char **grown;
      int i;
      for (i = 0; i < nseen; i++) {
        if (strcmp(seen[i], row.parent) == 0) break;
      }
      if (i < nseen || strcmp(row.parent, subject) == 0) {
        rc = ent_err(e, SQLITE_ERROR,
                     "subject '%s' has a parent cycle through '%s' in ent_subjects.parent; set "
                     "a plan or a NULL parent on one of them",
                     subject, row.parent);
        if (st) sqlite3_reset(st);
        break;
      }
      grown = sqlite3_realloc64(seen, sizeof(char *) * (nseen + 1));
      if (!grown) {
        rc = ent_err(e, SQLITE_NOMEM, "out of memory");
        if (st) sqlite3_reset(st);
        break;
      }
      seen = grown;
      if (holder) seen[nseen++] = holder;
      holder = sqlite3_mprintf("%s", row.parent);
      if (st) sqlite3_reset(st);
      if (!holder) {
        rc = ent_err(e, SQLITE_NOMEM, "out of memory");
        break;
      }
      continue;
    }
    if (!row.plan) {
      /* no row (or a row with neither plan nor parent): the default plan is
      ** this subject's own plan, so its overrides apply to it */
      if (row.has_overrides && set_ovr_subject(c, s, subject, holder) != SQLITE_OK) {
        rc = ent_err(e, SQLITE_NOMEM, "out of memory");
      }
      if (st) sqlite3_reset(st);
      use_default = 1;
      break;
    }
    /* the holder has its own plan: its status decides whether it applies */
    s->seats = row.seats;
    if (row.bad & 4) {
      rc = row_time_error(c, st, SC_ANCHOR, who, "billing_anchor", e);
    } else {
      s->has_anchor = row.has_anchor;
      s->anchor_ms = row.anchor_ms;
    }
    if (rc == SQLITE_OK) rc = status_keeps_plan(c, &row, st, who, now, &keep, e);
    if (rc == SQLITE_OK && keep && row.has_overrides) {
      /* the holder's overrides apply while its own plan does */
      if (set_ovr_subject(c, s, subject, holder) != SQLITE_OK) {
        rc = ent_err(e, SQLITE_NOMEM, "out of memory");
      }
    }
    if (rc == SQLITE_OK && keep) {
      s->plan_idx = ent_config_plan(c->cfg, row.plan);
      if (s->plan_idx < 0) {
        rc = ent_err(e, SQLITE_ERROR,
                     "subject '%s' is on plan '%s', which is not in ent_plans; move it with "
                     "subject_set_plan() or load that plan again",
                     subject, row.plan);
      }
    }
    use_default = !keep;
    if (st) sqlite3_reset(st);
    break;
  }
  if (rc == SQLITE_OK && use_default) s->plan_idx = c->cfg->default_plan;
  if (rc == SQLITE_OK && s->plan_idx >= 0) s->plan = c->cfg->plans[s->plan_idx].name;
  while (nseen > 0) sqlite3_free(seen[--nseen]);
  sqlite3_free(seen);
  sqlite3_free(holder);
  ent_memo_release(c);
  if (rc != SQLITE_OK) ent_subject_clear(s);
  return rc;
}

const char *ent_counter_subject(const EntSubject *s, const EntFeature *f) {
  return f->pool && s->pool_owner ? s->pool_owner : s->subject;
}

/* The top of the subject's parent chain: a pool's owner. Kept in the
** connection's scratch (one subject per call needs it). */
static int pool_owner(EntConn *c, EntSubject *s, EntErr *e) {
  char *cur = sqlite3_mprintf("%s", s->subject);
  int depth, rc = SQLITE_OK;
  for (depth = 0; cur && depth <= 10000; depth++) {
    sqlite3_stmt *st = ent_stmt(c, ST_PARENT, e);
    const unsigned char *parent;
    char *next;
    if (!st) {
      sqlite3_free(cur);
      return e->code;
    }
    sqlite3_bind_text(st, 1, cur, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    parent = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : 0;
    if (!parent) {
      sqlite3_reset(st);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_free(cur);
        return ent_err_db(e, c->db, rc, "reading ent_subjects.parent");
      }
      sqlite3_free(c->pool_scratch);
      c->pool_scratch = cur;
      s->pool_owner = cur;
      return SQLITE_OK;
    }
    next = sqlite3_mprintf("%s", parent);
    sqlite3_reset(st);
    sqlite3_free(cur);
    cur = next;
  }
  sqlite3_free(cur);
  if (!cur && depth <= 10000) return ent_err(e, SQLITE_NOMEM, "out of memory");
  return ent_err(e, SQLITE_ERROR,
                 "subject '%s' has a parent cycle in ent_subjects.parent, so its pool has no "
                 "owner; set a NULL parent on one of them",
                 s->subject);
}

/* The subject's unexpired override for the feature, if any, replaces the
** plan's values it names (NULL columns keep the plan's; quota -1 is
** unlimited). Read only for subjects that have overrides. It runs after the
** plan's values are in f, so that what it names wins and what it leaves out
** keeps the plan's; a feature the plan leaves out starts enabled and
** unlimited. */
static int apply_override(EntConn *c, EntSubject *s, EntFeature *f, EntErr *e) {
  sqlite3_stmt *st = ent_stmt(c, ST_OVERRIDE, e);
  const char *bad = 0;
  char at[32];
  int rc;
  if (!st) return e->code;
  ent_fmt_time(s->now, 0, at);
  sqlite3_bind_text(st, 1, s->ovr_subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *period = (const char *)sqlite3_column_text(st, 2);
    if (!f->found) { /* the plan leaves it out: the override defines it */
      f->found = 1;
      f->enabled = 1;
      f->unlimited = 1;
      f->period = P_MONTH;
      f->alerts = c->cfg->def_alerts; /* the thresholds every entitlement has by default */
      f->nalerts = c->cfg->ndef_alerts;
      if (f->type == T_RATE) { /* a limit given below counts per minute unless a period says */
        f->rate_period = "minute";
        f->rate_seconds = 60;
      }
    }
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) f->enabled = sqlite3_column_int(st, 0) != 0;
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
      f->quota = sqlite3_column_int64(st, 1);
      f->unlimited = f->quota < 0;
      /* a rate feature the plan leaves out takes its burst from the limit, as a
      ** plan without "burst" does (limit 0: burst 1, and always denied) */
      if (f->type == T_RATE && !f->unlimited && f->burst < 1)
        f->burst = f->quota > 0 ? f->quota : 1;
    }
    if (period && f->type == T_RATE) {
      if (!ent_rate_period_named(period, &f->rate_period, &f->rate_seconds)) {
        bad = "period (a rate limit counts per minute, hour or day)";
      }
    } else if (period && !ent_period_parse(period, &f->period)) {
      bad = "period (minute ... lifetime)";
    }
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) f->soft = sqlite3_column_int(st, 3) != 0;
    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
      f->has_cap = 1;
      f->cap = sqlite3_column_int64(st, 4);
    }
    if (sqlite3_column_type(st, 5) != SQLITE_NULL) f->per_seat = sqlite3_column_int(st, 5) != 0;
    if (sqlite3_column_type(st, 6) != SQLITE_NULL && !bad) {
      cJSON_Delete(c->ovr_json);
      sqlite3_free(c->ovr_text);
      c->ovr_json = cJSON_ParseWithOpts((const char *)sqlite3_column_text(st, 6), 0, 1);
      c->ovr_text = sqlite3_mprintf("%s", sqlite3_column_text(st, 6));
      if (!c->ovr_json) bad = "value (JSON)";
      if (c->ovr_json && !c->ovr_text) rc = SQLITE_NOMEM;
      if (c->ovr_json && c->ovr_text) {
        /* both live in the connection's scratch until the next override */
        f->json = c->ovr_json;
        f->value = c->ovr_text;
      }
    }
    if (rc == SQLITE_ROW) rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  if (bad) {
    return ent_err(e, SQLITE_ERROR,
                   "ent_overrides of subject '%s' for '%s' has an invalid %s; fix the row",
                   s->ovr_subject, f->feature, bad);
  }
  if (rc == SQLITE_NOMEM) return ent_err(e, SQLITE_NOMEM, "out of memory");
  if (rc != SQLITE_DONE) return ent_err_db(e, c->db, rc, "reading ent_overrides");
  return SQLITE_OK;
}

/* burst x T must stay far from int64 overflow (rate.c adds it to times in
** microseconds): at most 2^60 us, about 36,000 years. */
int ent_rate_fits(int64_t burst, int64_t seconds, int64_t limit) {
  int64_t t;
  if (limit <= 0) return 1;
  if (seconds > (((int64_t)1) << 60) / 1000000) return 0;
  t = (seconds * 1000000 + limit - 1) / limit;
  return burst <= (((int64_t)1) << 60) / t;
}

int ent_resolve_feature(EntConn *c, EntSubject *s, const char *feature, EntFeature *f, EntErr *e) {
  const EntConfig *g = c->cfg;
  const EntPlanEnt *en = 0;
  int fi = g ? ent_config_feature(g, feature) : -1;
  memset(f, 0, sizeof(*f));
  f->period = P_MONTH;
  if (fi < 0) {
    return ent_err(e, SQLITE_ERROR,
                   "unknown feature '%s'; features come from entitlements_load() (see SELECT "
                   "feature FROM ent_features)",
                   feature);
  }
  f->feature = g->feats[fi].name;
  f->type = g->feats[fi].type;
  f->is_currency = g->feats[fi].decimals >= 0;
  f->decimals = f->is_currency ? g->feats[fi].decimals : 0;
  f->pricing = g->feats[fi].pricing;
  f->rollover_after = g->feats[fi].rollover_after;
  f->rollover_max = g->feats[fi].rollover_max;
  if (s->plan_idx < 0) return SQLITE_OK;
  if ((en = g->plans[s->plan_idx].ents[fi]) != 0) {
    f->found = 1;
    f->enabled = en->enabled;
    f->unlimited = en->unlimited;
    f->quota = en->quota;
    f->period = en->period;
    f->soft = en->soft;
    f->has_cap = en->has_cap;
    f->cap = en->cap;
    f->has_price = en->has_price;
    f->price_micros = en->price_micros;
    f->per_seat = en->per_seat;
    f->value = en->value;
    f->json = en->json;
    f->no_ledger = en->no_ledger;
    f->pool = en->pool;
    f->alerts = en->alerts;
    f->nalerts = en->nalerts;
    f->burst = en->burst;
    f->rate_seconds = en->rate_seconds;
    f->rate_period = en->rate_period;
  }
  /* an override can also turn on a feature the plan leaves out */
  if (s->ovr_subject && apply_override(c, s, f, e) != SQLITE_OK) return e->code;
  if (!f->found) return SQLITE_OK;
  if (f->pool && !s->pool_owner && pool_owner(c, s, e) != SQLITE_OK) return e->code;
  if (f->per_seat && !f->unlimited) {
    if (s->seats > 0 && f->quota > INT64_MAX / s->seats) {
      return ent_err(e, SQLITE_ERROR,
                     "the per-seat quota of '%s' (%lld) times %lld seats of subject '%s' "
                     "overflows a 64-bit integer; lower seats or the limit",
                     feature, (long long)f->quota, (long long)s->seats, s->subject);
    }
    f->quota *= s->seats;
  }
  if (f->type == T_RATE && f->enabled && !f->unlimited &&
      !ent_rate_fits(f->burst, f->rate_seconds, f->quota)) {
    return ent_err(e, SQLITE_ERROR,
                   "the rate limit of '%s' for subject '%s' (%lld per %lld s, burst %lld) spans "
                   "more than 36,000 years of tokens; lower the burst or the period",
                   feature, s->subject, (long long)f->quota, (long long)f->rate_seconds,
                   (long long)f->burst);
  }
  return SQLITE_OK;
}
