/*
** fuzz_calls.c — libFuzzer: bytes become a sequence of calls (consume, try,
** record, refund, usage_events INSERTs, holds (reserve, settle in each mode,
** release, extend), grants of both categories and their voiding, clock
** moves, plan and status changes, transactions, purges, and reads of every
** table), on a fixed configuration
** with hard, soft, capped, unlimited, per-seat, lifetime and rate features.
**
** After each sequence the invariants must hold:
**  - every error is an "entitlements: " error (or a denial), never another;
**  - entitlements_check() is 'ok' (counters equal the ledger);
**  - no counter of the hard feature exceeds its quota (5 in every plan);
**  - nothing shows a negative remaining;
**  - the connection closes with SQLITE_OK.
*/
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_db.h"

static const char *CONFIG =
    "SELECT entitlements_load('{\"currencies\": {\"credits\": {\"decimals\": 1, \"rollover\": "
    "{\"max\": 5}}}, \"features\": {\"lim\": {\"type\": \"rate\"}, \"size\": {\"type\": "
    "\"config\"}, \"soft\": {\"type\": \"metered\", \"rollover\": {\"max\": 2, "
    "\"expires_after\": 2}}, "
    "\"gen\": {\"type\": \"metered\", \"currency\": \"credits\", \"rate\": \"0.3\"}, "
    "\"chat\": {\"type\": \"metered\", \"currency\": \"credits\", \"per\": 4, \"rates\": "
    "{\"by\": \"model\", \"values\": {\"a\": \"1\", \"b\": \"2.5\"}}}}, \"plans\": {"
    "\"free\": {\"rank\": 0, \"default\": true, \"features\": {"
    "\"credits\": {\"limit\": 50, \"period\": \"day\"}, \"chat\": {\"limit\": 20}, "
    "\"hard\": {\"limit\": 5, \"period\": \"day\"}, "
    "\"soft\": {\"limit\": 3, \"soft\": true, \"cap\": 8, \"overage_price\": \"0.5\"}, "
    "\"unl\": {\"limit\": null}, \"seat\": {\"limit\": 2, \"per_seat\": true}, "
    "\"life\": {\"limit\": 4, \"period\": \"lifetime\", \"ledger\": false}, "
    "\"lim\": {\"limit\": 3, \"period\": \"minute\", \"burst\": 2}, "
    "\"flag\": false, \"size\": 10}}, "
    "\"pro\": {\"rank\": 2, \"inherits\": \"free\", \"features\": {"
    "\"soft\": {\"limit\": 10, \"soft\": true}, \"seat\": {\"limit\": 5, \"per_seat\": true}, "
    "\"life\": {\"limit\": 10, \"period\": \"lifetime\"}, "
    "\"lim\": {\"limit\": 6, \"period\": 30, \"burst\": 3}, \"flag\": true, \"size\": 100}}, "
    "\"cheap\": {\"rank\": 1, \"features\": {\"hard\": {\"limit\": 5, \"period\": \"hour\"}, "
    "\"lim\": false}}}}')";

static const char *const FEATURES[] = {"hard", "soft", "unl", "seat", "life", "lim"};
static const char *const PLANS[] = {"free", "pro", "cheap"};
static const char *const STATUSES[] = {"active", "trialing", "past_due", "canceled", "paused"};

/* Runs one statement with up to four bound values; any error but ours aborts. */
static void run(sqlite3 *db, const char *sql, const char *a, const char *b, sqlite3_int64 n,
                const char *k) {
  sqlite3_stmt *st;
  int rc;
  if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) {
    fprintf(stderr, "prepare: %s: %s\n", sql, sqlite3_errmsg(db));
    abort();
  }
  if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
  if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, n);
  if (k) sqlite3_bind_text(st, 4, k, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int i;
    for (i = 0; i < sqlite3_column_count(st); i++) {
      if (sqlite3_column_type(st, i) == SQLITE_INTEGER &&
          strstr(sqlite3_column_name(st, i), "remaining") && sqlite3_column_int64(st, i) < 0) {
        fprintf(stderr, "negative remaining from %s\n", sql);
        abort();
      }
    }
  }
  if (rc != SQLITE_DONE && strncmp(sqlite3_errmsg(db), "entitlements: ", 14) != 0) {
    fprintf(stderr, "unexpected error %d from %s: %s\n", rc, sql, sqlite3_errmsg(db));
    abort();
  }
  sqlite3_finalize(st);
}

static sqlite3_int64 scalar(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  sqlite3_int64 v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) abort();
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sqlite3 *db;
  size_t i;
  int in_txn = 0;
  sqlite3_int64 clock = 1795341600; /* 2026-11-22 10:00:00 */
  char subject[8], key[8], clk[32];
  if (size > 3 * 400) return 0;
  if (!image) {
    char *setup = sqlite3_mprintf(
        "%s; INSERT INTO ent_subjects(subject, plan) VALUES ('s0', 'free'), ('s1', 'pro'), "
        "('s2', 'cheap'); INSERT INTO ent_subjects(subject, parent) VALUES ('s3', 's2')",
        CONFIG);
    db = fresh_db(setup);
    sqlite3_free(setup);
  } else {
    db = fresh_db(0);
  }
  for (i = 0; i + 3 <= size; i += 3) {
    int op = data[i] % 25, a = data[i + 1], b = data[i + 2];
    const char *feature = FEATURES[(a / 4) % 6];
    snprintf(subject, sizeof(subject), "s%d", a % 4);
    snprintf(key, sizeof(key), "k%d", b % 5);
    snprintf(clk, sizeof(clk), "%lld", (long long)clock);
    run(db, "SELECT entitlements_clock(CAST(?1 AS INTEGER))", clk, 0, 0, 0);
    switch (op) {
      case 0:
        run(db, "SELECT consume_quota(?1, ?2, ?3, ?4)", subject, feature, b % 7,
            (b & 0x80) ? key : 0);
        break;
      case 1:
        run(db, "SELECT try_consume_quota(?1, ?2, ?3)", subject, feature, b % 7, 0);
        break;
      case 2: /* never on 'hard': its invariant is about what was granted */
        run(db, "SELECT record_usage(?1, ?2, ?3, ?4)", subject,
            strcmp(feature, "hard") ? feature : "soft", b % 7, (b & 0x80) ? key : 0);
        break;
      case 3:
        run(db, "SELECT refund_quota(?1, ?2, ?3, ?4)", subject, feature, b % 7,
            (b & 0x80) ? key : 0);
        break;
      case 4:
        clock += (sqlite3_int64)a * (b % 4 == 0 ? 1 : b % 4 == 1 ? 60 : b % 4 == 2 ? 3600 : 86400);
        break;
      case 5:
        run(db, "SELECT subject_set_plan(?1, ?2)", subject, PLANS[b % 3], 0, 0);
        break;
      case 6:
        run(db,
            "UPDATE ent_subjects SET status = ?2, trial_ends_at = entitlements_clock(), "
            "grace_ends_at = NULL WHERE subject = ?1",
            subject, STATUSES[b % 5], 0, 0);
        break;
      case 7:
        run(db, "UPDATE ent_subjects SET seats = ?3 WHERE subject = ?1", subject, 0, 1 + b % 4, 0);
        break;
      case 8:
        if (!in_txn) {
          run(db, b % 2 ? "BEGIN IMMEDIATE" : "BEGIN", 0, 0, 0, 0);
        } else {
          run(db, b % 3 ? "COMMIT" : "ROLLBACK", 0, 0, 0, 0);
        }
        in_txn = sqlite3_get_autocommit(db) == 0;
        break;
      case 9:
        run(db, "SELECT subject, feature, used, quota, remaining FROM usage_summary", 0, 0, 0, 0);
        run(db, "SELECT remaining FROM usage_summary WHERE subject = ?1 AND feature = ?2", subject,
            feature, 0, 0);
        break;
      case 10:
        run(db,
            "SELECT plan_allows(?1, ?2, ?3), plan_allows(?1, 'flag'), plan_allows(?1, 'size', ?3)",
            subject, feature, b % 9, 0);
        break;
      case 11:
        run(db,
            "SELECT entitlement(?1, ?2), entitlements(?1), quota_remaining(?1, ?2) AS remaining",
            subject, feature, 0, 0);
        break;
      case 12:
        run(db,
            "INSERT INTO usage_events(subject, feature, amount, kind, idempotency_key) VALUES "
            "(?1, ?2, ?3, CASE ?3 % 3 WHEN 0 THEN 'consume' WHEN 1 THEN 'refund' ELSE 'consume' "
            "END, ?4)",
            subject, feature, b % 5, (b & 0x80) ? key : 0);
        break;
      case 13:
        run(db, "SELECT * FROM usage_history(?1, NULL, ?2)", subject,
            (const char *[]){"day", "week", "month", "hour"}[b % 4], 0, 0);
        break;
      case 14:
        if (a == 0) run(db, "SELECT usage_purge(entitlements_clock(), 'all')", 0, 0, 0, 0);
        break;
      case 15:
        run(db, "SELECT * FROM usage_events WHERE subject = ?1", subject, 0, 0, 0);
        break;
      case 16: /* a hold that lives 1 to 30 minutes */
        run(db, "SELECT quota_reserve(?1, ?2, ?3, 60 * (1 + ?3 * 5), ?4)", subject, feature, b % 7,
            (b & 0x80) ? key : 0);
        break;
      case 17: /* the subject's last hold settled; 'cap' (past the quota) never on 'hard' */
        run(db,
            "SELECT quota_settle(h.id, ?3, CASE WHEN ?3 % 3 = 0 AND h.feature <> 'hard' THEN 'cap' "
            "WHEN ?3 % 3 = 1 THEN 'reject' ELSE 'overflow' END) FROM (SELECT id, feature FROM "
            "ent_holds WHERE subject = ?1 ORDER BY rowid DESC LIMIT 1) h",
            subject, 0, b % 9, 0);
        break;
      case 18:
        run(db,
            "SELECT quota_release(id) FROM (SELECT id FROM ent_holds WHERE subject = ?1 ORDER BY "
            "rowid DESC LIMIT 1)",
            subject, 0, 0, 0);
        break;
      case 19:
        run(db,
            "SELECT quota_extend(id, 60 * ?3) FROM (SELECT id FROM ent_holds WHERE subject = ?1 "
            "ORDER BY rowid ASC LIMIT 1)",
            subject, 0, b % 4, 0);
        break;
      case 20: /* grants add to the quota: never on 'hard', whose invariant is the quota */
        run(db,
            "SELECT grant_quota(?1, ?2, ?3, NULL, NULL, 0, NULL, CASE ?3 % 2 WHEN 0 THEN "
            "'promotional' ELSE 'paid' END)",
            subject, strcmp(feature, "hard") ? feature : "soft", b % 5, 0);
        break;
      case 21:
        run(db, "SELECT grant_void((SELECT max(id) FROM ent_grants WHERE subject = ?1))", subject,
            0, 0, 0);
        break;
      case 22: /* priced in credits: a model with a rate, one without, none */
        run(db,
            "SELECT CASE ?3 % 4 WHEN 0 THEN consume_quota(?1, ?2, ?3 / 4, ?4, '{\"model\": "
            "\"a\"}') WHEN 1 THEN consume_quota_upto(?1, ?2, ?3 / 4, ?4, '{\"model\": \"b\"}') "
            "WHEN 2 THEN try_consume_quota(?1, ?2, ?3 / 4, ?4, '{\"model\": \"c\"}') ELSE "
            "record_usage(?1, ?2, ?3 / 4, ?4) END",
            subject, (b & 0x40) ? "chat" : "gen", b % 64, (b & 0x80) ? key : 0);
        break;
      case 23: /* a priced hold: on credits, for what the units cost */
        run(db,
            "SELECT quota_reserve(?1, ?2, 1 + ?3 % 9, 60 * (1 + ?3 % 30), ?4, '{\"model\": "
            "\"b\"}')",
            subject, (b & 0x40) ? "chat" : "gen", b, (b & 0x80) ? key : 0);
        break;
      default:
        run(db,
            "SELECT quota_estimate(?1, ?2, ?3, '{\"model\": \"a\"}'), quota_remaining(?1, ?2), "
            "plan_allows(?1, ?2, ?3), entitlement(?1, 'credits')",
            subject, (b & 0x40) ? "chat" : "gen", b % 30, 0);
        break;
    }
    in_txn = sqlite3_get_autocommit(db) == 0;
  }
  if (in_txn) sqlite3_exec(db, "COMMIT", 0, 0, 0);
  {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT entitlements_check()", -1, &st, 0);
    if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok")) {
      fprintf(stderr, "entitlements_check: %s\n", sqlite3_column_text(st, 0));
      abort();
    }
    sqlite3_finalize(st);
  }
  if (scalar(db, "SELECT coalesce(max(used), 0) FROM ent_counters WHERE feature = 'hard'") > 5) {
    fprintf(stderr, "a hard quota was exceeded\n");
    abort();
  }
  if (sqlite3_close(db) != SQLITE_OK) abort();
  return 0;
}
