/*
** call.c — what every writing function shares (call.h): its arguments and
** the replay of a retried key, opening the call's savepoint and taking the
** write lock before anything is read, ending them (commit, or undo), the
** ledger row, and one write at a time per connection.
** How they keep a call atomic is told at the top of consume.c.
*/
#include "call.h"

#include <cjson/cJSON.h>
#include <string.h>

const char *const ENT_FN_NAME[] = {
    "consume_quota", "try_consume_quota",  "record_usage",  "refund_quota", "reset_quota",
    "grant_quota",   "consume_quota_upto", "quota_reserve", "quota_settle", "quota_release",
    "quota_settle",  "quota_settle",       "grant_void"};
const char *const ENT_LEDGER_KIND[] = {"consume", "consume", "record", "refund",  "reset",
                                       "grant",   "consume", "hold",   "consume", "release",
                                       "expire",  "record",  "void"};

static int lock_error(Call *k, int rc) {
  if ((rc & 0xff) == SQLITE_BUSY) {
    return ent_err(&k->e, SQLITE_BUSY,
                   "%s: database is locked: another connection is writing and this statement "
                   "could not wait for the write lock (its read snapshot is older than the last "
                   "commit, or busy_timeout ran out); run the call inside BEGIN IMMEDIATE ... "
                   "COMMIT with PRAGMA busy_timeout set",
                   k->fn);
  }
  return ent_err_db(&k->e, k->c->db, rc, "taking the write lock");
}

/* Opens the call's savepoint, where SQLite allows one: SQLite refuses it
** (SQLITE_BUSY) while a writing statement runs, and then that statement's
** own journal holds our writes instead. */
static int savepoint_open(Call *k) {
  sqlite3_stmt *st = ent_stmt(k->c, ST_SAVEPOINT, &k->e);
  int rc, autocommit = sqlite3_get_autocommit(k->c->db);
  if (!st) return k->e.code;
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_BUSY) return SQLITE_OK; /* inside a writing statement */
  if (rc != SQLITE_DONE) return ent_err_db(&k->e, k->c->db, rc, "opening a savepoint");
  k->savepoint = 1;
  k->began = autocommit;
  return SQLITE_OK;
}

/* Makes the call's writes atomic and takes the write lock before anything is
** read (see the top of this file). The savepoint is opened in every context
** where SQLite allows one: inside the app's transaction too, since a failure
** after the first write (out of memory preparing or running a later
** statement, an app trigger) would otherwise leave that write in the app's
** transaction. lazy: inside a transaction that already writes, the
** savepoint waits for savepoint_open() (the fast path of fast_write() undoes
** its one write itself instead, and saves the two statements). */
/* Whether the connection has no database attached besides main and temp
** (sqlite3_db_name() is in SQLite 3.39 and later; before, assume others). */
static int main_only(sqlite3 *db) {
  return sqlite3_libversion_number() >= 3039000 && sqlite3_db_name(db, 2) == 0 &&
         sqlite3_db_readonly(db, "main") == 0; /* read only: the lock statement says so */
}

int ent_call_begin(Call *k, int lazy) {
  sqlite3_stmt *st;
  int rc;
  if (ent_stmts_for_writes(k->c, &k->e) != SQLITE_OK) return k->e.code;
  if (lazy && !k->c->app_writes && !sqlite3_get_autocommit(k->c->db) &&
      sqlite3_txn_state(k->c->db, "main") == SQLITE_TXN_WRITE) {
    k->lazy = 1;
    return SQLITE_OK;
  }
  if (sqlite3_get_autocommit(k->c->db) && sqlite3_txn_state(k->c->db, 0) != SQLITE_TXN_WRITE &&
      main_only(k->c->db)) {
    /* no writing statement runs (it would hold a write transaction), and
    ** BEGIN IMMEDIATE locks no other database: one statement instead of a
    ** savepoint and the lock statement */
    if (!(st = ent_stmt(k->c, ST_BEGIN_IMMEDIATE, &k->e))) return k->e.code;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return lock_error(k, rc);
    k->own_txn = 1;
    k->began = 1;
    return SQLITE_OK;
  }
  if (savepoint_open(k) != SQLITE_OK) return k->e.code;
  if (sqlite3_txn_state(k->c->db, "main") == SQLITE_TXN_WRITE) return SQLITE_OK;
  if (!(st = ent_stmt(k->c, ST_LOCK, &k->e))) return k->e.code;
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : lock_error(k, rc);
}

/* Before the first write of a call whose savepoint waited (lazy). */
int ent_call_savepoint_now(Call *k) {
  if (!k->lazy) return SQLITE_OK;
  k->lazy = 0;
  return savepoint_open(k);
}

/* Steps a statement of the undo path; its errors must not replace the error
** being undone. */
void ent_call_undo_step(Call *k, int id) {
  EntErr ignored = {0};
  sqlite3_stmt *st = ent_stmt(k->c, id, &ignored);
  ent_err_clear(&ignored);
  if (st) {
    sqlite3_step(st);
    sqlite3_reset(st);
  }
}

int ent_call_end(Call *k, int ok) {
  int rc, own = k->own_txn;
  if (!own && !k->savepoint) return SQLITE_OK;
  k->own_txn = k->savepoint = 0;
  if (ok) { /* COMMIT of its own transaction, or RELEASE of its savepoint */
    sqlite3_stmt *st = ent_stmt(k->c, own ? ST_COMMIT : ST_RELEASE, &k->e);
    if (!st) return k->e.code;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return SQLITE_OK;
    ent_err_db(&k->e, k->c->db, rc, "committing");
  }
  /* Undo. SQLite may already have rolled back the whole transaction (out of
  ** memory, disk full, I/O error), taking our savepoint with it; and a
  ** failed COMMIT or RELEASE that was the commit leaves the transaction
  ** open. A call that began the transaction (own_txn or not) rolls it all
  ** back. */
  if (k->began) {
    if (!sqlite3_get_autocommit(k->c->db)) ent_call_undo_step(k, ST_ROLLBACK_ALL);
  } else {
    ent_call_undo_step(k, ST_ROLLBACK_TO);
    ent_call_undo_step(k, ST_RELEASE);
  }
  return k->e.code ? k->e.code : SQLITE_ERROR;
}

void ent_call_set_remaining(Call *k) {
  EntView v;
  ent_view(&k->s, &k->f, &k->u, &v);
  k->has_remaining = v.has_quota;
  k->remaining = v.remaining;
}

/* A priced feature's row: every parameter bound as it is (these calls go
** the long way anyway). */
static int priced_row(Call *k, int64_t logged, int clamped) {
  sqlite3_stmt *st = ent_stmt(k->c, ST_EVENT_INSERT_PRICED, &k->e);
  const char *pool = ent_counter_subject(&k->s, &k->f);
  if (!st) return k->e.code;
  sqlite3_bind_text(st, 1, k->at, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, k->feature, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, logged);
  sqlite3_bind_text(st, 5, ENT_LEDGER_KIND[k->kind], -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, k->key, -1, SQLITE_STATIC); /* NULL binds NULL */
  sqlite3_bind_text(st, 7, k->meta, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, ent_period_name(k->f.period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, k->u.start_text, -1, SQLITE_STATIC);
  if (clamped) {
    sqlite3_bind_int64(st, 10, k->asked);
  } else {
    sqlite3_bind_null(st, 10);
  }
  sqlite3_bind_text(st, 11, strcmp(pool, k->subject) ? pool : 0, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 12, k->hold, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 13, k->currency, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 14, k->charged);
  sqlite3_bind_text(st, 15, k->rate_text, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 16, k->dim, -1, SQLITE_STATIC);
  return ent_step_done(k->c, st, &k->e, "writing the ledger");
}

int ent_call_ledger_row(Call *k, int64_t logged, int clamped) {
  sqlite3_stmt *st;
  if (k->currency) return priced_row(k, logged, clamped);
  if (!(st = ent_stmt(k->c, ST_EVENT_INSERT, &k->e))) return k->e.code;
  /* the parameters that are static text or NULL go through
  ** ent_bind_static(): most calls bind the same ones as the call before */
  sqlite3_bind_text(st, 1, k->at, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, k->feature, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, logged);
  ent_bind_static(k->c, 0, st, 5, ENT_LEDGER_KIND[k->kind]);
  if (k->key) {
    sqlite3_bind_text(st, 6, k->key, -1, SQLITE_STATIC);
    ent_bind_forget(k->c, 0, 6); /* not static */
  } else {
    ent_bind_static(k->c, 0, st, 6, 0);
  }
  if (k->meta) {
    sqlite3_bind_text(st, 7, k->meta, -1, SQLITE_STATIC);
    ent_bind_forget(k->c, 0, 7);
  } else {
    ent_bind_static(k->c, 0, st, 7, 0);
  }
  if (k->f.type == T_RATE || k->kind == K_GRANT || k->kind == K_VOID) { /* in no counter */
    ent_bind_static(k->c, 0, st, 8, 0);
    sqlite3_bind_null(st, 9);
  } else {
    ent_bind_static(k->c, 0, st, 8, ent_period_name(k->f.period));
    sqlite3_bind_text(st, 9, k->u.start_text, -1, SQLITE_STATIC);
  }
  if (clamped) {
    sqlite3_bind_int64(st, 10, k->asked);
    ent_bind_forget(k->c, 0, 10);
  } else {
    ent_bind_static(k->c, 0, st, 10, 0);
  }
  if (strcmp(ent_counter_subject(&k->s, &k->f), k->subject) != 0) {
    sqlite3_bind_text(st, 11, ent_counter_subject(&k->s, &k->f), -1, SQLITE_STATIC);
    ent_bind_forget(k->c, 0, 11);
  } else {
    ent_bind_static(k->c, 0, st, 11, 0);
  }
  if (k->hold) {
    sqlite3_bind_text(st, 12, k->hold, -1, SQLITE_STATIC);
    ent_bind_forget(k->c, 0, 12);
  } else {
    ent_bind_static(k->c, 0, st, 12, 0);
  }
  return ent_step_done(k->c, st, &k->e, "writing the ledger");
}

/* "ledger": false keeps counters only, unless a key needs a ledger row. */
int ent_call_logs(const Call *k) {
  return !k->f.no_ledger || k->key;
}

/* One write at a time per connection: a write called from inside another
** (an app's trigger on an ent_* table calling back into the extension) would
** nest savepoints and decisions; it is refused. On SQLITE_OK the caller is the
** writer until it clears c->writing. */
int ent_call_enter(EntConn *c, const char *fn, EntErr *e) {
  if (c->writing) {
    return ent_err(e, SQLITE_ERROR,
                   "%s: called while another entitlements write is running on this connection "
                   "(from a trigger on an ent_* table?); call it from the app's statement instead",
                   fn);
  }
  c->writing = 1;
  c->rollover_made = 0;
  return SQLITE_OK;
}

/* The subject and the feature's entitlement at k->now, which must be a
** metered feature or a rate limit (else the error ends with `hint`); and
** k->at, now as the ledger shows it. */
int ent_call_resolve(Call *k, const char *hint) {
  if (ent_resolve_subject(k->c, k->subject, k->feature, k->now, &k->s, &k->e) != SQLITE_OK ||
      ent_resolve_feature(k->c, &k->s, k->feature, &k->f, &k->e) != SQLITE_OK) {
    return k->e.code;
  }
  if (k->f.type != T_METERED && k->f.type != T_RATE) {
    return ent_err(&k->e, SQLITE_ERROR, "%s: feature '%s' is %s, not metered; %s", k->fn,
                   k->feature, ent_type_name(k->f.type), hint);
  }
  ent_now_text(k->c, k->now, k->at);
  return SQLITE_OK;
}

/* subject, feature [, amount [, key [, metadata]]], checked. */
int ent_call_args(Call *k, int argc, sqlite3_value **argv) {
  if (ent_arg_subject(argv[0], k->fn, &k->subject, &k->e) != SQLITE_OK ||
      ent_arg_feature(argv[1], k->fn, &k->feature, &k->e) != SQLITE_OK) {
    return k->e.code;
  }
  k->amount = 1;
  if (argc >= 3 && ent_arg_amount(argv[2], k->fn, "amount", &k->amount, &k->e) != SQLITE_OK) {
    return k->e.code;
  }
  k->asked = k->amount;
  if (argc >= 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL) {
    int t = sqlite3_value_type(argv[3]);
    if (t != SQLITE_TEXT && t != SQLITE_INTEGER) {
      return ent_err(&k->e, SQLITE_ERROR,
                     "%s: key must be text (or an integer), not %s; pass a stable id of the "
                     "work, such as 'upload:42'",
                     k->fn, t == SQLITE_FLOAT ? "a real number" : "a blob");
    }
    k->key = (const char *)sqlite3_value_text(argv[3]);
    if (!k->key) return ent_err(&k->e, SQLITE_NOMEM, "out of memory");
    if (!k->key[0]) {
      return ent_err(&k->e, SQLITE_ERROR, "%s: key is empty text; pass NULL for no key", k->fn);
    }
  }
  if (argc >= 5 && sqlite3_value_type(argv[4]) != SQLITE_NULL) {
    cJSON *m = 0;
    if (sqlite3_value_type(argv[4]) == SQLITE_TEXT) {
      /* the whole text: json_extract() over the ledger must work on every row */
      m = cJSON_ParseWithLengthOpts((const char *)sqlite3_value_text(argv[4]),
                                    (size_t)sqlite3_value_bytes(argv[4]) + 1, 0, 1);
    }
    if (!cJSON_IsObject(m)) {
      cJSON_Delete(m);
      return ent_err(&k->e, SQLITE_ERROR,
                     "%s: metadata must be a JSON object as text, such as '{\"order\": 42}'; "
                     "use json_object() to build one",
                     k->fn);
    }
    cJSON_Delete(m);
    k->meta = (const char *)sqlite3_value_text(argv[4]);
  }
  return SQLITE_OK;
}

/* A retry of a call that was already recorded under the same key counts
** nothing again; the same key for a different call is an error. */
int ent_call_replay(Call *k, int *found) {
  sqlite3_stmt *st = ent_stmt(k->c, ST_EVENT_BY_KEY, &k->e);
  int rc;
  *found = 0;
  if (!st) return k->e.code;
  sqlite3_bind_text(st, 1, k->subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->key, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *feature = (const char *)sqlite3_column_text(st, 0);
    const char *kind = (const char *)sqlite3_column_text(st, 2);
    int64_t asked = sqlite3_column_type(st, 3) == SQLITE_NULL ? sqlite3_column_int64(st, 1)
                                                              : sqlite3_column_int64(st, 3);
    const char *hold = (const char *)sqlite3_column_text(st, 4);
    *found = 1;
    k->replayed = sqlite3_column_int64(st, 1);
    if (hold && strlen(hold) < sizeof(k->replayed_hold)) strcpy(k->replayed_hold, hold);
    if (!feature || !kind || strcmp(feature, k->feature) ||
        strcmp(kind, ENT_LEDGER_KIND[k->kind]) || asked != k->amount) {
      ent_err(&k->e, SQLITE_ERROR,
              "%s: idempotency key '%s' of subject '%s' was already used for %s of %lld '%s'; a "
              "retry must repeat the same feature and amount, and a different call needs a new "
              "key",
              k->fn, k->key, k->subject, kind ? kind : "?", (long long)asked,
              feature ? feature : "?");
    }
    rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(&k->e, k->c->db, rc, "looking up the idempotency key");
  return k->e.code;
}
