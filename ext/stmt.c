/*
** stmt.c — the catalogue of SQL the extension runs on hot paths, and the
** per-connection cache of those statements, prepared once per connection.
**
** The cache (EntCache) is owned by the usage_summary eponymous virtual table:
** sqlite3_close() disconnects virtual tables before it checks for unfinalized
** statements, so statements held there never make close return SQLITE_BUSY
** (FTS5 relies on the same order). The table is instantiated on first use.
**
** Every statement here is reset right after use, so a cached statement is
** never running when another piece of code asks for it.
*/
#include <string.h>

#include "ent.h"

struct EntCache {
  EntConn *conn;
  int writes_ready; /* ent_stmts_for_writes() prepared them all */
  sqlite3_stmt *st[ST_COUNT];
};

static const char *const SQL[ST_COUNT] = {
    [ST_SAVEPOINT] = "SAVEPOINT entitlements_call",
    /* a call in autocommit, on a connection with no attached database:
    ** the transaction and the write lock in one statement (call.c) */
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_RELEASE] = "RELEASE entitlements_call",
    [ST_ROLLBACK_TO] = "ROLLBACK TO entitlements_call",
    [ST_ROLLBACK_ALL] = "ROLLBACK",
    /* Writes nothing, but a write statement takes the write lock when it
    ** starts: run first, it makes the reads that follow see the latest data
    ** and keeps it so until the call's writes are done. On ent_rates, a
    ** table without triggers: the same statement on ent_meta (which has
    ** triggers) cost ~20,000 more instructions per autocommit call. */
    [ST_LOCK] = "DELETE FROM main.ent_rates WHERE 0",
    [ST_JULIANDAY] = "SELECT julianday(?1)",
    [ST_SCHEMA_VERSION] = "SELECT value FROM main.ent_meta WHERE key = 'schema_version'",
    /* The subject with the configuration's generation (to keep the cached
    ** configuration current), and in the second form also the counter under
    ** the key guessed from the cached configuration (?2..?4): one statement
    ** for the common call. */
    [ST_SUBJECT] =
        "SELECT m.value, s.plan, s.status, s.trial_ends_at, s.grace_ends_at, "
        "s.seats, s.parent, s.billing_anchor, s.bypass, NULL, NULL, NULL, EXISTS (SELECT 1 "
        "FROM main.ent_overrides o WHERE o.subject = ?1), s.subject IS NOT NULL, EXISTS (SELECT "
        "1 FROM main.ent_grants g WHERE g.subject = ?1), NULL FROM main.ent_meta m "
        "LEFT JOIN main.ent_subjects s ON s.subject = ?1 WHERE m.key = "
        "'config_generation'",
    [ST_SUBJECT_COUNTER] =
        "SELECT m.value, s.plan, s.status, s.trial_ends_at, s.grace_ends_at, s.seats, s.parent, "
        "s.billing_anchor, s.bypass, c.used, c.from_grants, EXISTS (SELECT 1 FROM main.ent_grants "
        "g "
        "WHERE g.subject = ?1 AND g.feature = ?2), EXISTS (SELECT 1 FROM main.ent_overrides o "
        "WHERE "
        "o.subject = ?1), s.subject IS NOT NULL, EXISTS (SELECT 1 FROM main.ent_grants g WHERE "
        "g.subject = ?1), c.held FROM main.ent_meta m LEFT JOIN main.ent_subjects s "
        "ON "
        "s.subject = ?1 LEFT JOIN main.ent_counters c ON c.subject = ?1 AND c.feature = ?2 AND "
        "c.period = ?3 AND c.period_start = ?4 WHERE m.key = 'config_generation'",
    [ST_PLAN] = "SELECT trial_days FROM main.ent_plans WHERE plan = ?1",
    [ST_COUNTER_GET] =
        "SELECT c.used, c.from_grants, EXISTS (SELECT 1 FROM main.ent_grants g WHERE g.subject = "
        "?1 AND g.feature = ?2), c.held FROM (SELECT 1) LEFT JOIN main.ent_counters "
        "c ON c.subject = ?1 AND "
        "c.feature = ?2 AND c.period = ?3 AND c.period_start = ?4",
    /* The guard (?7: the most `used` may be before adding) repeats in SQL
    ** the decision just made under the write lock, as a hand-written guarded
    ** UPSERT would. (No RETURNING: SQLite buffers it in a temporary table.) */
    [ST_COUNTER_ADD] =
        "INSERT INTO main.ent_counters(subject, feature, period, period_start, "
        "period_end, used, from_grants) VALUES (?1, ?2, ?3, ?4, ?5, ?6, max(?8, 0)) "
        "ON CONFLICT(subject, feature, period, period_start) DO UPDATE SET "
        "used = used + excluded.used, from_grants = max(0, min(from_grants + ?8, used + "
        "excluded.used)) WHERE used <= ?7",
    /* ledger: false: the units also go to `unlogged`, so that
    ** entitlements_check() can still prove used = ledger + unlogged */
    [ST_COUNTER_ADD_UNLOGGED] =
        "INSERT INTO main.ent_counters(subject, feature, period, period_start, period_end, used, "
        "unlogged, from_grants) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, max(?8, 0)) ON "
        "CONFLICT(subject, feature, period, period_start) DO UPDATE SET used = used + "
        "excluded.used, unlogged = unlogged + excluded.unlogged, from_grants = max(0, "
        "min(from_grants + ?8, used + excluded.used)) WHERE used <= ?7",
    /* reset_quota: the counter back to 0; what it returns is what the reset
    ** ledger row must carry (the logged part) */
    [ST_COUNTER_RESET] =
        "UPDATE main.ent_counters SET used = 0, unlogged = 0, from_grants = 0 WHERE subject = ?1 "
        "AND "
        "feature = ?2 AND period = ?3 AND period_start = ?4",
    [ST_COUNTER_LOGGED] =
        "SELECT used - unlogged FROM main.ent_counters WHERE subject = ?1 AND feature = ?2 AND "
        "period = ?3 AND period_start = ?4",
    [ST_RATE_RESET] = "DELETE FROM main.ent_rates WHERE subject = ?1 AND feature = ?2",
    [ST_ALERT_INSERT] =
        "INSERT OR IGNORE INTO main.ent_alerts(at, subject, feature, period_start, "
        "threshold, used, quota, period, period_end) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* grants active at ?3, in burn-down order */
    [ST_GRANTS_ACTIVE] =
        "SELECT id, remaining, category = 'rollover' FROM main.ent_grants WHERE subject = ?1 "
        "AND feature = ?2 AND remaining > 0 AND starts_at <= ?3 AND (expires_at IS NULL OR "
        "expires_at > ?3) AND voided_at IS NULL ORDER BY category <> 'rollover', category <> "
        "'promotional', priority, expires_at IS NULL, expires_at, id",
    /* rollover.c: the rollover grants made since a time, the first counter
    ** of a feature, a rollover grant's ledger row */
    [ST_ROLLOVER_MADE] =
        "SELECT starts_at FROM main.ent_grants WHERE subject = ?1 AND feature = ?2 "
        "AND category = 'rollover' AND starts_at >= ?3",
    [ST_ROLLOVER_FIRST] =
        "SELECT period_start FROM main.ent_counters WHERE subject = ?1 AND "
        "feature = ?2 AND period = ?3 ORDER BY period_start LIMIT 1",
    [ST_ROLLOVER_HORIZON] = "SELECT value FROM main.ent_meta WHERE key = 'counters_horizon'",
    [ST_ROLLOVER_EVENT] =
        "INSERT INTO main.ent_events(at, subject, feature, amount, kind, "
        "metadata) VALUES (?1, ?2, ?3, ?4, 'grant', ?5)",
    [ST_GRANTS_ANY] = "SELECT EXISTS (SELECT 1 FROM main.ent_grants WHERE subject = ?1)",
    [ST_GRANT_BURN] = "UPDATE main.ent_grants SET remaining = remaining - ?2 WHERE id = ?1",
    [ST_GRANT_INSERT] =
        "INSERT INTO main.ent_grants(subject, feature, amount, remaining, priority, "
        "starts_at, expires_at, idempotency_key, created_at, category) VALUES (?1, ?2, ?3, "
        "?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_GRANT_BY_KEY] =
        "SELECT id, feature, amount FROM main.ent_grants WHERE subject = ?1 AND "
        "idempotency_key = ?2",
    [ST_OVERRIDE] =
        "SELECT enabled, quota, period, soft, cap, per_seat, value FROM main.ent_overrides "
        "WHERE subject = ?1 AND feature = ?2 AND (expires_at IS NULL OR "
        "expires_at > ?3)",
    [ST_PARENT] = "SELECT parent FROM main.ent_subjects WHERE subject = ?1",
    [ST_RATE_GET] = "SELECT tat FROM main.ent_rates WHERE subject = ?1 AND feature = ?2",
    [ST_RATE_PUT] =
        "INSERT INTO main.ent_rates(subject, feature, tat) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(subject, feature) DO UPDATE SET tat = excluded.tat",
    [ST_GENERATION] = "SELECT value FROM main.ent_meta WHERE key = 'config_generation'",
    [ST_PIN] = "SELECT 1 FROM main.ent_meta LIMIT 1",
    [ST_GENS] = "SELECT value FROM main.ent_meta WHERE key = 'subjects_generation'",
    /* a write from a remembered counter (memo.c): it applies only if the
    ** row still holds what was remembered (?6, ?7), else nothing changes */
    [ST_COUNTER_UPD_IF] =
        "UPDATE main.ent_counters SET used = used + ?5, unlogged = unlogged + ?8 WHERE subject = "
        "?1 AND feature = ?2 AND period = ?3 AND period_start = ?4 AND used = ?6 AND from_grants "
        "= ?7 AND held = 0",
    [ST_COUNTER_INS_IF] =
        "INSERT OR IGNORE INTO main.ent_counters(subject, feature, period, period_start, "
        "period_end, used, unlogged) VALUES (?1, ?2, ?3, ?4, ?9, ?5, ?8)",
    /* fast_write()'s undo, when no savepoint holds its counter write: only
    ** the row it wrote, only while it holds exactly what was written */
    [ST_COUNTER_UNDO_UPD] =
        "UPDATE main.ent_counters SET used = used - ?5, unlogged = unlogged - ?8 WHERE subject = "
        "?1 AND feature = ?2 AND period = ?3 AND period_start = ?4 AND used = ?6",
    [ST_COUNTER_UNDO_INS] =
        "DELETE FROM main.ent_counters WHERE subject = ?1 AND feature = ?2 AND period = ?3 AND "
        "period_start = ?4 AND used = ?6 AND unlogged = ?8 AND from_grants = 0",
    /* usage_summary: a subject's counters of the current periods (from ?2
    ** on; lifetime ones, whose period_start is '', when ?3), as ranges of
    ** ent_counters' key (subject, period_start, ...), not its whole history */
    [ST_COUNTERS_CURRENT] =
        "SELECT feature, period, period_start, used, from_grants, held FROM "
        "main.ent_counters WHERE subject = ?1 AND period_start >= ?2 UNION ALL SELECT feature, "
        "period, period_start, used, from_grants, held FROM main.ent_counters WHERE "
        "subject = ?1 AND period_start <= '' AND ?3",
    /* holds (hold.c): the live ones' units, once one of them has expired */
    [ST_HOLDS_LIVE] =
        "SELECT coalesce(sum(amount), 0) FROM main.ent_holds WHERE counter = ?1 AND feature = ?2 "
        "AND period = ?3 AND period_start = ?4 AND state = 'held' AND expires_ms > ?5",
    [ST_HOLDS_DUE] =
        "SELECT id FROM main.ent_holds WHERE counter = ?1 AND feature = ?2 AND period = ?3 AND "
        "period_start = ?4 AND state = 'held' AND expires_ms <= ?5 ORDER BY expires_ms, rowid",
    [ST_HOLD_GET] =
        "SELECT subject, feature, counter, period, period_start, period_end, amount, state, "
        "expires_at, expires_ms, ended_at, actual, created_at, mode, idempotency_key, metadata, "
        "draws, units, rate, dimension FROM main.ent_holds WHERE id = ?1",
    [ST_HOLD_INSERT] =
        "INSERT INTO main.ent_holds(id, subject, feature, counter, period, period_start, "
        "period_end, amount, created_at, expires_at, expires_ms, idempotency_key, metadata, "
        "draws, units, rate, dimension) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    [ST_HOLD_END] =
        "UPDATE main.ent_holds SET state = ?2, ended_at = ?3, actual = ?4, mode = ?5 WHERE id = "
        "?1 AND state = 'held'",
    [ST_HOLD_EXTEND] =
        "UPDATE main.ent_holds SET expires_at = ?2, expires_ms = ?3 WHERE id = ?1 AND state = "
        "'held'",
    /* a hold's counter: used and the grants' share as ST_COUNTER_ADD, and held */
    [ST_COUNTER_HOLD] =
        "INSERT INTO main.ent_counters(subject, feature, period, period_start, period_end, used, "
        "from_grants, held) VALUES (?1, ?2, ?3, ?4, ?5, ?6, max(?7, 0), ?8) ON CONFLICT(subject, "
        "feature, period, period_start) DO UPDATE SET used = used + excluded.used, from_grants = "
        "max(0, min(from_grants + ?7, used + excluded.used)), held = held + excluded.held",
    [ST_EVENT_INSERT] =
        "INSERT INTO main.ent_events(at, subject, feature, amount, kind, "
        "idempotency_key, metadata, period, period_start, requested, pool, hold) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    /* a priced feature's row (credit.c): the same and what it cost; apart,
    ** so that the hot statement binds and writes no more than it needs */
    [ST_EVENT_INSERT_PRICED] =
        "INSERT INTO main.ent_events(at, subject, feature, amount, kind, "
        "idempotency_key, metadata, period, period_start, requested, pool, hold, currency, "
        "charged, rate, dimension) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [ST_EVENT_BY_KEY] =
        "SELECT feature, amount, kind, requested, hold FROM main.ent_events "
        "WHERE subject = ?1 AND idempotency_key = ?2",
    [ST_SUBJECT_SET_PLAN] =
        "INSERT INTO main.ent_subjects(subject, plan, status) VALUES (?1, ?2, "
        "'active') ON CONFLICT(subject) DO UPDATE SET plan = excluded.plan, "
        "status = 'active', trial_ends_at = NULL",
    [ST_SUBJECT_START_TRIAL] =
        "INSERT INTO main.ent_subjects(subject, plan, status, trial_ends_at) VALUES (?1, ?2, "
        "'trialing', ?3) ON CONFLICT(subject) DO UPDATE SET plan = excluded.plan, "
        "status = 'trialing', trial_ends_at = excluded.trial_ends_at",
};

int ent_cache_open(EntConn *c, EntCache **pp) {
  EntCache *p = sqlite3_malloc(sizeof(*p));
  if (!p) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->conn = c;
  memset(c->bound, 0, sizeof(c->bound));
  c->cache = p;
  *pp = p;
  return SQLITE_OK;
}

void ent_cache_close(EntCache *p) {
  int i;
  if (!p) return;
  for (i = 0; i < ST_COUNT; i++) sqlite3_finalize(p->st[i]);
  /* a statement prepared later may get the same address */
  if (p->conn) memset(p->conn->bound, 0, sizeof(p->conn->bound));
  if (p->conn && p->conn->cache == p) p->conn->cache = 0;
  sqlite3_free(p);
}

/* Connecting the eponymous table is what creates the cache (see summary.c). */
static int cache_instantiate(EntConn *c, EntErr *e) {
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(c->db, "SELECT 1 FROM main.usage_summary WHERE 0", -1, &st, 0);
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) return ent_err_db(e, c->db, rc, "opening the usage_summary table");
  if (!c->cache) {
    return ent_err(e, SQLITE_ERROR,
                   "a table named usage_summary in the main database hides the extension's "
                   "usage_summary virtual table; rename that table");
  }
  return SQLITE_OK;
}

sqlite3_stmt *ent_stmt(EntConn *c, int id, EntErr *e) {
  sqlite3_stmt **slot;
  int rc;
  if (!c->cache && cache_instantiate(c, e) != SQLITE_OK) return 0;
  slot = &c->cache->st[id];
  if (*slot) return *slot;
  rc = sqlite3_prepare_v3(c->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, slot, 0);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(*slot);
    *slot = 0;
    ent_err_db(e, c->db, rc, "preparing a statement");
    return 0;
  }
  return *slot;
}

int ent_stmts_for_writes(EntConn *c, EntErr *e) {
  static const int IDS[] = {ST_RELEASE,
                            ST_ROLLBACK_TO,
                            ST_ROLLBACK_ALL,
                            ST_LOCK,
                            ST_SUBJECT,
                            ST_SUBJECT_COUNTER,
                            ST_COUNTER_GET,
                            ST_COUNTER_ADD,
                            ST_COUNTER_ADD_UNLOGGED,
                            ST_COUNTER_RESET,
                            ST_COUNTER_LOGGED,
                            ST_EVENT_INSERT,
                            ST_EVENT_INSERT_PRICED,
                            ST_EVENT_BY_KEY,
                            ST_GRANTS_ACTIVE,
                            ST_GRANT_BURN,
                            ST_GRANT_INSERT,
                            ST_GRANT_BY_KEY,
                            ST_ROLLOVER_MADE,
                            ST_ROLLOVER_FIRST,
                            ST_ROLLOVER_EVENT,
                            ST_ROLLOVER_HORIZON,
                            ST_ALERT_INSERT,
                            ST_RATE_GET,
                            ST_RATE_PUT,
                            ST_RATE_RESET,
                            ST_OVERRIDE,
                            ST_PARENT,
                            ST_JULIANDAY,
                            ST_COUNTER_UPD_IF,
                            ST_COUNTER_INS_IF,
                            ST_GENS,
                            ST_COUNTER_UNDO_UPD,
                            ST_COUNTER_UNDO_INS,
                            ST_HOLDS_LIVE,
                            ST_HOLDS_DUE,
                            ST_HOLD_GET,
                            ST_HOLD_INSERT,
                            ST_HOLD_END,
                            ST_HOLD_EXTEND,
                            ST_COUNTER_HOLD};
  size_t i;
  if (c->cache && c->cache->writes_ready) return SQLITE_OK;
  for (i = 0; i < sizeof(IDS) / sizeof(IDS[0]); i++) {
    if (!ent_stmt(c, IDS[i], e)) return e->code;
  }
  c->cache->writes_ready = 1;
  return SQLITE_OK;
}

int ent_step_done(EntConn *c, sqlite3_stmt *st, EntErr *e, const char *doing) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_DONE && !sqlite3_stmt_readonly(st)) c->own_changes += sqlite3_changes64(c->db);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return SQLITE_OK;
  return ent_err_db(e, c->db, rc, doing);
}

static int sp_prepare(EntConn *c, const char *verb, const char *name, sqlite3_stmt **out) {
  char sql[64];
  sqlite3_snprintf((int)sizeof(sql), sql, "%s %s", verb, name);
  return sqlite3_prepare_v2(c->db, sql, -1, out, 0);
}

static void sp_finalize(EntSavepoint *sp) {
  sqlite3_finalize(sp->release);
  sqlite3_finalize(sp->rollback_to);
  sqlite3_finalize(sp->rollback);
  sp->release = sp->rollback_to = sp->rollback = 0;
}

/* The statements that end the savepoint are prepared before it opens, so
** that ending it never needs memory (see ent_stmts_for_writes). */
int ent_sp_open(EntConn *c, EntSavepoint *sp, const char *name, EntErr *e) {
  sqlite3_stmt *open = 0;
  int rc;
  memset(sp, 0, sizeof(*sp));
  sp->name = name;
  rc = sp_prepare(c, "SAVEPOINT", name, &open);
  if (rc == SQLITE_OK) rc = sp_prepare(c, "RELEASE", name, &sp->release);
  if (rc == SQLITE_OK) rc = sp_prepare(c, "ROLLBACK TO", name, &sp->rollback_to);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(c->db, "ROLLBACK", -1, &sp->rollback, 0);
  if (rc != SQLITE_OK) {
    ent_err_db(e, c->db, rc, "opening a savepoint");
    sqlite3_finalize(open);
    sp_finalize(sp);
    return e->code;
  }
  sp->began = sqlite3_get_autocommit(c->db);
  rc = sqlite3_step(open);
  sqlite3_finalize(open);
  if (rc == SQLITE_DONE) {
    sp->open = 1;
    return SQLITE_OK;
  }
  sp->began = 0;
  sp_finalize(sp);
  if (rc == SQLITE_BUSY) return SQLITE_OK; /* inside a writing statement */
  return ent_err_db(e, c->db, rc, "opening a savepoint");
}

int ent_sp_close(EntConn *c, EntSavepoint *sp, int ok, EntErr *e) {
  int rc;
  if (!sp->open) return ok ? SQLITE_OK : e->code;
  sp->open = 0;
  if (ok) {
    rc = sqlite3_step(sp->release);
    sqlite3_reset(sp->release);
    if (rc == SQLITE_DONE) {
      sp_finalize(sp);
      return SQLITE_OK;
    }
    ent_err_db(e, c->db, rc, "committing");
  }
  if (sp->began) {
    if (!sqlite3_get_autocommit(c->db)) sqlite3_step(sp->rollback);
  } else {
    sqlite3_step(sp->rollback_to);
    sqlite3_reset(sp->rollback_to);
    sqlite3_step(sp->release);
  }
  sp_finalize(sp);
  return e->code ? e->code : SQLITE_ERROR;
}

/* A call made from a statement that reads no table (SELECT f(...) without
** FROM) runs outside any read transaction, so each of its statements would
** start and end one of its own. Stepping ST_PIN to its row and leaving it
** there holds one read transaction for the whole call. */
int ent_read_begin(EntConn *c) {
  EntErr e = {0};
  sqlite3_stmt *st;
  if (!sqlite3_get_autocommit(c->db) || sqlite3_txn_state(c->db, "main") != SQLITE_TXN_NONE) {
    return 0;
  }
  st = ent_stmt(c, ST_PIN, &e);
  ent_err_clear(&e); /* a missing schema is reported by the call's own statements */
  if (!st || sqlite3_stmt_busy(st)) return 0;
  if (sqlite3_step(st) == SQLITE_ROW) return 1;
  sqlite3_reset(st);
  return 0;
}

static const char unknown[] = "";

void ent_bind_forget(EntConn *c, int slot, int i) {
  if (i < (int)(sizeof(c->bound[slot].p) / sizeof(c->bound[slot].p[0]))) {
    c->bound[slot].p[i] = unknown;
  }
}

/* Static text or NULL only: a pointer into the stack could hold other text
** at the same address on the next call. A statement prepared again (the
** cache reopened) is a new pointer, which forgets what was bound. */
void ent_bind_static(EntConn *c, int slot, sqlite3_stmt *st, int i, const char *z) {
  struct EntBound *b = &c->bound[slot];
  int k;
  if (b->st != st) {
    b->st = st;
    for (k = 0; k < (int)(sizeof(b->p) / sizeof(b->p[0])); k++) b->p[k] = unknown;
  }
  if (i < (int)(sizeof(b->p) / sizeof(b->p[0])) && b->p[i] == z) return;
  if (z) {
    sqlite3_bind_text(st, i, z, -1, SQLITE_STATIC);
  } else {
    sqlite3_bind_null(st, i);
  }
  if (i < (int)(sizeof(b->p) / sizeof(b->p[0]))) b->p[i] = z;
}

void ent_stmt_reset(EntConn *c, int id) {
  if (c->cache && c->cache->st[id]) sqlite3_reset(c->cache->st[id]);
}

void ent_read_end(EntConn *c, int pinned) {
  if (pinned && c->cache && c->cache->st[ST_PIN]) sqlite3_reset(c->cache->st[ST_PIN]);
}
