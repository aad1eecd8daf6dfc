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
  sqlite3_stmt *st[ST_COUNT];
};

/* The plan and the plans it inherits from, nearest first. Load rejects
** cycles; the depth bound keeps a tampered database from looping. */
#define CHAIN_CTE                                                                          \
  "WITH RECURSIVE chain(plan, depth) AS (SELECT ?1, 0 UNION ALL "                          \
  "SELECT p.inherits, chain.depth + 1 FROM chain JOIN ent_plans p ON p.plan = chain.plan " \
  "WHERE p.inherits IS NOT NULL AND chain.depth < 64) "

static const char *const SQL[ST_COUNT] = {
    [ST_SAVEPOINT] = "SAVEPOINT entitlements_call",
    [ST_RELEASE] = "RELEASE entitlements_call",
    [ST_ROLLBACK_TO] = "ROLLBACK TO entitlements_call",
    /* Writes nothing, but a write statement takes the write lock when it
    ** starts: run first, it makes the reads that follow see the latest data
    ** and keeps it so until the call's writes are done. */
    [ST_LOCK] = "UPDATE ent_meta SET value = value WHERE 0",
    [ST_JULIANDAY] = "SELECT julianday(?1)",
    [ST_SCHEMA_VERSION] = "SELECT value FROM ent_meta WHERE key = 'schema_version'",
    [ST_SUBJECT] =
        "SELECT plan, status, trial_ends_at, grace_ends_at, seats, parent, "
        "billing_anchor, bypass FROM ent_subjects WHERE subject = ?1",
    [ST_DEFAULT_PLAN] = "SELECT plan FROM ent_plans WHERE is_default = 1 ORDER BY plan LIMIT 1",
    [ST_PLAN] = "SELECT trial_days FROM ent_plans WHERE plan = ?1",
    [ST_FEATURE] = "SELECT type FROM ent_features WHERE feature = ?1",
    [ST_ENTITLEMENT] = CHAIN_CTE
    "SELECT pf.enabled, pf.quota, pf.period, pf.soft, pf.cap, pf.overage_price, pf.per_seat, "
    "pf.value FROM chain JOIN ent_plan_features pf ON pf.plan = chain.plan AND pf.feature = ?2 "
    "ORDER BY chain.depth LIMIT 1",
    [ST_PLAN_FEATURES] = CHAIN_CTE
    "SELECT f.feature FROM ent_features f WHERE EXISTS ("
    "SELECT 1 FROM chain JOIN ent_plan_features pf ON pf.plan = "
    "chain.plan AND pf.feature = f.feature) ORDER BY f.position",
    [ST_COUNTER_GET] =
        "SELECT used FROM ent_counters WHERE subject = ?1 AND feature = ?2 AND "
        "period = ?3 AND period_start = ?4",
    [ST_COUNTER_ADD] =
        "INSERT INTO ent_counters(subject, feature, period, period_start, "
        "period_end, used, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT(subject, feature, period, period_start) DO UPDATE SET "
        "used = used + excluded.used, updated_at = excluded.updated_at",
    [ST_EVENT_INSERT] =
        "INSERT INTO ent_events(at, subject, feature, amount, kind, "
        "idempotency_key, metadata, period, period_start, requested) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_EVENT_BY_KEY] =
        "SELECT feature, amount, kind, requested FROM ent_events "
        "WHERE subject = ?1 AND idempotency_key = ?2",
    [ST_SUBJECT_SET_PLAN] =
        "INSERT INTO ent_subjects(subject, plan, status) VALUES (?1, ?2, "
        "'active') ON CONFLICT(subject) DO UPDATE SET plan = excluded.plan, "
        "status = 'active', trial_ends_at = NULL",
    [ST_SUBJECT_START_TRIAL] =
        "INSERT INTO ent_subjects(subject, plan, status, trial_ends_at) VALUES (?1, ?2, "
        "'trialing', ?3) ON CONFLICT(subject) DO UPDATE SET plan = excluded.plan, "
        "status = 'trialing', trial_ends_at = excluded.trial_ends_at",
};

int ent_cache_open(EntConn *c, EntCache **pp) {
  EntCache *p = sqlite3_malloc(sizeof(*p));
  if (!p) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->conn = c;
  c->cache = p;
  *pp = p;
  return SQLITE_OK;
}

void ent_cache_close(EntCache *p) {
  int i;
  if (!p) return;
  for (i = 0; i < ST_COUNT; i++) sqlite3_finalize(p->st[i]);
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

int ent_step_done(EntConn *c, sqlite3_stmt *st, EntErr *e, const char *doing) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return SQLITE_OK;
  return ent_err_db(e, c->db, rc, doing);
}
