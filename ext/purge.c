/*
** purge.c — retention: usage_purge(before [, 'events' | 'all']) drops the
** ledger rows (and ended holds) older than a time, and with 'all' the
** counters and alerts of periods that ended by then; the horizon it leaves
** in ent_meta tells entitlements_check() which periods are still complete.
*/
#include <string.h>

#include "ent.h"

/* usage_purge(before [, 'events' | 'all']): retention. Ledger rows older
** than `before` go; with 'all' also counters of periods that ended by then.
** The horizon is kept in ent_meta so entitlements_check() compares only the
** periods whose ledger is still complete. */
static void fn_purge(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  static const char *const SQL[] = {
      /* first, every hold that expired by now (?2) is recorded as such, as
      ** the next write to its counter would (hold.c): its ledger row, its
      ** counter's held, its state; then the rows before ?1 can go */
      "INSERT INTO main.ent_events(at, subject, feature, amount, kind, metadata, period, "
      "period_start, pool, hold) SELECT substr(expires_at, 1, 19), subject, feature, amount, "
      "'expire', metadata, period, period_start, CASE WHEN counter <> subject THEN counter END, "
      "id FROM main.ent_holds WHERE state = 'held' AND expires_ms <= ?2 ORDER BY expires_ms, "
      "rowid",
      "UPDATE main.ent_counters AS c SET held = held - (SELECT coalesce(sum(amount), 0) FROM "
      "main.ent_holds h WHERE h.state = 'held' AND h.expires_ms <= ?2 AND h.counter = c.subject "
      "AND h.feature = c.feature AND h.period = c.period AND h.period_start = c.period_start) "
      "WHERE held <> 0",
      "UPDATE main.ent_holds SET state = 'expired', ended_at = expires_at WHERE state = 'held' "
      "AND expires_ms <= ?2",
      "DELETE FROM main.ent_events WHERE at < ?1",
      /* ended holds go with their ledger rows; live ones stay */
      "DELETE FROM main.ent_holds WHERE state <> 'held' AND ended_at < ?1",
      "DELETE FROM main.ent_counters WHERE period_end IS NOT NULL AND period_end <= ?1 AND "
      "held = 0",
      "DELETE FROM main.ent_alerts WHERE period_end IS NOT NULL AND period_end <= ?1",
      "INSERT INTO main.ent_meta(key, value) VALUES ('purge_horizon', ?1) ON CONFLICT(key) DO "
      "UPDATE SET value = max(value, excluded.value)",
      /* 'all': periods that ended by then may have lost their counters; what
      ** they left unused is not known, so they roll nothing over (rollover.c) */
      "INSERT INTO main.ent_meta(key, value) VALUES ('counters_horizon', ?1) ON CONFLICT(key) DO "
      "UPDATE SET value = max(value, excluded.value)",
  };
  enum { N = sizeof(SQL) / sizeof(SQL[0]) };
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  char before[32];
  int64_t ms, deleted = 0, now = ent_now(c);
  int all = 0, i, rc = SQLITE_OK;
  sqlite3_stmt *st[N] = {0};
  EntSavepoint sp;
  memset(&sp, 0, sizeof(sp));
  if (!ent_argc(ctx, argc, 1, 2, "usage_purge(before [, 'events' | 'all'])")) return;
  if (argc == 2 && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
    const char *m = (const char *)sqlite3_value_text(argv[1]);
    all = m && strcmp(m, "all") == 0;
    if (!m || (!all && strcmp(m, "events") != 0)) {
      ent_err(&e, SQLITE_ERROR,
              "usage_purge: what to purge is 'events' (the default: ledger rows) or 'all' "
              "(also counters of ended periods), not '%s'",
              m ? m : "");
      ent_result_err(ctx, &e);
      return;
    }
  }
  if (ent_time_value(c, argv[0], "usage_purge: before", &ms, &e) != SQLITE_OK ||
      ent_schema_verify(c, &e) != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  ent_fmt_time(ms, 0, before);
  /* every statement prepared before the first delete (see ent_stmts_for_writes) */
  for (i = 0; i < N && rc == SQLITE_OK; i++) rc = sqlite3_prepare_v2(c->db, SQL[i], -1, &st[i], 0);
  if (rc == SQLITE_OK && ent_sp_open(c, &sp, "entitlements_purge", &e) != SQLITE_OK) {
    for (i = 0; i < N; i++) sqlite3_finalize(st[i]);
    ent_result_err(ctx, &e);
    return;
  }
  for (i = 0; i < N && rc == SQLITE_OK; i++) {
    if ((i == 5 || i == 6 || i == N - 1) && !all) continue;
    if (i < 3) {
      sqlite3_bind_int64(st[i], 2, now);
    } else {
      sqlite3_bind_text(st[i], 1, before, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st[i]) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
    if (i >= 3 && i < N - 2) deleted += sqlite3_changes(c->db);
  }
  if (rc != SQLITE_OK) ent_err_db(&e, c->db, rc, "purging the ledger");
  for (i = 0; i < N; i++) sqlite3_finalize(st[i]);
  if (ent_sp_close(c, &sp, rc == SQLITE_OK, &e) != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  sqlite3_result_int64(ctx, deleted);
}

int ent_register_purge(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {{"usage_purge", fn_purge}};
  return ent_register_fns(db, c, fns, 1);
}
