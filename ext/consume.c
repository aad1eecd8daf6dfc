/*
** consume.c — the writing functions (SPEC §6 "Consumption"): consume_quota,
** try_consume_quota, record_usage and refund_quota, with idempotency keys,
** the ledger (ent_events) and the counters (ent_counters).
**
** How one call stays atomic and never over-grants, in every calling context:
**  1. Every argument is checked and the feature resolved before any write.
**  2. A savepoint is opened. SQLite refuses one while a writing statement is
**     running (we are inside a trigger or a DML statement); then that
**     statement's own transaction and journal hold our writes instead.
**  3. The write lock is taken before the counter is read (a no-op UPDATE),
**     so the decision and the write see the same data; where the lock cannot
**     be had (a stale WAL snapshot), the call fails with SQLITE_BUSY.
**  4. The counter is written first with a guarded UPSERT (the limit is in
**     its WHERE clause, as in hand-written SQL), so a denial writes nothing;
**     an idempotency key is looked up before it. Then the ledger row. On any
**     error the savepoint is rolled back (or, when SQLite already rolled back
**     the transaction the call began, nothing is left to undo).
*/
#include <string.h>

#include "call.h"

/* Adds delta to this period's counter if `used` is at most guard before;
** *fit says whether it did, and then k->u.used is the new value. */
int ent_call_counter_add(Call *k, int64_t delta, int64_t guard, int64_t burn, int *fit) {
  sqlite3_stmt *st =
      ent_stmt(k->c, ent_call_logs(k) ? ST_COUNTER_ADD : ST_COUNTER_ADD_UNLOGGED, &k->e);
  int rc;
  *fit = 0;
  if (!st) return k->e.code;
  sqlite3_bind_text(st, 1, ent_counter_subject(&k->s, &k->f), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
  if (k->f.period == P_LIFETIME) {
    sqlite3_bind_null(st, 5);
  } else {
    sqlite3_bind_text(st, 5, k->u.end_text, -1, SQLITE_STATIC);
  }
  sqlite3_bind_int64(st, 6, delta);
  sqlite3_bind_int64(st, 7, guard);
  sqlite3_bind_int64(st, 8, burn);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(&k->e, k->c->db, rc, "updating the counter");
  *fit = sqlite3_changes(k->c->db) == 1;
  if (*fit) {
    EntCounterMemo v;
    k->c->own_changes++;
    k->u.used += delta;
    k->u.from_grants += burn;
    if (k->u.from_grants > k->u.used) k->u.from_grants = k->u.used; /* as the SQL clamps */
    /* a hint for the next write (memo.c): proven by its guarded UPDATE */
    v.found = 1;
    v.used = k->u.used;
    v.from_grants = k->u.from_grants;
    v.has_grants = k->u.has_grants;
    v.held = k->u.held_stored;
    ent_memo_put_counter(k->c, ent_counter_subject(&k->s, &k->f), k->feature,
                         ent_period_name(k->f.period), k->u.start_text, 0, &v);
  }
  return SQLITE_OK;
}

int ent_call_deny(Call *k) {
  char *why = 0;
  int rc;
  ent_denial(&k->s, &k->f, &k->u, k->amount, &why);
  why = ent_with_upgrade(why, k->c, &k->s, k->feature, k->now, k->amount);
  k->denied = 1;
  rc = ent_err(&k->e, SQLITE_CONSTRAINT_FUNCTION, "%s", why ? why : "denied");
  sqlite3_free(why);
  return rc;
}

/* A check, a retry of a recorded call, or a refund: these read the counter
** first. */
static int read_first(Call *k, int found) {
  int64_t logged;
  int fit;
  char *why = 0;
  int rc;
  k->c->writing = 2; /* records no use: makes no rollover grant either (rollover.c) */
  rc = ent_usage_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK ||
       ent_grants_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK;
  k->c->writing = 1;
  if (rc) return k->e.code;
  if (found || k->amount == 0) {
    /* report, record nothing */
    if (k->kind <= K_TRY && !found && ent_denial(&k->s, &k->f, &k->u, k->amount, &why)) {
      sqlite3_free(why);
      return ent_call_deny(k);
    }
    ent_call_set_remaining(k);
    return SQLITE_OK;
  }
  /* refund: never below zero used */
  logged = k->amount < k->u.used ? k->amount : (k->u.used > 0 ? k->u.used : 0);
  if (logged > 0 && ent_call_counter_add(k, -logged, INT64_MAX, 0, &fit) != SQLITE_OK)
    return k->e.code;
  if ((logged > 0 || k->key) && ent_call_logs(k) &&
      ent_call_ledger_row(k, logged, logged != k->amount) != SQLITE_OK) {
    return k->e.code;
  }
  ent_call_set_remaining(k);
  return SQLITE_OK;
}

/* Threshold alerts: a row in ent_alerts for each threshold percent of the
** quota that this call took `used` across (from below to at or above),
** once per subject, feature, period and threshold (a unique index). */
/* Whether threshold i is crossed by used going from before to after. */
static int alert_crossed(const Call *k, int i, int64_t before, int64_t after) {
  int64_t t = k->f.alerts[i];
  /* the units at which the threshold is reached: ceil(t% of quota) */
  int64_t at = t * (k->f.quota / 100) + (t * (k->f.quota % 100) + 99) / 100;
  /* a disabled feature (record_usage still records) has no quota to alert on */
  if (!k->s.plan || !k->f.enabled || k->f.unlimited || k->f.quota <= 0 ||
      k->f.quota > INT64_MAX / 1000) {
    return 0;
  }
  return before < at && after >= at;
}

int ent_consume_alerts(Call *k, int64_t before) {
  int i;
  for (i = 0; i < k->f.nalerts; i++) {
    int64_t t = k->f.alerts[i];
    sqlite3_stmt *st;
    if (!alert_crossed(k, i, before, k->u.used)) continue;
    if (!(st = ent_stmt(k->c, ST_ALERT_INSERT, &k->e))) return k->e.code;
    sqlite3_bind_text(st, 1, k->at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ent_counter_subject(&k->s, &k->f), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->feature, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, t);
    sqlite3_bind_int64(st, 6, k->u.used);
    sqlite3_bind_int64(st, 7, k->f.quota);
    sqlite3_bind_text(st, 8, ent_period_name(k->f.period), -1, SQLITE_STATIC);
    if (k->f.period == P_LIFETIME) {
      sqlite3_bind_null(st, 9);
    } else {
      sqlite3_bind_text(st, 9, k->u.end_text, -1, SQLITE_STATIC);
    }
    if (ent_step_done(k->c, st, &k->e, "writing ent_alerts") != SQLITE_OK) return k->e.code;
  }
  return SQLITE_OK;
}

/* A rate limit: tokens by GCRA (rate.c). Like a quota, a denial writes
** nothing, record_usage is never denied, and a refund gives tokens back. */
static int run_rate(Call *k, int found) {
  int has = 0;
  int64_t tat = 0, now_us = k->now * 1000, t = ent_rate_interval(&k->f), new_tat;
  EntRate r;
  if (ent_rate_read(k->c, &k->s, &k->f, &has, &tat, &k->e) != SQLITE_OK) return k->e.code;
  ent_rate_eval(&k->f, now_us, has, tat, k->kind == K_REFUND ? 0 : k->amount, &r);
  if (k->kind <= K_TRY && !found && !k->s.bypass && (!k->s.plan || !k->f.enabled || !r.allowed)) {
    char *why = (!k->s.plan || !k->f.enabled) ? 0 : ent_rate_denial(&k->s, &k->f, &r, k->amount);
    int rc;
    if (!why) return ent_call_deny(k);
    why = ent_with_upgrade(why, k->c, &k->s, k->feature, k->now, k->amount);
    k->denied = 1;
    rc = ent_err(&k->e, SQLITE_CONSTRAINT_FUNCTION, "%s", why);
    sqlite3_free(why);
    return rc;
  }
  k->has_remaining = k->s.plan && k->f.enabled && !k->f.unlimited;
  k->remaining = r.remaining;
  if (found || k->amount == 0) return SQLITE_OK;
  if (k->f.unlimited) { /* no bucket to keep */
    return ent_call_ledger_row(k, k->amount, k->amount != k->asked);
  }
  if (k->kind == K_REFUND) {
    /* give tokens back: the bucket never holds more than burst. Compared
    ** by division, since amount x T can overflow. */
    if (!has || tat <= now_us || t == 0 || k->amount > (tat - now_us) / t) {
      new_tat = now_us;
    } else {
      new_tat = tat - k->amount * t;
    }
  } else {
    if (t > 0 && k->amount > (INT64_MAX / 2 - (has && tat > now_us ? tat : now_us)) / t) {
      return ent_err(&k->e, SQLITE_ERROR,
                     "%s: amount %lld is too large for the rate limit of '%s'; nothing was "
                     "recorded",
                     k->fn, (long long)k->amount, k->feature);
    }
    /* taken (record_usage and bypass take them even when not allowed) */
    new_tat = (has && tat > now_us ? tat : now_us) + k->amount * t;
  }
  if (ent_rate_write(k->c, &k->s, &k->f, new_tat, &k->e) != SQLITE_OK) return k->e.code;
  if (ent_call_ledger_row(k, k->amount, k->amount != k->asked) != SQLITE_OK) return k->e.code;
  ent_rate_eval(&k->f, now_us, 1, new_tat, 0, &r);
  k->remaining = r.remaining;
  return SQLITE_OK;
}

/* Undoes fast_write()'s counter write after the ledger row failed, when no
** savepoint holds it (k->lazy): that one row, put back exactly, if the
** connection's change count proves nothing else changed (no app trigger on
** ent_counters wrote anything); otherwise the whole transaction is rolled
** back, as SQLite itself does after some errors, and the error says so. */
static int fast_undo(Call *k, int inserted, int64_t used_after, int64_t unlogged,
                     int64_t total_before) {
  sqlite3 *db = k->c->db;
  EntErr ignored = {0};
  sqlite3_stmt *st;
  char *msg;
  if (sqlite3_get_autocommit(db)) return 0; /* SQLite rolled it all back already */
  if (sqlite3_total_changes64(db) == total_before + 1 &&
      (st = ent_stmt(k->c, inserted ? ST_COUNTER_UNDO_INS : ST_COUNTER_UNDO_UPD, &ignored))) {
    int rc;
    sqlite3_bind_text(st, 1, k->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->feature, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, k->amount);
    sqlite3_bind_int64(st, 6, used_after);
    sqlite3_bind_int64(st, 8, unlogged);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE && sqlite3_changes(db) == 1 &&
        sqlite3_total_changes64(db) == total_before + 2) {
      return 1;
    }
  }
  ent_err_clear(&ignored);
  ent_call_undo_step(k, ST_ROLLBACK_ALL);
  if (k->e.msg) {
    msg = sqlite3_mprintf(
        "%s; the counter this call had already written could not be restored on its own, so the "
        "transaction was rolled back; nothing of it was recorded, begin it again",
        k->e.msg);
    if (msg) {
      sqlite3_free(k->e.msg);
      k->e.msg = msg;
    }
  }
  return 0;
}

/* The common write, from the memo's hint of the counter (memo.c): decided
** on the remembered values and written by a statement that applies only if
** the row still holds them. *done = 0 when there is no hint, the hint is
** stale, or the call would be denied: the caller then reads and decides as
** if there were no memo (a denial's reason always comes from fresh data).
** Without a savepoint (k->lazy, inside the app's write transaction) the
** counter write is the first write and the ledger row the last, so a failed
** ledger row is undone by fast_undo(); a call that would write an alert opens
** the savepoint first. A call with a key comes here without looking the key
** up (where its writes can be undone): the ledger's unique index finds a
** retry, and then *replay_it = 1 with nothing written. */
static int fast_write(Call *k, int *done, int *replay_it) {
  EntCounterMemo v, *slot;
  sqlite3_stmt *st;
  const char *who = k->subject;
  int rc, i;
  int64_t total_before, unlogged = ent_call_logs(k) ? 0 : k->amount;
  *done = 0;
  ent_usage_bounds(k->c, &k->s, &k->f, k->now, &k->u);
  slot =
      ent_memo_counter_slot(k->c, who, k->feature, ent_period_name(k->f.period), k->u.start_text);
  /* a counter with holds goes the long way (their expiry needs the clock) */
  if (!slot || slot->has_grants || slot->held || slot->used > INT64_MAX - k->amount) {
    return SQLITE_OK;
  }
  v = *slot;
  k->u.used = v.used;
  k->u.from_grants = v.from_grants;
  k->u.grants_loaded = 1;
  if (k->kind <= K_TRY && !k->s.bypass) {
    char *why = 0;
    int denied = ent_denial(&k->s, &k->f, &k->u, k->amount, &why);
    sqlite3_free(why);
    if (denied) return SQLITE_OK;
  }
  for (i = 0; k->lazy && i < k->f.nalerts; i++) {
    if (alert_crossed(k, i, v.used, v.used + k->amount) && ent_call_savepoint_now(k) != SQLITE_OK) {
      return k->e.code;
    }
  }
  st = ent_stmt(k->c, v.found ? ST_COUNTER_UPD_IF : ST_COUNTER_INS_IF, &k->e);
  if (!st) return k->e.code;
  sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->feature, -1, SQLITE_STATIC);
  if (v.found) {
    ent_bind_static(k->c, 1, st, 3, ent_period_name(k->f.period));
  } else {
    sqlite3_bind_text(st, 3, ent_period_name(k->f.period), -1, SQLITE_STATIC);
  }
  sqlite3_bind_text(st, 4, k->u.start_text, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, k->amount);
  sqlite3_bind_int64(st, 8, unlogged);
  if (v.found) {
    sqlite3_bind_int64(st, 6, v.used);
    sqlite3_bind_int64(st, 7, v.from_grants);
  } else if (k->f.period == P_LIFETIME) {
    sqlite3_bind_null(st, 9);
  } else {
    sqlite3_bind_text(st, 9, k->u.end_text, -1, SQLITE_STATIC);
  }
  total_before = sqlite3_total_changes64(k->c->db);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(&k->e, k->c->db, rc, "updating the counter");
  if (sqlite3_changes(k->c->db) != 1) { /* stale: forget it, read the row */
    ent_memo_put_counter(k->c, who, k->feature, ent_period_name(k->f.period), k->u.start_text, 0,
                         0);
    memset(&k->u, 0, sizeof(k->u));
    return SQLITE_OK;
  }
  k->c->own_changes++;
  k->u.used += k->amount;
  /* an app trigger on ent_counters wrote too: from now on this connection
  ** opens the savepoint first (an undo by hand could not reach that write) */
  if (sqlite3_total_changes64(k->c->db) != total_before + 1) {
    k->c->app_writes = 1;
  } else {
    k->c->fast_proven = 1;
  }
  if (ent_call_logs(k) && ent_call_ledger_row(k, k->amount, 0) != SQLITE_OK) {
    /* the key's unique index refused the row: a retry of a recorded call
    ** (found without a lookup first); undo the counter, then replay it */
    int dup = k->key && k->e.code == SQLITE_CONSTRAINT_UNIQUE, undone = 0;
    if (k->lazy) {
      undone = fast_undo(k, !v.found, k->u.used, unlogged, total_before);
      k->c->own_changes += undone; /* the undo's own change */
    } else if (k->savepoint && dup) {
      sqlite3_stmt *back = ent_stmt(k->c, ST_ROLLBACK_TO, &k->e);
      if (back) {
        undone = sqlite3_step(back) == SQLITE_DONE;
        sqlite3_reset(back);
      }
    }
    if (!(dup && undone)) return k->e.code;
    ent_err_clear(&k->e);
    memset(&k->u, 0, sizeof(k->u));
    *replay_it = 1;
    return SQLITE_OK;
  }
  if (ent_consume_alerts(k, v.used) != SQLITE_OK) return k->e.code;
  ent_call_set_remaining(k);
  slot->found = 1;
  slot->used = k->u.used; /* nothing changed the memo since the slot was found */
  *done = 1;
  return SQLITE_OK;
}

int64_t ent_call_most(int64_t hi, int (*fits)(void *arg, int64_t n), void *arg) {
  int64_t lo = 0;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2 + 1;
    if (fits(arg, mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

typedef struct UptoBucket {
  Call *k;
  int has;
  int64_t tat;
} UptoBucket;

/* Whether consume_quota would take n units now (under the write lock). */
static int upto_fits(void *arg, int64_t n) {
  UptoBucket *b = arg;
  Call *k = b->k;
  int has = b->has;
  int64_t tat = b->tat;
  if (k->s.bypass) return 1;
  if (k->f.type == T_RATE) {
    EntRate r;
    if (!k->s.plan || !k->f.enabled) return 0;
    ent_rate_eval(&k->f, k->now * 1000, has, tat, n, &r);
    return r.allowed;
  } else {
    char *why = 0;
    int denied = ent_denial(&k->s, &k->f, &k->u, n, &why);
    sqlite3_free(why);
    return !denied;
  }
}

/* consume_quota_upto: k->amount becomes the most units, up to what was
** asked, that consume_quota would take now; the same rules decide (both
** are monotone in the amount), found by bisection. */
static int upto_amount(Call *k) {
  int has = 0;
  int64_t tat = 0;
  UptoBucket b;
  if (k->f.type == T_RATE) {
    if (ent_rate_read(k->c, &k->s, &k->f, &has, &tat, &k->e) != SQLITE_OK) return k->e.code;
  } else if (ent_usage_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK ||
             ent_grants_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK) {
    return k->e.code;
  }
  b.k = k;
  b.has = has;
  b.tat = tat;
  k->amount = ent_call_most(k->amount, upto_fits, &b);
  return SQLITE_OK;
}

/* Everything between argument checks and the result. */
static int run(Call *k) {
  int found = 0, fit = 0, rc, fast, looked;
  int64_t guard = INT64_MAX, limit = -1, burn = 0, cap;
  if (k->amount > 0 && (rc = ent_call_begin(k, 1)) != SQLITE_OK) return rc;
  if (ent_call_resolve(k, "use plan_allows() to check boolean and config features") != SQLITE_OK)
    return k->e.code;
  if (k->f.pricing) return ent_credit_run(k); /* two counters: credit.c */
  /* (a spend cap needs the other features' counters: the long way) */
  fast = k->f.type != T_RATE && k->amount != 0 && k->kind <= K_RECORD && k->s.plan && !k->f.pool &&
         !k->s.has_grants && !k->f.rollover_after && !ent_spend_applies(k->c, &k->s, &k->f, &cap);
  /* a key is looked up first unless fast_write() can undo its writes: with
  ** its savepoint, or by hand once this connection has seen that no app
  ** trigger on ent_counters writes (a retry is common; it must not roll
  ** back the app's transaction) */
  looked = !(k->key && fast && ((k->lazy && k->c->fast_proven) || k->savepoint));
  if (k->key && k->amount > 0 && looked && ent_call_replay(k, &found) != SQLITE_OK)
    return k->e.code;
  /* the common case from the memo: no grants, no pool, a new call */
  if (fast && !found) {
    int done = 0, replay_it = 0;
    if (fast_write(k, &done, &replay_it) != SQLITE_OK) return k->e.code;
    if (done) return SQLITE_OK;
    if (k->key && !looked && ent_call_replay(k, &found) != SQLITE_OK) return k->e.code;
  }
  if (ent_call_savepoint_now(k) != SQLITE_OK) return k->e.code;
  if (k->kind == K_UPTO) {
    if (found) {
      k->amount = k->replayed; /* a retry: what the first call took */
      return SQLITE_OK;
    }
    if (k->amount > 0 && upto_amount(k) != SQLITE_OK) return k->e.code;
    if (k->amount == 0) return SQLITE_OK; /* nothing fits: nothing recorded */
  }
  if (k->f.type == T_RATE) return run_rate(k, found);
  if (found || k->amount == 0 || k->kind == K_REFUND) return read_first(k, found);

  /* under the write lock: read, decide, then a write guarded the same way */
  if (ent_usage_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK) return k->e.code;
  if (ent_grants_load(k->c, &k->s, &k->f, k->now, &k->u, &k->e) != SQLITE_OK) return k->e.code;
  if (k->kind <= K_TRY && !k->s.bypass) {
    char *why = 0;
    if (ent_denial(&k->s, &k->f, &k->u, k->amount, &why)) {
      sqlite3_free(why);
      return ent_call_deny(k);
    }
    /* without grants the counter's own guard can repeat the decision */
    if (k->s.plan && k->f.enabled && !k->f.unlimited && !k->u.has_grants && k->u.from_grants == 0) {
      limit = !k->f.soft ? k->f.quota : k->f.has_cap ? k->f.cap : -1;
    }
  }
  /* what the quota does not cover comes from grants, in burn-down order */
  if (k->s.plan && k->f.enabled && !k->f.unlimited) burn = ent_grant_part(&k->f, &k->u, k->amount);
  if (k->u.used > INT64_MAX - k->amount) {
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: amount %lld would overflow the usage counter of '%s' for subject '%s' "
                   "(%lld used); nothing was recorded",
                   k->fn, (long long)k->amount, k->feature, k->subject, (long long)k->u.used);
  }
  /* holds that expired: recorded now that the counter is written anyway */
  if (k->u.held != k->u.held_stored && ent_holds_expire(k) != SQLITE_OK) return k->e.code;
  /* live holds count as used: the guard leaves them room */
  guard = limit >= 0 ? limit - k->u.held - k->amount : INT64_MAX - k->amount;
  if (ent_call_counter_add(k, k->amount, guard, burn, &fit) != SQLITE_OK) return k->e.code;
  if (!fit) {
    /* the counter moved between our read and our write: the lock says it
    ** cannot, so the tables were changed behind the extension's back */
    return ent_err(&k->e, SQLITE_ERROR,
                   "%s: the counter of '%s' for subject '%s' changed while it was being "
                   "updated; nothing was recorded; check the database with "
                   "entitlements_check()",
                   k->fn, k->feature, k->subject);
  }
  if (burn > 0) {
    if (ent_grants_burn(k->c, &k->s, &k->f, k->now, burn, &k->e) != SQLITE_OK) return k->e.code;
    ent_grants_spent(&k->u, burn);
  }
  if (ent_call_logs(k) && ent_call_ledger_row(k, k->amount, k->amount != k->asked) != SQLITE_OK) {
    return k->e.code;
  }
  if (ent_consume_alerts(k, k->u.used - k->amount) != SQLITE_OK) return k->e.code;
  ent_call_set_remaining(k);
  return SQLITE_OK;
}

int ent_write(EntConn *c, int kind, const char *fn, int argc, sqlite3_value **argv,
              const int64_t *at, EntWriteResult *out, EntErr *e) {
  Call k;
  int rc;
  memset(&k, 0, sizeof(k));
  memset(out, 0, sizeof(*out));
  k.c = c;
  k.kind = (Kind)kind;
  k.fn = fn ? fn : ENT_FN_NAME[kind];
  rc = ent_call_args(&k, argc, argv);
  if (rc == SQLITE_OK) rc = ent_call_enter(c, k.fn, &k.e);
  if (rc == SQLITE_OK) {
    k.now = at ? *at : ent_now(c);
    c->own_changes = 0;
    rc = run(&k);
    int began = k.began && (k.savepoint || k.own_txn);
    /* a denial writes nothing, so it commits, unless it made a rollover
    ** grant: a denied call records nothing */
    if (ent_call_end(&k, rc == SQLITE_OK || (k.denied && !c->rollover_made)) != SQLITE_OK &&
        rc == SQLITE_OK)
      rc = k.e.code;
    if (rc == SQLITE_OK) {
      ent_memo_own_writes(c);
      if (began) ent_memo_committed(c);
    }
    c->writing = 0;
  }
  out->denied = rc != SQLITE_OK && k.denied;
  out->has_remaining = k.has_remaining;
  out->remaining = k.remaining;
  out->taken = k.amount;
  *e = k.e;
  return rc;
}

static void consume_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv, Kind kind) {
  static const char *const USAGE[] = {
      "consume_quota(subject, feature [, amount [, key [, metadata]]])",
      "try_consume_quota(subject, feature [, amount [, key [, metadata]]])",
      "record_usage(subject, feature, amount [, key [, metadata]])",
      "refund_quota(subject, feature, amount [, key])",
  };
  static const int MIN[] = {2, 2, 3, 3}, MAX[] = {5, 5, 5, 4};
  EntWriteResult w;
  EntErr e = {0};
  int rc;
  if (!ent_argc(ctx, argc, MIN[kind], MAX[kind], USAGE[kind])) return;
  rc = ent_write(sqlite3_user_data(ctx), kind, 0, argc, argv, 0, &w, &e);
  if (rc == SQLITE_OK) {
    if (kind == K_TRY) {
      sqlite3_result_int(ctx, 1);
    } else if (w.has_remaining) {
      sqlite3_result_int64(ctx, w.remaining);
    } else {
      sqlite3_result_null(ctx);
    }
  } else if (kind == K_TRY && w.denied) {
    ent_err_clear(&e);
    sqlite3_result_int(ctx, 0);
  } else {
    ent_result_err(ctx, &e);
  }
  ent_err_clear(&e);
}

static void fn_consume(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  consume_fn(ctx, argc, argv, K_CONSUME);
}
static void fn_try_consume(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  consume_fn(ctx, argc, argv, K_TRY);
}
static void fn_record(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  consume_fn(ctx, argc, argv, K_RECORD);
}
static void fn_refund(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  consume_fn(ctx, argc, argv, K_REFUND);
}

/* consume_quota_upto(subject, feature, amount [, key [, metadata]]): takes
** what fits of amount and returns it; 0 when nothing fits, never a denial. */
static void fn_upto(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntWriteResult w;
  EntErr e = {0};
  if (!ent_argc(ctx, argc, 3, 5,
                "consume_quota_upto(subject, feature, amount [, key [, metadata]])"))
    return;
  if (ent_write(sqlite3_user_data(ctx), K_UPTO, 0, argc, argv, 0, &w, &e) == SQLITE_OK) {
    sqlite3_result_int64(ctx, w.taken);
  } else {
    ent_result_err(ctx, &e);
  }
  ent_err_clear(&e);
}

int ent_register_consume(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {
      {"consume_quota", fn_consume},   {"try_consume_quota", fn_try_consume},
      {"record_usage", fn_record},     {"refund_quota", fn_refund},
      {"consume_quota_upto", fn_upto},
  };
  int rc = ent_register_fns(db, c, fns, (int)(sizeof(fns) / sizeof(fns[0])));
  if (rc == SQLITE_OK) rc = ent_register_grant(db, c);
  if (rc == SQLITE_OK) rc = ent_register_reset(db, c);
  if (rc == SQLITE_OK) rc = ent_register_hold(db, c);
  if (rc == SQLITE_OK) rc = ent_register_credit(db, c);
  return rc;
}
