/*
** hold.c — holds: quota reserved for work that takes time (an LLM call, a
** render, an upload) and whose true cost is known only at its end.
**
**   quota_reserve(subject, feature, amount, ttl [, key [, metadata]]) -> hold id
**   quota_settle(hold, actual [, mode])   -> remaining, like consume_quota
**   quota_release(hold)                   -> the units given back
**   quota_extend(hold, ttl)               -> the new expiry
**
** A hold lives in ent_holds and, for a metered feature, in its counter's
** `held` column; every decision counts the live holds' units as used
** (EntUsage.held, resolve.c). It belongs to the counter of the period it
** was taken in and settles there, even after that period ended.
**
** Expiry needs no job: a read leaves an expired hold out (ent_holds_live():
** a counter whose held is 0, nearly all of them, needs nothing more; else
** the live holds are summed), and the next write to the same counter records
** the expiry (state 'expired', a ledger row of kind 'expire'). A rate limit's
** hold takes its tokens at once; settling or releasing gives back what was
** not used, and an expired one gives nothing back (the bucket refills with
** time anyway).
**
** The ledger explains `held` as it explains `used`: 'hold' adds, 'release'
** and 'expire' take away (entitlements_check() compares both).
*/
#include <string.h>

#include "call.h"

/* ---- what reads need: the live holds' units ----------------------------- */

int ent_holds_live(EntConn *c, const char *counter, const char *feature, const char *period,
                   int64_t now, EntUsage *u, EntErr *e) {
  sqlite3_stmt *st;
  int rc;
  u->held = u->held_stored;
  if (u->held_stored == 0) return SQLITE_OK; /* nearly every counter */
  if (!(st = ent_stmt(c, ST_HOLDS_LIVE, e))) return e->code;
  sqlite3_bind_text(st, 1, counter, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, u->start_text, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, now);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) u->held = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? SQLITE_OK : ent_err_db(e, c->db, rc, "reading ent_holds");
}

/* ---- one hold, as ent_holds keeps it ------------------------------------ */

typedef struct Hold {
  char id[40];
  char *subject, *feature, *counter, *period, *start, *end, *state, *mode, *meta, *key;
  char *draws, *rate, *dim; /* a hold on a priced feature holds its currency */
  char expires_at[32], ended_at[32], created_at[32];
  int64_t amount, expires_ms, actual, units;
  int has_actual;
} Hold;

static void hold_clear(Hold *h) {
  sqlite3_free(h->subject); /* one allocation holds all the strings */
  memset(h, 0, sizeof(*h));
}

static int arg_hold_id(sqlite3_value *v, const char *fn, const char **out, EntErr *e) {
  const char *z = sqlite3_value_type(v) == SQLITE_TEXT ? (const char *)sqlite3_value_text(v) : 0;
  if (!z || !z[0] || strlen(z) >= 40) {
    return ent_err(e, SQLITE_ERROR,
                   "%s: hold must be the text id that quota_reserve() returned, such as "
                   "'hold_3f2a...'; got %s",
                   fn,
                   sqlite3_value_type(v) == SQLITE_NULL   ? "NULL"
                   : sqlite3_value_type(v) != SQLITE_TEXT ? "a value that is not text"
                   : !z || !z[0]                          ? "empty text"
                                                          : "text too long to be a hold id");
  }
  *out = z;
  return SQLITE_OK;
}

static const char *col_or_empty(sqlite3_stmt *st, int i) {
  const char *z = (const char *)sqlite3_column_text(st, i);
  return z ? z : "";
}

/* Reads the hold; *found = 0 when there is no such hold. */
static int hold_read(EntConn *c, const char *id, Hold *h, int *found, EntErr *e) {
  sqlite3_stmt *st = ent_stmt(c, ST_HOLD_GET, e);
  int rc, i;
  memset(h, 0, sizeof(*h));
  *found = 0;
  if (!st) return e->code;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    /* subject, feature, counter, period, period_start, period_end, state, mode,
    ** metadata, key (NULL kept apart: period NULL is a rate limit's hold) */
    static const int TEXT_COLS[] = {0, 1, 2, 3, 4, 5, 7, 13, 15, 14, 16, 18, 19};
    char **dst[] = {&h->subject, &h->feature, &h->counter, &h->period, &h->start,
                    &h->end,     &h->state,   &h->mode,    &h->meta,   &h->key,
                    &h->draws,   &h->rate,    &h->dim};
    size_t need = 0, off = 0;
    char *buf;
    for (i = 0; i < 13; i++) need += strlen(col_or_empty(st, TEXT_COLS[i])) + 1;
    buf = sqlite3_malloc64(need);
    if (!buf) {
      sqlite3_reset(st);
      return ent_err(e, SQLITE_NOMEM, "out of memory");
    }
    for (i = 0; i < 13; i++) {
      size_t n = strlen(col_or_empty(st, TEXT_COLS[i])) + 1;
      memcpy(buf + off, col_or_empty(st, TEXT_COLS[i]), n);
      *dst[i] = sqlite3_column_type(st, TEXT_COLS[i]) == SQLITE_NULL && i != 0 ? 0 : buf + off;
      off += n;
    }
    h->subject = buf; /* first: hold_clear() frees it */
    h->amount = sqlite3_column_int64(st, 6);
    sqlite3_snprintf(sizeof(h->expires_at), h->expires_at, "%s", col_or_empty(st, 8));
    h->expires_ms = sqlite3_column_int64(st, 9);
    sqlite3_snprintf(sizeof(h->ended_at), h->ended_at, "%s", col_or_empty(st, 10));
    sqlite3_snprintf(sizeof(h->created_at), h->created_at, "%s", col_or_empty(st, 12));
    h->has_actual = sqlite3_column_type(st, 11) != SQLITE_NULL;
    h->actual = sqlite3_column_int64(st, 11);
    h->units = sqlite3_column_int64(st, 17);
    sqlite3_snprintf(sizeof(h->id), h->id, "%s", id);
    *found = 1;
    rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : ent_err_db(e, c->db, rc, "reading ent_holds");
}

/* ---- the counter a metered hold counts in ------------------------------- */

/* Points the call at the hold's counter (its subject, period and start),
** which may not be the current period's, nor the period the feature has now. */
static void at_hold_counter(Call *k, const Hold *h) {
  EntPeriod p = P_MONTH;
  ent_period_parse(h->period, &p);
  k->f.period = p;
  k->f.pool = strcmp(h->counter, h->subject) != 0;
  k->s.pool_owner = h->counter;
  sqlite3_snprintf(sizeof(k->u.start_text), k->u.start_text, "%s", h->start ? h->start : "");
  sqlite3_snprintf(sizeof(k->u.end_text), k->u.end_text, "%s", h->end ? h->end : "");
}

/* Reads the counter k points at (k->u's start_text), with its live holds. */
static int counter_read(Call *k) {
  sqlite3_stmt *st = ent_stmt(k->c, ST_COUNTER_GET, &k->e);
  const char *who = ent_counter_subject(&k->s, &k->f);
  int rc;
  if (!st) return k->e.code;
  sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    k->u.used = sqlite3_column_int64(st, 0);
    k->u.from_grants = sqlite3_column_int64(st, 1);
    k->u.has_grants = sqlite3_column_int(st, 2);
    k->u.held_stored = sqlite3_column_int64(st, 3);
    rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(&k->e, k->c->db, rc, "reading ent_counters");
  k->u.grants_loaded = 0;
  if (ent_holds_live(k->c, who, k->feature, ent_period_name(k->f.period), k->now, &k->u, &k->e) !=
      SQLITE_OK) {
    return k->e.code;
  }
  if (ent_spend_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK) return k->e.code;
  return ent_grants_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e);
}

/* Adds to the counter k points at: used (and the grants' share of it) and
** held. */
static int counter_change(Call *k, int64_t used, int64_t burn, int64_t held) {
  sqlite3_stmt *st = ent_stmt(k->c, ST_COUNTER_HOLD, &k->e);
  const char *who = ent_counter_subject(&k->s, &k->f);
  if (!st) return k->e.code;
  sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
  if (k->f.period == P_LIFETIME || !k->u.end_text[0]) {
    sqlite3_bind_null(st, 5);
  } else {
    sqlite3_bind_text(st, 5, k->u.end_text, -1, SQLITE_STATIC);
  }
  sqlite3_bind_int64(st, 6, used);
  sqlite3_bind_int64(st, 7, burn);
  sqlite3_bind_int64(st, 8, held);
  if (ent_step_done(k->c, st, &k->e, "updating the counter") != SQLITE_OK) return k->e.code;
  /* what this connection remembers of the counter is no longer right */
  ent_memo_put_counter(k->c, who, k->feature, ent_period_name(k->f.period), k->u.start_text, 0, 0);
  k->u.used += used;
  k->u.from_grants += burn;
  k->u.held_stored += held;
  return SQLITE_OK;
}

/* Ends a hold in ent_holds (only while it is held). */
static int hold_end(Call *k, const Hold *h, const char *state, const char *ended_at,
                    const int64_t *actual, const char *mode) {
  sqlite3_stmt *st = ent_stmt(k->c, ST_HOLD_END, &k->e);
  if (!st) return k->e.code;
  sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, ended_at, -1, SQLITE_STATIC);
  if (actual) {
    sqlite3_bind_int64(st, 4, *actual);
  } else {
    sqlite3_bind_null(st, 4);
  }
  if (mode) {
    sqlite3_bind_text(st, 5, mode, -1, SQLITE_STATIC);
  } else {
    sqlite3_bind_null(st, 5);
  }
  return ent_step_done(k->c, st, &k->e, "updating ent_holds");
}

/* A ledger row of this hold: kind by `kind`, at `at`, with the hold's
** subject, metadata and counter. */
static int hold_row(Call *k, const Hold *h, Kind kind, int64_t amount, const char *at) {
  Call x = *k;
  int rc;
  x.kind = kind;
  x.subject = h->subject;
  x.feature = h->feature;
  x.key = 0;
  x.meta = h->meta;
  x.hold = h->id;
  x.asked = amount;
  x.e.code = 0;
  x.e.msg = 0;
  /* never before the hold itself: its period's rows must all be at or after
  ** the period's start (usage_purge and entitlements_check rely on it), even
  ** when the clock was set back */
  if (!at && strcmp(x.at, h->created_at) < 0) at = h->created_at;
  if (at) sqlite3_snprintf(sizeof(x.at), x.at, "%s", at);
  rc = ent_call_ledger_row(&x, amount, 0);
  if (rc != SQLITE_OK) k->e = x.e;
  return rc;
}

/* Records the expiry of the counter's holds that expired by now (the
** caller's write reached their counter). */
int ent_holds_expire(Call *k) {
  sqlite3_stmt *st;
  const char *who = ent_counter_subject(&k->s, &k->f);
  char ids[16][40];
  int n, i, rc;
  if (k->u.held == k->u.held_stored) return SQLITE_OK; /* none expired */
  do { /* a batch at a time: the updates run other statements on these rows */
    if (!(st = ent_stmt(k->c, ST_HOLDS_DUE, &k->e))) return k->e.code;
    sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->feature, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, k->now);
    for (n = 0; n < 16 && (rc = sqlite3_step(st)) == SQLITE_ROW; n++) {
      sqlite3_snprintf(sizeof(ids[n]), ids[n], "%s", col_or_empty(st, 0));
    }
    if (n < 16 && rc != SQLITE_DONE) {
      sqlite3_reset(st);
      return ent_err_db(&k->e, k->c->db, rc, "reading ent_holds");
    }
    sqlite3_reset(st);
    for (i = 0; i < n; i++) {
      Hold h;
      int found;
      if (hold_read(k->c, ids[i], &h, &found, &k->e) != SQLITE_OK) return k->e.code;
      char at[32]; /* the ledger's times have whole seconds */
      if (found) ent_fmt_time(h.expires_ms, 0, at);
      rc = found ? hold_end(k, &h, "expired", h.expires_at, 0, 0) : SQLITE_OK;
      if (rc == SQLITE_OK && found) rc = counter_change(k, 0, 0, -h.amount);
      if (rc == SQLITE_OK && found) rc = hold_row(k, &h, K_EXPIRE, h.amount, at);
      hold_clear(&h);
      if (rc != SQLITE_OK) return rc;
    }
  } while (n == 16);
  return SQLITE_OK;
}

/* ---- arguments ---------------------------------------------------------- */

/* ttl: seconds from now (> 0), or a time after now. */
static int arg_ttl(Call *k, sqlite3_value *v, int64_t *expires) {
  int t = sqlite3_value_type(v);
  if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) {
    double secs = sqlite3_value_double(v);
    if (!(secs > 0) || secs > (double)(ENT_TIME_MAX_MS - k->now) / 1000.0) {
      return ent_err(&k->e, SQLITE_ERROR,
                     "%s: ttl must be seconds from now greater than 0 (or a time after now, as "
                     "text), and end by year 9999; got %!.15g",
                     k->fn, secs);
    }
    *expires = t == SQLITE_INTEGER ? k->now + sqlite3_value_int64(v) * 1000
                                   : k->now + (int64_t)(secs * 1000.0 + 0.5);
    if (*expires <= k->now) *expires = k->now + 1;
    return SQLITE_OK;
  }
  if (t != SQLITE_TEXT) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: ttl must be seconds from now (a number > 0) or a time after now (text "
                   "such as '2026-12-01 10:00:00'), not %s",
                   k->fn, t == SQLITE_NULL ? "NULL" : "a blob");
  }
  {
    char what[40];
    sqlite3_snprintf(sizeof(what), what, "%s: ttl", k->fn);
    if (ent_time_text(k->c, (const char *)sqlite3_value_text(v), what, expires, &k->e) !=
        SQLITE_OK) {
      return k->e.code;
    }
  }
  if (*expires <= k->now) {
    char at[32], now[32];
    ent_fmt_time(*expires, 0, at);
    ent_fmt_time(k->now, 0, now);
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: ttl %s is not after now (%s); pass a later time or seconds from now", k->fn,
                   at, now);
  }
  return SQLITE_OK;
}

static void fmt_expiry(int64_t ms, char out[32]) {
  ent_fmt_time(ms, ms % 1000 != 0, out);
}

/* ---- quota_reserve ------------------------------------------------------ */

static int new_id(char out[40]) {
  unsigned char r[8];
  int i;
  sqlite3_randomness(sizeof(r), r);
  memcpy(out, "hold_", 5);
  for (i = 0; i < 8; i++) {
    out[5 + 2 * i] = "0123456789abcdef"[r[i] >> 4];
    out[6 + 2 * i] = "0123456789abcdef"[r[i] & 15];
  }
  out[21] = 0;
  return SQLITE_OK;
}

static int deny_with(Call *k, char *why) {
  int rc;
  why = ent_with_upgrade(why, k->c, &k->s, k->feature, k->now, k->amount);
  k->denied = 1;
  rc = ent_err(&k->e, SQLITE_CONSTRAINT_FUNCTION, "%s", why ? why : "denied");
  sqlite3_free(why);
  return rc;
}

/* Takes or gives back n tokens of a rate limit (give: n < 0). */
static int rate_move(Call *k, int64_t n, int check, int *denied) {
  int has = 0;
  int64_t tat = 0, now_us = k->now * 1000, t = ent_rate_interval(&k->f), base, new_tat;
  EntRate r;
  *denied = 0;
  if (k->f.unlimited || n == 0) return SQLITE_OK;
  if (ent_rate_read(k->c, &k->s, &k->f, &has, &tat, &k->e) != SQLITE_OK) return k->e.code;
  if (n > 0) {
    ent_rate_eval(&k->f, now_us, has, tat, n, &r);
    if (check && !k->s.bypass && !r.allowed) {
      char *why = 0;
      *denied = 1;
      /* a settle after the plan lost the feature: not a rate to quote */
      if (!k->s.plan || !k->f.enabled) {
        ent_denial(&k->s, &k->f, &k->u, n, &why);
        return deny_with(k, why);
      }
      return deny_with(k, ent_rate_denial(&k->s, &k->f, &r, n));
    }
    base = has && tat > now_us ? tat : now_us;
    if (t > 0 && n > (INT64_MAX / 2 - base) / t) {
      return ent_err(&k->e, SQLITE_ERROR,
                     "%s: amount %lld is too large for the rate limit of '%s'; nothing was "
                     "recorded",
                     k->fn, (long long)n, k->feature);
    }
    new_tat = base + n * t;
  } else if (!has || tat <= now_us || t == 0 || -n > (tat - now_us) / t) {
    new_tat = now_us; /* never more than a full bucket back */
  } else {
    new_tat = tat + n * t;
  }
  return ent_rate_write(k->c, &k->s, &k->f, new_tat, &k->e);
}

static int reserve_run(Call *k, int64_t expires, char *id /* 40 bytes */, EntCreditHold *ch) {
  int found = 0;
  sqlite3_stmt *st;
  char exp_text[32];
  if (ent_call_begin(k, 0) != SQLITE_OK) return k->e.code;
  if (ent_call_resolve(k, "holds reserve units of metered features and rate limits") != SQLITE_OK) {
    return k->e.code;
  }
  /* a priced feature: the hold is on its currency, for what the units cost */
  if (k->f.pricing && ent_credit_hold(k, ch) != SQLITE_OK) return k->e.code;
  if (k->key && ent_call_replay(k, &found) != SQLITE_OK) return k->e.code;
  if (found) { /* a retry: the hold the first call made */
    memcpy(id, k->replayed_hold, sizeof(k->replayed_hold));
    return SQLITE_OK;
  }
  if (k->f.type == T_RATE) {
    int denied;
    if (!k->s.bypass && (!k->s.plan || !k->f.enabled)) {
      char *why = 0;
      ent_denial(&k->s, &k->f, &k->u, k->amount, &why);
      return deny_with(k, why);
    }
    if (rate_move(k, k->amount, 1, &denied) != SQLITE_OK) return k->e.code;
  } else {
    char *why = 0;
    ent_usage_bounds(k->c, &k->s, &k->f, k->now, &k->u);
    if (counter_read(k) != SQLITE_OK || ent_holds_expire(k) != SQLITE_OK) return k->e.code;
    if (ent_denial(&k->s, &k->f, &k->u, k->amount, &why)) {
      if (why && ch->draws) { /* say what the units would have cost */
        char *more = ch->dim ? sqlite3_mprintf("%s; %lld '%s' at rate %s ('%s') cost %lld", why,
                                               (long long)ch->units, ch->draws, ch->rate_text,
                                               ch->dim, (long long)k->amount)
                             : sqlite3_mprintf("%s; %lld '%s' at rate %s cost %lld", why,
                                               (long long)ch->units, ch->draws, ch->rate_text,
                                               (long long)k->amount);
        if (more) {
          sqlite3_free(why);
          why = more;
        }
      }
      return deny_with(k, why);
    }
    if (k->u.held_stored > INT64_MAX - k->amount) {
      return ent_err(&k->e, SQLITE_ERROR,
                     "%s: amount %lld would overflow the units held on '%s' for subject '%s' "
                     "(%lld held); nothing was recorded",
                     k->fn, (long long)k->amount, k->feature, k->subject,
                     (long long)k->u.held_stored);
    }
  }
  new_id(id);
  k->hold = id;
  fmt_expiry(expires, exp_text);
  if (!(st = ent_stmt(k->c, ST_HOLD_INSERT, &k->e))) return k->e.code;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, k->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, ent_counter_subject(&k->s, &k->f), -1, SQLITE_STATIC);
  if (k->f.type == T_METERED) {
    sqlite3_bind_text(st, 5, ent_period_name(k->f.period), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, k->u.start_text, -1, SQLITE_STATIC);
    if (k->f.period != P_LIFETIME) sqlite3_bind_text(st, 7, k->u.end_text, -1, SQLITE_STATIC);
  }
  sqlite3_bind_int64(st, 8, k->amount);
  sqlite3_bind_text(st, 9, k->at, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, exp_text, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 11, expires);
  if (k->key) sqlite3_bind_text(st, 12, k->key, -1, SQLITE_STATIC);
  if (k->meta) sqlite3_bind_text(st, 13, k->meta, -1, SQLITE_STATIC);
  if (ch->draws) {
    sqlite3_bind_text(st, 14, ch->draws, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 15, ch->units);
    sqlite3_bind_text(st, 16, ch->rate_text, -1, SQLITE_STATIC);
    if (ch->dim) sqlite3_bind_text(st, 17, ch->dim, -1, SQLITE_STATIC);
  }
  if (ent_step_done(k->c, st, &k->e, "writing ent_holds") != SQLITE_OK) return k->e.code;
  sqlite3_clear_bindings(st);
  if (k->f.type == T_METERED && counter_change(k, 0, 0, k->amount) != SQLITE_OK) return k->e.code;
  return ent_call_ledger_row(k, k->amount, 0);
}

/* Every writing function of this file: one write at a time, in the call's
** savepoint (or its own transaction), ended by ok. */
static int hold_call_end(Call *k, int rc) {
  if (ent_call_end(k, rc == SQLITE_OK) != SQLITE_OK && rc == SQLITE_OK) rc = k->e.code;
  k->c->writing = 0;
  return rc;
}

static void fn_reserve(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  EntCreditHold ch;
  int rc;
  int64_t expires = 0;
  char *id;
  memset(&ch, 0, sizeof(ch));
  if (!ent_argc(ctx, argc, 4, 6,
                "quota_reserve(subject, feature, amount, ttl [, key [, metadata]])")) {
    return;
  }
  memset(&k, 0, sizeof(k));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_RESERVE;
  k.fn = "quota_reserve";
  k.now = ent_now(k.c);
  if (sqlite3_value_type(argv[2]) == SQLITE_INTEGER && sqlite3_value_int64(argv[2]) < 1) {
    rc = ent_err(&k.e, SQLITE_ERROR,
                 "quota_reserve: amount must be a whole number >= 1, got %lld; a hold of "
                 "nothing reserves nothing",
                 (long long)sqlite3_value_int64(argv[2]));
  } else {
    /* ttl is argument 4 here; ent_call_args() reads key and metadata from 4 and 5 */
    sqlite3_value *v[5] = {argv[0], argv[1], argv[2], argc >= 5 ? argv[4] : 0,
                           argc >= 6 ? argv[5] : 0};
    rc = ent_call_args(&k, argc - 1, v);
  }
  if (rc == SQLITE_OK) rc = arg_ttl(&k, argv[3], &expires);
  /* the result's memory before the write: once committed, the call must
  ** not fail for want of it */
  id = rc == SQLITE_OK ? sqlite3_malloc(40) : 0;
  if (rc == SQLITE_OK && !id) rc = ent_err(&k.e, SQLITE_NOMEM, "out of memory");
  if (rc == SQLITE_OK) rc = ent_call_enter(k.c, k.fn, &k.e);
  if (rc == SQLITE_OK) rc = hold_call_end(&k, reserve_run(&k, expires, id, &ch));
  sqlite3_free(ch.dim);
  if (rc == SQLITE_OK) {
    sqlite3_result_text(ctx, id, -1, sqlite3_free); /* taken over, not copied */
  } else {
    sqlite3_free(id);
    ent_result_err(ctx, &k.e);
  }
  ent_err_clear(&k.e);
}

/* ---- quota_settle, quota_release, quota_extend -------------------------- */

/* The hold, and whether it can still be settled, released or extended: an
** unknown, ended or expired hold is an error. */
static int live_hold(Call *k, const char *id, Hold *h) {
  int found;
  if (hold_read(k->c, id, h, &found, &k->e) != SQLITE_OK) return k->e.code;
  if (!found) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: there is no hold '%s'; pass the id quota_reserve() returned (ended holds "
                   "stay in ent_holds until usage_purge() removes them)",
                   k->fn, id);
  }
  if (strcmp(h->state, "settled") == 0) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: hold '%s' was already settled at %s with actual %lld (mode '%s'); %s",
                   k->fn, id, h->ended_at, (long long)h->actual, h->mode ? h->mode : "",
                   k->kind == K_SETTLE ? "a retry of that settle must repeat the same actual and "
                                         "mode"
                                       : "it has ended; reserve a new hold for more work");
  }
  if (strcmp(h->state, "released") == 0) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: hold '%s' was released at %s; its units are free again; reserve a new "
                   "hold for more work",
                   k->fn, id, h->ended_at);
  }
  if (strcmp(h->state, "expired") == 0 || h->expires_ms <= k->now) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: hold '%s' expired at %s and its units were released; reserve a new hold "
                   "(or extend a hold with quota_extend() before it expires)",
                   k->fn, id, h->expires_at);
  }
  return SQLITE_OK;
}

/* The call's subject, feature and counter from the hold. */
static int hold_context(Call *k, Hold *h) {
  k->subject = h->subject;
  k->feature = h->feature;
  ent_now_text(k->c, k->now, k->at);
  if (ent_resolve_subject(k->c, k->subject, k->feature, k->now, &k->s, &k->e) != SQLITE_OK ||
      ent_resolve_feature(k->c, &k->s, k->feature, &k->f, &k->e) != SQLITE_OK) {
    return k->e.code;
  }
  if ((h->period != 0) != (k->f.type == T_METERED) || (!h->period && k->f.type != T_RATE)) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: feature '%s' of hold '%s' is %s now, not the %s it was reserved as; "
                   "the configuration changed under it",
                   k->fn, h->feature, h->id, ent_type_name(k->f.type),
                   h->period ? "metered feature" : "rate limit");
  }
  if (h->period) {
    at_hold_counter(k, h);
    if (counter_read(k) != SQLITE_OK || ent_holds_expire(k) != SQLITE_OK) return k->e.code;
  }
  return SQLITE_OK;
}

static const char *const MODES[] = {"reject", "cap", "overflow"};

/* What quota_settle returns: what remains in the hold's counter, or the
** tokens a rate limit has now; NULL when unlimited. */
static int settle_result(Call *k, const Hold *h) {
  EntRate r;
  int has = 0;
  int64_t tat = 0;
  if (h->period) {
    ent_call_set_remaining(k);
    return SQLITE_OK;
  }
  if (ent_rate_read(k->c, &k->s, &k->f, &has, &tat, &k->e) != SQLITE_OK) return k->e.code;
  ent_rate_eval(&k->f, k->now * 1000, has, tat, 0, &r);
  k->has_remaining = k->s.plan && k->f.enabled && !k->f.unlimited;
  k->remaining = r.remaining;
  return SQLITE_OK;
}

static int settle_run(Call *k, const char *id, int64_t actual, int mode) {
  Hold h;
  int rc, denied = 0;
  int64_t within, over, burn = 0, units = actual;
  if (ent_call_begin(k, 0) != SQLITE_OK) return k->e.code;
  if ((rc = live_hold(k, id, &h)) != SQLITE_OK) {
    /* a retry of the settle that ended it: the same answer again */
    if (h.state && strcmp(h.state, "settled") == 0 && h.has_actual && h.actual == actual &&
        h.mode && strcmp(h.mode, MODES[mode]) == 0) {
      ent_err_clear(&k->e);
      k->c->writing = 2; /* records nothing: makes no rollover grant (rollover.c) */
      rc = hold_context(k, &h);
      if (rc == SQLITE_OK) rc = settle_result(k, &h);
    }
    hold_clear(&h);
    return rc;
  }
  if ((rc = hold_context(k, &h)) != SQLITE_OK) goto done;
  /* a hold on a priced feature: actual is in its units, settled in what they cost */
  if (h.draws && (rc = ent_credit_hold_charge(k, h.id, h.rate, units, &actual)) != SQLITE_OK) {
    goto done;
  }
  k->amount = actual;
  within = actual < h.amount ? actual : h.amount;
  over = actual - within;
  if (h.period) k->u.held -= h.amount; /* decided as if this hold were released */
  if (over > 0 && mode == 0) {
    k->denied = 1;
    if (h.draws) {
      rc = ent_err(&k->e, SQLITE_CONSTRAINT_FUNCTION,
                   "%s: actual %lld '%s' (cost %lld '%s') is more than hold '%s' reserved (%lld "
                   "'%s', cost %lld) and mode is 'reject'; nothing changed; settle with mode "
                   "'cap' or 'overflow' to record the rest",
                   k->fn, (long long)units, h.draws, (long long)actual, h.feature, h.id,
                   (long long)h.units, h.draws, (long long)h.amount);
    } else {
      rc = ent_err(&k->e, SQLITE_CONSTRAINT_FUNCTION,
                   "%s: actual %lld is more than hold '%s' reserved (%lld) and mode is 'reject'; "
                   "nothing changed; settle with mode 'cap' or 'overflow' to record the rest",
                   k->fn, (long long)actual, h.id, (long long)h.amount);
    }
    goto done;
  }
  if (h.period) {
    char *why = 0;
    /* beyond the hold, 'overflow' asks the quota like consume_quota */
    if (over > 0 && mode == 2 && !k->s.bypass && ent_denial(&k->s, &k->f, &k->u, actual, &why)) {
      /* say what became of the hold, and the ways out */
      char *more = why ? sqlite3_mprintf(
                             "%s; hold '%s' (%lld) is kept: settle it with mode 'cap' "
                             "to record the rest past the quota, or release it",
                             why, h.id, (long long)h.amount)
                       : 0;
      if (more) {
        sqlite3_free(why);
        why = more;
      }
      rc = deny_with(k, why);
      goto done;
    }
    sqlite3_free(why);
    if (k->s.plan && k->f.enabled && !k->f.unlimited) burn = ent_grant_part(&k->f, &k->u, actual);
    if (k->u.used > INT64_MAX - actual) {
      rc = ent_err(&k->e, SQLITE_ERROR, "%s: actual %lld would overflow the usage counter", k->fn,
                   (long long)actual);
      goto done;
    }
  } else {
    /* tokens: the hold took amount; give back what was not used, or take more */
    rc = rate_move(k, over > 0 ? over : within - h.amount, over > 0 && mode == 2, &denied);
    if (rc != SQLITE_OK) goto done;
  }
  {
    int64_t before = k->u.used;
    rc = hold_end(k, &h, "settled", k->at, &units, MODES[mode]);
    if (rc == SQLITE_OK && h.period) rc = counter_change(k, actual, burn, -h.amount);
    if (rc == SQLITE_OK && burn > 0) {
      rc = ent_grants_burn(k->c, &k->s, &k->f, k->now, burn, &k->e);
      ent_grants_spent(&k->u, burn);
    }
    if (rc == SQLITE_OK) rc = hold_row(k, &h, K_RELEASE, h.amount, 0);
    /* a priced hold's units, when any were used (as a settle of 0 writes no consumption) */
    if (rc == SQLITE_OK && h.draws && units > 0) {
      rc = ent_credit_settle_units(k, h.id, h.draws, units, actual, h.rate, h.dim, h.created_at,
                                   h.meta);
    }
    /* the consumption: one row, or in 'cap' mode the hold's part and the rest */
    if (rc == SQLITE_OK && (mode != 1 ? actual : within) > 0) {
      rc = hold_row(k, &h, K_SETTLE, mode != 1 ? actual : within, 0);
    }
    if (rc == SQLITE_OK && mode == 1 && over > 0) rc = hold_row(k, &h, K_OVERAGE, over, 0);
    if (rc == SQLITE_OK && h.period) rc = ent_consume_alerts(k, before);
  }
  if (rc == SQLITE_OK) rc = settle_result(k, &h);
done:
  hold_clear(&h);
  return rc;
}

static int mode_arg(sqlite3_value *v, int *mode, EntErr *e) {
  const char *z = (const char *)sqlite3_value_text(v);
  int i;
  *mode = 2;
  if (sqlite3_value_type(v) == SQLITE_NULL) return SQLITE_OK;
  for (i = 0; z && sqlite3_value_type(v) == SQLITE_TEXT && i < 3; i++) {
    if (strcmp(z, MODES[i]) == 0) {
      *mode = i;
      return SQLITE_OK;
    }
  }
  return ent_err(e, SQLITE_ERROR,
                 "quota_settle: mode must be 'overflow' (the default: more than the hold is "
                 "consumed if the quota allows it), 'cap' (recorded even past the quota) or "
                 "'reject' (an error), not %s%s%s",
                 z && sqlite3_value_type(v) == SQLITE_TEXT ? "'" : "",
                 z && sqlite3_value_type(v) == SQLITE_TEXT ? z : "a value that is not text",
                 z && sqlite3_value_type(v) == SQLITE_TEXT ? "'" : "");
}

static void fn_settle(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  int rc, mode = 2;
  const char *id = 0;
  if (!ent_argc(ctx, argc, 2, 3, "quota_settle(hold, actual [, mode])")) return;
  memset(&k, 0, sizeof(k));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_SETTLE;
  k.fn = "quota_settle";
  k.now = ent_now(k.c);
  rc = arg_hold_id(argv[0], k.fn, &id, &k.e);
  if (rc == SQLITE_OK) rc = ent_arg_amount(argv[1], k.fn, "actual", &k.asked, &k.e);
  if (rc == SQLITE_OK && argc == 3) rc = mode_arg(argv[2], &mode, &k.e);
  if (rc == SQLITE_OK) rc = ent_call_enter(k.c, k.fn, &k.e);
  if (rc == SQLITE_OK) rc = hold_call_end(&k, settle_run(&k, id, k.asked, mode));
  if (rc == SQLITE_OK && k.has_remaining) {
    sqlite3_result_int64(ctx, k.remaining);
  } else if (rc == SQLITE_OK) {
    sqlite3_result_null(ctx);
  } else {
    ent_result_err(ctx, &k.e);
  }
  ent_err_clear(&k.e);
}

static int release_run(Call *k, const char *id) {
  Hold h;
  int rc, denied;
  if (ent_call_begin(k, 0) != SQLITE_OK) return k->e.code;
  k->c->writing = 2; /* uses nothing: makes no rollover grant (rollover.c) */
  if ((rc = live_hold(k, id, &h)) == SQLITE_OK) rc = hold_context(k, &h);
  if (rc == SQLITE_OK) rc = hold_end(k, &h, "released", k->at, 0, 0);
  if (rc == SQLITE_OK && h.period) rc = counter_change(k, 0, 0, -h.amount);
  if (rc == SQLITE_OK && !h.period) rc = rate_move(k, -h.amount, 0, &denied);
  if (rc == SQLITE_OK) rc = hold_row(k, &h, K_RELEASE, h.amount, 0);
  k->amount = h.amount;
  hold_clear(&h);
  return rc;
}

static void fn_release(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  int rc;
  const char *id = 0;
  if (!ent_argc(ctx, argc, 1, 1, "quota_release(hold)")) return;
  memset(&k, 0, sizeof(k));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_RELEASE;
  k.fn = "quota_release";
  k.now = ent_now(k.c);
  rc = arg_hold_id(argv[0], k.fn, &id, &k.e);
  if (rc == SQLITE_OK) rc = ent_call_enter(k.c, k.fn, &k.e);
  if (rc == SQLITE_OK) rc = hold_call_end(&k, release_run(&k, id));
  if (rc == SQLITE_OK) {
    sqlite3_result_int64(ctx, k.amount);
  } else {
    ent_result_err(ctx, &k.e);
  }
  ent_err_clear(&k.e);
}

static int extend_run(Call *k, const char *id, sqlite3_value *ttl, char *out /* 32 bytes */) {
  Hold h;
  int rc;
  int64_t expires = 0;
  if (ent_call_begin(k, 0) != SQLITE_OK) return k->e.code;
  k->c->writing = 2; /* uses nothing: makes no rollover grant (rollover.c) */
  if ((rc = live_hold(k, id, &h)) == SQLITE_OK) rc = arg_ttl(k, ttl, &expires);
  if (rc == SQLITE_OK) rc = hold_context(k, &h);
  if (rc == SQLITE_OK) {
    sqlite3_stmt *st = ent_stmt(k->c, ST_HOLD_EXTEND, &k->e);
    fmt_expiry(expires, out);
    if (!st) {
      rc = k->e.code;
    } else {
      sqlite3_bind_text(st, 1, h.id, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, out, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 3, expires);
      rc = ent_step_done(k->c, st, &k->e, "updating ent_holds");
    }
  }
  hold_clear(&h);
  return rc;
}

static void fn_extend(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Call k;
  int rc;
  const char *id = 0;
  char *out;
  if (!ent_argc(ctx, argc, 2, 2, "quota_extend(hold, ttl)")) return;
  memset(&k, 0, sizeof(k));
  k.c = sqlite3_user_data(ctx);
  k.kind = K_RELEASE;
  k.fn = "quota_extend";
  k.now = ent_now(k.c);
  rc = arg_hold_id(argv[0], k.fn, &id, &k.e);
  out = rc == SQLITE_OK ? sqlite3_malloc(32) : 0; /* before the write, as in fn_reserve */
  if (rc == SQLITE_OK && !out) rc = ent_err(&k.e, SQLITE_NOMEM, "out of memory");
  if (rc == SQLITE_OK) rc = ent_call_enter(k.c, k.fn, &k.e);
  if (rc == SQLITE_OK) rc = hold_call_end(&k, extend_run(&k, id, argv[1], out));
  if (rc == SQLITE_OK) {
    sqlite3_result_text(ctx, out, -1, sqlite3_free);
  } else {
    sqlite3_free(out);
    ent_result_err(ctx, &k.e);
  }
  ent_err_clear(&k.e);
}

int ent_register_hold(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {
      {"quota_reserve", fn_reserve},
      {"quota_settle", fn_settle},
      {"quota_release", fn_release},
      {"quota_extend", fn_extend},
  };
  return ent_register_fns(db, c, fns, (int)(sizeof(fns) / sizeof(fns[0])));
}
