/*
** usage.c — a metered feature's usage this period (its counter, the live
** holds on it, the active grants) and the one decision made from it:
** ent_denial() for every check and write, ent_view() for every read
** (remaining, overage, percent, cost, status). resolve.c says who the
** subject is and what the feature's entitlement is; this file, how much of
** it is left.
*/
#include <string.h>

#include "ent.h"

/* A counter must hold an integer >= 0 (NULL: no row yet): read as 0, text
** or a negative number would grant the quota again. */
int ent_counter_ok(sqlite3_stmt *st, int col, int64_t *used) {
  int t = sqlite3_column_type(st, col);
  if (t == SQLITE_NULL) {
    *used = 0;
    return 1;
  }
  *used = sqlite3_column_int64(st, col);
  return t == SQLITE_INTEGER && *used >= 0;
}

int ent_bad_counter(EntErr *e, const char *subject, const char *feature) {
  return ent_err(e, SQLITE_ERROR,
                 "ent_counters.used of subject '%s' and feature '%s' is not a whole number >= "
                 "0: the table was changed by hand; fix the row (SELECT entitlements_check() "
                 "shows what the ledger says)",
                 subject, feature ? feature : "?");
}

void ent_usage_bounds(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                      EntUsage *u) {
  memset(u, 0, sizeof(*u));
  if (f->period != P_LIFETIME) {
    ent_period_bounds_text(c, f->period, s->has_anchor, s->anchor_ms, now, &u->start, &u->end,
                           u->start_text, u->end_text);
  } else {
    ent_period_bounds(f->period, s->has_anchor, s->anchor_ms, now, &u->start, &u->end);
  }
}

int ent_usage_counter(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                      EntUsage *u, EntErr *e) {
  sqlite3_stmt *st;
  int rc;
  ent_usage_bounds(c, s, f, now, u);
  if (s->spec_bound && !f->pool && s->spec_period == f->period &&
      strcmp(s->spec_start, u->start_text) == 0) {
    u->used = s->spec_used; /* fetched with the subject, under the same key */
    u->from_grants = s->spec_from_grants;
    u->has_grants = s->spec_has_grants;
    u->held_stored = s->spec_held;
    return SQLITE_OK;
  }
  {
    EntCounterMemo v;
    if (ent_memo_counter(c, ent_counter_subject(s, f), f->feature, ent_period_name(f->period),
                         u->start_text, &v)) {
      u->used = v.used;
      u->from_grants = v.from_grants;
      u->has_grants = v.has_grants;
      u->held_stored = v.held;
      return SQLITE_OK;
    }
  }
  st = ent_stmt(c, ST_COUNTER_GET, e);
  if (!st) return e->code;
  sqlite3_bind_text(st, 1, ent_counter_subject(s, f), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, ent_period_name(f->period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, u->start_text, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    int ok = ent_counter_ok(st, 0, &u->used);
    EntCounterMemo v;
    v.found = sqlite3_column_type(st, 0) != SQLITE_NULL;
    u->from_grants = sqlite3_column_int64(st, 1);
    u->has_grants = sqlite3_column_int(st, 2);
    u->held_stored = sqlite3_column_int64(st, 3);
    sqlite3_reset(st);
    if (!ok) return ent_bad_counter(e, s->subject, f->feature);
    v.used = u->used;
    v.from_grants = u->from_grants;
    v.has_grants = u->has_grants;
    v.held = u->held_stored;
    ent_memo_put_counter(c, ent_counter_subject(s, f), f->feature, ent_period_name(f->period),
                         u->start_text, 1, &v);
    return SQLITE_OK;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(e, c->db, rc, "reading ent_counters");
  return SQLITE_OK;
}

/* The counter of the feature's current period, with the live holds' units
** (hold.c) in u->held, and the spend cap where one applies (spend.c). */
int ent_usage_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, EntUsage *u,
                   EntErr *e) {
  if (ent_usage_counter(c, s, f, now, u, e) != SQLITE_OK) return e->code;
  if (ent_holds_live(c, ent_counter_subject(s, f), f->feature, ent_period_name(f->period), now, u,
                     e) != SQLITE_OK) {
    return e->code;
  }
  return ent_spend_load(c, s, f, now, u, e);
}

/* The plan's quota not yet used (holds aside: they take grants' units only
** once settled). */
int64_t ent_plan_left(const EntFeature *f, const EntUsage *u) {
  int64_t plan_used = u->used - u->from_grants;
  return plan_used < f->quota ? f->quota - plan_used : 0;
}

/* What the plan's quota and the active grants still cover: the one number
** that remaining (every read) and a hard limit's decision (every write)
** come from, so they cannot disagree. */
int64_t ent_available(const EntFeature *f, const EntUsage *u) {
  int64_t left = ent_plan_left(f, u);
  left = left > INT64_MAX - u->grants_left ? INT64_MAX : left + u->grants_left;
  /* live holds take their units from what is left, before any new call */
  return left > u->held ? left - u->held : 0;
}

/* Of `amount` more units, how many grants cover: rollover grants first,
** before the plan's quota; then other grants for what the quota does not
** cover. */
int64_t ent_grant_part(const EntFeature *f, const EntUsage *u, int64_t amount) {
  int64_t roll = amount < u->rollover_left ? amount : u->rollover_left;
  int64_t rest = amount - roll, left = ent_plan_left(f, u);
  int64_t need = rest > left ? rest - left : 0, others = u->grants_left - u->rollover_left;
  return roll + (need < others ? need : others);
}

/* Active grants' balance for the feature (grants of a pooled feature are the
** pool owner's), rollover grants' apart; those a write is first to need
** are made now (rollover.c). */
int ent_grants_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, EntUsage *u,
                    EntErr *e) {
  sqlite3_stmt *st;
  char at[32];
  int rc;
  if (u->grants_loaded) return SQLITE_OK;
  u->grants_left = u->rollover_left = 0;
  if (f->rollover_after && ent_rollover_load(c, s, f, now, u, e) != SQLITE_OK) return e->code;
  if (!u->has_grants) { /* the common case: nothing to read */
    u->grants_loaded = 1;
    return SQLITE_OK;
  }
  if (!(st = ent_stmt(c, ST_GRANTS_ACTIVE, e))) return e->code;
  ent_fmt_time(now, 0, at);
  sqlite3_bind_text(st, 1, ent_counter_subject(s, f), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t r = sqlite3_column_int64(st, 1);
    if (u->grants_left > INT64_MAX - r) r = INT64_MAX - u->grants_left;
    u->grants_left += r;
    if (sqlite3_column_int(st, 2)) u->rollover_left += r;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(e, c->db, rc, "reading ent_grants");
  u->grants_loaded = 1;
  return SQLITE_OK;
}

/* After burning n units (rollover grants' first) from what u counts. */
void ent_grants_spent(EntUsage *u, int64_t n) {
  u->rollover_left -= n < u->rollover_left ? n : u->rollover_left;
  u->grants_left -= n;
}

/* Burns n units from active grants in burn-down order. */
int ent_grants_burn(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, int64_t n,
                    EntErr *e) {
  sqlite3_stmt *st, *upd;
  char at[32];
  int rc, count = 0, i;
  int64_t ids[64], takes[64];
  if (!(st = ent_stmt(c, ST_GRANTS_ACTIVE, e))) return e->code;
  ent_fmt_time(now, 0, at);
  /* collect first: the update runs another statement on the same rows */
  while (n > 0) {
    sqlite3_bind_text(st, 1, ent_counter_subject(s, f), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
    count = 0;
    rc = SQLITE_ROW;
    while (count < 64 && n > 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      int64_t r = sqlite3_column_int64(st, 1), take = r < n ? r : n;
      ids[count] = sqlite3_column_int64(st, 0);
      takes[count++] = take;
      n -= take;
    }
    sqlite3_reset(st);
    /* a failed read is an error, not the end of the grants */
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      return ent_err_db(e, c->db, rc, "reading ent_grants");
    if (count == 0) break;
    for (i = 0; i < count; i++) {
      if (!(upd = ent_stmt(c, ST_GRANT_BURN, e))) return e->code;
      sqlite3_bind_int64(upd, 1, ids[i]);
      sqlite3_bind_int64(upd, 2, takes[i]);
      if (ent_step_done(c, upd, e, "burning a grant") != SQLITE_OK) return e->code;
    }
  }
  return SQLITE_OK;
}

/* Whether `amount` more units are denied, and why (the reason has no
** "entitlements: " prefix; callers add it or show it in entitlement()).
** Grants count once ent_grants_load has run; callers load them when the
** plan's quota alone does not cover the amount. */
static int64_t sat_add(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int ent_denial(const EntSubject *s, const EntFeature *f, const EntUsage *u, int64_t amount,
               char **reason) {
  int64_t total;
  char held[48];
  *reason = 0;
  if (s->bypass) return 0;
  if (!s->plan) {
    *reason = sqlite3_mprintf(
        "feature '%s' is not available to subject '%s': it has no plan and "
        "there is no default plan",
        f->feature, s->subject);
    return 1;
  }
  if (!f->enabled) {
    *reason = sqlite3_mprintf("feature '%s' is not in plan '%s' for subject '%s'", f->feature,
                              s->plan, s->subject);
    return 1;
  }
  /* a check of 0 units asks for nothing: allowed even past the quota */
  if (f->type != T_METERED || f->unlimited || amount == 0) return 0;
  if (f->soft) {
    /* soft: over the quota and grants is overage, up to the cap */
    int64_t plan_part = u->used - u->from_grants;
    int64_t want = amount > INT64_MAX - u->held ? INT64_MAX : amount + u->held;
    /* the live holds and this call together, less what grants cover of them */
    int64_t add = want - ent_grant_part(f, u, want);
    if (!f->has_cap || (add <= f->cap && plan_part <= f->cap - add)) {
      /* within the cap in units; the spend cap bounds what the overage costs */
      int64_t own_now, own_held, own_after, add_held;
      char spent[32], cap[32], more[32], held_cost[80] = "";
      if (!u->spend_capped) return 0;
      add_held = u->held - ent_grant_part(f, u, u->held);
      own_now = ent_spend_cost(plan_part - f->quota, f->price_micros);
      own_held = ent_spend_cost(sat_add(plan_part, add_held) - f->quota, f->price_micros);
      own_after = ent_spend_cost(
          add > INT64_MAX - plan_part ? INT64_MAX : plan_part + add - f->quota, f->price_micros);
      if (own_after <= own_held || sat_add(u->spend_others, own_after) <= u->spend_cap) return 0;
      ent_money_fmt(sat_add(u->spend_others, own_now), spent);
      ent_money_fmt(u->spend_cap, cap);
      ent_money_fmt(own_after - own_held, more);
      if (own_held > own_now) {
        char h[32];
        ent_money_fmt(own_held - own_now, h);
        sqlite3_snprintf(sizeof(held_cost), held_cost, " (and %s held)", h);
      }
      *reason = sqlite3_mprintf(
          "spend cap reached: '%s' for subject '%s' on plan '%s' would cost %s more past its "
          "quota, and usage past quotas has cost %s%s of the %s cap this period; raise "
          "spend_cap or wait for the period to reset",
          f->feature, s->subject, s->plan, more, spent, held_cost, cap);
      return 1;
    }
    sqlite3_snprintf(sizeof(held), held, " and %lld held", (long long)u->held);
    *reason = sqlite3_mprintf(
        "usage cap reached: '%s' for subject '%s' on plan '%s': %lld used "
        "%s%s of a cap of %lld, %lld requested%s%s",
        f->feature, s->subject, s->plan, (long long)plan_part, ent_period_words(f->period),
        u->held ? held : "", (long long)f->cap, (long long)amount,
        f->period == P_LIFETIME ? "" : "; resets ", u->end_text);
    return 1;
  }
  /* a grant covers new use from its start, even after overage that
  ** record_usage made (that stays overage) */
  if (amount <= ent_available(f, u)) return 0;
  total = f->quota + u->from_grants;
  total = total > INT64_MAX - u->grants_left ? INT64_MAX : total + u->grants_left;
  sqlite3_snprintf(sizeof(held), held, " and %lld held", (long long)u->held);
  *reason = sqlite3_mprintf(
      "quota exceeded: '%s' for subject '%s' on plan '%s': %lld of %lld "
      "used %s%s, %lld requested%s%s",
      f->feature, s->subject, s->plan, (long long)u->used, (long long)total,
      ent_period_words(f->period), u->held ? held : "", (long long)amount,
      f->period == P_LIFETIME ? "" : "; resets ", u->end_text);
  return 1;
}

/* remaining = what the quota still covers + active grants; overage = plan
** usage past the quota; percent = plan usage of the quota. */
void ent_view(const EntSubject *s, const EntFeature *f, const EntUsage *u, EntView *v) {
  int64_t plan_used = u->used - u->from_grants;
  memset(v, 0, sizeof(*v));
  if (!s->plan || !f->enabled) {
    v->status = "disabled";
    return;
  }
  if (f->unlimited) {
    v->status = "unlimited";
    return;
  }
  v->has_quota = 1;
  v->quota = f->quota;
  v->granted = u->grants_left;
  v->remaining = ent_available(f, u);
  v->overage = plan_used > v->quota ? plan_used - v->quota : 0;
  if (v->quota > 0) {
    v->has_percent = 1;
    v->percent = 100.0 * (double)plan_used / (double)v->quota;
  }
  if (f->has_price) {
    v->has_cost = 1;
    v->cost = (double)v->overage * (double)f->price_micros / 1e6;
  }
  if (v->overage > 0) {
    v->status = "over";
  } else if (v->remaining == 0) {
    v->status = "exhausted";
  } else if ((double)(plan_used + u->held) * 5 >= (double)v->quota * 4) {
    v->status = "warning";
  } else {
    v->status = "ok";
  }
}
