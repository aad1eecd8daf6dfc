/*
** test_static.c — the extension compiled into a program (-DSQLITE_CORE) and
** registered with sqlite3_auto_extension(), as a mobile or desktop app
** embeds it. Makes thousands of calls of every kind (errors included), then
** asserts that sqlite3_close() returns SQLITE_OK and that
** sqlite3_memory_used() is back to 0: the statement cache is finalized by the
** usage_summary table's disconnect and nothing leaks.
*/
#define TEST_PART "static"
#include "testlib.h"

static int query(sqlite3 *db, const char *sql, char *out, size_t n) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, 0);
  if (out) out[0] = 0;
  if (rc != SQLITE_OK) return rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (out)
      snprintf(out, n, "%s",
               sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "NULL");
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static const char *CONFIG =
    "SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": "
    "{\"images\": {\"limit\": 1000000}, \"sso\": false, \"max_mb\": 10}}, \"pro\": {\"rank\": 1, "
    "\"inherits\": \"free\", \"features\": {\"sso\": true}}}}')";

static void workload(sqlite3 *db, int rounds) {
  char out[256];
  int i, errors = 0, bad = 0;
  check(query(db, CONFIG, out, sizeof(out)) == SQLITE_OK && strcmp(out, "2") == 0, "load");
  check(query(db, "SELECT entitlements_clock('2026-11-22 10:00:00')", 0, 0) == SQLITE_OK, "clock");
  for (i = 0; i < rounds; i++) {
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT consume_quota('u%d', 'images', 1, 'k%d', '{\"i\": %d}')",
             i % 50, i, i);
    if (query(db, sql, 0, 0) != SQLITE_OK) bad++;
    snprintf(sql, sizeof(sql), "SELECT plan_allows('u%d', 'sso') + plan_allows('u%d', 'max_mb', 5)",
             i % 50, i % 50);
    if (query(db, sql, 0, 0) != SQLITE_OK) bad++;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM usage_summary WHERE subject = 'u%d'", i % 50);
    if (query(db, sql, 0, 0) != SQLITE_OK) bad++;
    if (i % 10 == 0) {
      snprintf(sql, sizeof(sql), "SELECT entitlements('u%d'), entitlement('u%d', 'images')", i, i);
      if (query(db, sql, 0, 0) != SQLITE_OK) bad++;
      if (query(db, "SELECT subject_set_plan('t', 'pro'), refund_quota('u1', 'images', 1)", 0, 0) !=
          SQLITE_OK) {
        bad++;
      }
      /* errors must not leak either */
      if (query(db, "SELECT consume_quota(NULL, 'images')", 0, 0) == SQLITE_ERROR) errors++;
      if (query(db, "SELECT entitlements_load('{bad')", 0, 0) == SQLITE_ERROR) errors++;
      if (query(db, "SELECT consume_quota('u1', 'nope')", 0, 0) == SQLITE_ERROR) errors++;
    }
  }
  check(bad == 0, "every call in the workload succeeds");
  check(errors == 3 * ((rounds + 9) / 10), "every bad call fails with SQLITE_ERROR");
  check(query(db, "SELECT entitlements_check()", out, sizeof(out)) == SQLITE_OK &&
            strcmp(out, "ok") == 0,
        "counters equal the ledger after the workload");
  check(query(db, "SELECT entitlements_config()", 0, 0) == SQLITE_OK, "config");
}

int main(void) {
  sqlite3 *db = 0;
  char out[64];
  int rc;

  check(sqlite3_auto_extension((void (*)(void))sqlite3_entitlements_init) == SQLITE_OK,
        "sqlite3_auto_extension");

  /* an in-memory database, used hard, then closed */
  rc = sqlite3_open(":memory:", &db);
  check(rc == SQLITE_OK, "open :memory:");
  check(query(db, "SELECT entitlements_version()", out, sizeof(out)) == SQLITE_OK &&
            strcmp(out, "0.1.0") == 0,
        "the statically registered extension answers");
  workload(db, 5000);
  check(sqlite3_close(db) == SQLITE_OK, "sqlite3_close() returns SQLITE_OK after 5000 rounds");

  /* a file database with a reader holding a cursor on usage_summary closed first */
  remove("dist/test-tmp/static.db");
  rc = sqlite3_open("dist/test-tmp/static.db", &db);
  check(rc == SQLITE_OK, "open a file");
  workload(db, 300);
  {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT * FROM usage_summary", -1, &st, 0);
    check(sqlite3_step(st) == SQLITE_ROW, "a full scan of usage_summary has rows");
    sqlite3_finalize(st);
  }
  check(sqlite3_close(db) == SQLITE_OK, "sqlite3_close() of a file database returns SQLITE_OK");

  /* registering twice on one connection (a reload) neither leaks nor breaks */
  rc = sqlite3_open(":memory:", &db);
  check(query(db, "SELECT entitlements_init()", 0, 0) == SQLITE_OK, "init");
  check(query(db, "SELECT count(*) FROM usage_summary", 0, 0) == SQLITE_OK, "vtab before reload");
  check(sqlite3_entitlements_init(db, 0, 0) == SQLITE_OK, "register again on the same connection");
  workload(db, 50);
  check(sqlite3_close(db) == SQLITE_OK, "close after a reload returns SQLITE_OK");

  /* SQLITE_DBCONFIG_DEFENSIVE (no writes to the schema or shadow tables by
  ** plain SQL) changes nothing the extension does */
  rc = sqlite3_open(":memory:", &db);
  check(sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0) == SQLITE_OK,
        "turn on SQLITE_DBCONFIG_DEFENSIVE");
  workload(db, 200);
  check(sqlite3_close(db) == SQLITE_OK, "close after the defensive workload");

  /* Triggers turned off on the connection (SQLITE_DBCONFIG_ENABLE_TRIGGER):
  ** its own plain-SQL change of a subject's plan moves no generation, so
  ** the memo must not answer from what it remembered. */
  rc = sqlite3_open(":memory:", &db);
  check(rc == SQLITE_OK && query(db, CONFIG, 0, 0) == SQLITE_OK &&
            query(db, "INSERT INTO ent_subjects(subject, plan) VALUES ('t', 'pro')", 0, 0) ==
                SQLITE_OK,
        "a subject on pro");
  check(query(db, "SELECT plan_allows('t', 'sso'), plan_allows('t', 'sso')", out, sizeof(out)) ==
                SQLITE_OK &&
            strcmp(out, "1") == 0,
        "pro allows sso (and the memo remembers the subject)");
  check(
      sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)0) == SQLITE_OK &&
          query(db, "UPDATE ent_subjects SET plan = 'free' WHERE subject = 't'", 0, 0) == SQLITE_OK,
      "with triggers off, the plan changed by plain SQL");
  check(query(db, "SELECT plan_allows('t', 'sso')", out, sizeof(out)) == SQLITE_OK &&
            strcmp(out, "0") == 0,
        "the next call sees the new plan, not the remembered one");
  check(sqlite3_close(db) == SQLITE_OK, "close after the triggers-off case");

  /* a connection that never used the extension */
  rc = sqlite3_open(":memory:", &db);
  check(rc == SQLITE_OK && sqlite3_close(db) == SQLITE_OK, "an unused connection closes");

  sqlite3_reset_auto_extension();
  check(sqlite3_memory_used() == 0, "sqlite3_memory_used() is 0 after every connection closed");
  if (sqlite3_memory_used() != 0) printf("  memory used: %lld\n", (long long)sqlite3_memory_used());
  return report();
}
