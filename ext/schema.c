/*
** schema.c — the schema's life: entitlements_init() creates or migrates the
** ent_* tables (DDL from sql/schema.sql, compiled in), and
** entitlements_check() audits them: counters against the ledger, negative
** balances, subjects on missing plans, parent cycles.
*/
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "ent.h"
#include "schema_sql.h" /* generated from sql/schema.sql: ENT_SCHEMA_SQL */

/* Version 0 means the tables do not exist. */
static int schema_version(EntConn *c, int64_t *out, EntErr *e) {
  sqlite3_stmt *st = 0;
  int rc = sqlite3_prepare_v2(c->db,
                              "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = "
                              "'ent_meta'",
                              -1, &st, 0);
  *out = 0;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = 0;
    if (rc == SQLITE_ROW) {
      rc = sqlite3_prepare_v2(c->db, "SELECT value FROM main.ent_meta WHERE key = 'schema_version'",
                              -1, &st, 0);
      if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        *out = rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER
                   ? sqlite3_column_int64(st, 0)
                   : -1;
        if (rc == SQLITE_ROW) rc = SQLITE_DONE;
      }
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) return ent_err_db(e, c->db, rc, "reading the schema version");
  if (*out < 0) {
    return ent_err(e, SQLITE_ERROR,
                   "ent_meta has no valid schema_version; this database's entitlements tables "
                   "were altered by hand; restore ent_meta's 'schema_version' row");
  }
  return SQLITE_OK;
}

static int newer_schema(EntErr *e, int64_t v) {
  return ent_err(e, SQLITE_ERROR,
                 "this database has entitlements schema version %lld, newer than version %d "
                 "that this extension (%s) knows; load a newer entitlements extension",
                 (long long)v, ENT_SCHEMA_VERSION, ENT_VERSION);
}

/* For functions that only read: the tables must exist and not be newer. */
int ent_schema_verify(EntConn *c, EntErr *e) {
  int64_t v;
  if (schema_version(c, &v, e) != SQLITE_OK) return e->code;
  if (v == 0) {
    return ent_err(e, SQLITE_ERROR,
                   "the entitlements tables are missing from this database; run SELECT "
                   "entitlements_init() or entitlements_load(...) first");
  }
  if (v > ENT_SCHEMA_VERSION) return newer_schema(e, v);
  if (v < ENT_SCHEMA_VERSION) {
    /* its statements would name columns the old tables lack */
    return ent_err(e, SQLITE_ERROR,
                   "this database has entitlements schema version %lld, older than version %d "
                   "that this extension (%s) uses; run SELECT entitlements_init() once (or "
                   "entitlements_load(...)) to migrate it in place",
                   (long long)v, ENT_SCHEMA_VERSION, ENT_VERSION);
  }
  return SQLITE_OK;
}

/* Version 1 to 2: alerts are keyed by period as well as its start, and
** carry the period's end (for usage_purge); time columns refuse 'now' and
** impossible days; override values must be JSON. Triggers are dropped here
** (the configuration's in 2 to 3) and recreated by the DDL. */
static const char MIGRATE_1_TO_2[] =
    "ALTER TABLE main.ent_alerts ADD COLUMN period TEXT;"
    "ALTER TABLE main.ent_alerts ADD COLUMN period_end TEXT;"
    "DROP INDEX IF EXISTS main.ent_alerts_once;"
    "DROP TRIGGER IF EXISTS main.ent_subjects_insert;"
    "DROP TRIGGER IF EXISTS main.ent_subjects_update;"
    "DROP TRIGGER IF EXISTS main.ent_overrides_insert;"
    "DROP TRIGGER IF EXISTS main.ent_overrides_update;";

/* Version 2 to 3 (a version-1 database takes both steps): the configuration's triggers also set
 *subjects_generation
 ** (memo.c); the DDL recreates them and adds the subjects' triggers. */
static const char MIGRATE_2_TO_3[] =
    "DROP TRIGGER IF EXISTS main.ent_features_gen_i;"
    "DROP TRIGGER IF EXISTS main.ent_features_gen_u;"
    "DROP TRIGGER IF EXISTS main.ent_features_gen_d;"
    "DROP TRIGGER IF EXISTS main.ent_plans_gen_i;"
    "DROP TRIGGER IF EXISTS main.ent_plans_gen_u;"
    "DROP TRIGGER IF EXISTS main.ent_plans_gen_d;"
    "DROP TRIGGER IF EXISTS main.ent_plan_features_gen_i;"
    "DROP TRIGGER IF EXISTS main.ent_plan_features_gen_u;"
    "DROP TRIGGER IF EXISTS main.ent_plan_features_gen_d;";

/* Version 3 to 4 needs no step of its own: the DDL adds the indexes
** ent_counters_current (usage_summary's one read of a subject's current
** counters; schema 5 drops it, ent_counters' own key now begins with
** subject, period_start) and ent_subjects_lookup (every column a call reads
** of a subject, so that resolving one is a single probe). */

/* Version 4 to 5 (older versions take it too): besides the triggers above,
** ent_counters becomes a rowid
** table (why: sql/schema.sql). SQLite's way to change a table's kind: the
** old one is renamed aside, the DDL creates the new one, the rows are copied
** and the old table dropped. The app's own indexes and triggers on
** ent_counters would go with the old table, so their SQL is read first and
** run again at the end. The rename runs with legacy_alter_table on so that
** the app's views and other triggers, which name ent_counters, are not
** rewritten to follow the old table, and are not parsed while it is aside. */
/* The generation triggers count two changes from schema 5 on (memo.c,
** sql/schema.sql); the DDL creates them again. */
static const char MIGRATE_4_TO_5[] =
    "DROP TRIGGER IF EXISTS main.ent_subjects_gen_i;"
    "DROP TRIGGER IF EXISTS main.ent_subjects_gen_u;"
    "DROP TRIGGER IF EXISTS main.ent_subjects_gen_d;"
    "DROP TRIGGER IF EXISTS main.ent_overrides_gen_i;"
    "DROP TRIGGER IF EXISTS main.ent_overrides_gen_u;"
    "DROP TRIGGER IF EXISTS main.ent_overrides_gen_d;"
    "DROP TRIGGER IF EXISTS main.ent_grants_gen_i;"
    "DROP TRIGGER IF EXISTS main.ent_grants_gen_u;"
    "DROP TRIGGER IF EXISTS main.ent_grants_gen_d;"
    "DROP TRIGGER IF EXISTS main.ent_meta_gen_i;"
    "DROP TRIGGER IF EXISTS main.ent_meta_gen_u;"
    "DROP TRIGGER IF EXISTS main.ent_meta_gen_d;";

/* Version 5 to 6: holds (hold.c) and grant categories (grant.c). The ledger
** gains the hold column, a schema-5 counter table its held column (one of
** schema 1 to 4 is rebuilt with them, below), ent_grants three; the DDL adds
** ent_holds. Each column only where it is
** missing: a version edited by hand, or a table the DDL just created, may
** have it already. */
static int table_exists(EntConn *c, const char *name) {
  sqlite3_stmt *st = 0;
  int exists = 0;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?1", -1,
                         &st, 0) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    exists = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  return exists;
}

/* Columns added since schema 5, each only where it is missing (a database
** may stop at any version in between). */
static const struct {
  const char *table, *probe, *add;
} MIGRATE_COLUMNS[] = {
    /* 6: holds (hold.c) */
    {"ent_events", "SELECT hold FROM main.ent_events",
     "ALTER TABLE main.ent_events ADD COLUMN hold TEXT"},
    {"ent_counters", "SELECT held FROM main.ent_counters",
     "ALTER TABLE main.ent_counters ADD COLUMN held INTEGER NOT NULL DEFAULT 0"},
    /* 6: grant categories and voiding (grant.c) */
    {"ent_grants", "SELECT category FROM main.ent_grants",
     "ALTER TABLE main.ent_grants ADD COLUMN category TEXT NOT NULL DEFAULT 'paid' CHECK "
     "(category IN ('promotional', 'paid'))"},
    {"ent_grants", "SELECT voided_at FROM main.ent_grants",
     "ALTER TABLE main.ent_grants ADD COLUMN voided_at TEXT"},
    {"ent_grants", "SELECT void_reason FROM main.ent_grants",
     "ALTER TABLE main.ent_grants ADD COLUMN void_reason TEXT"},
    /* 7: currencies (currency.c, credit.c) */
    {"ent_features", "SELECT decimals FROM main.ent_features",
     "ALTER TABLE main.ent_features ADD COLUMN decimals INTEGER"},
    {"ent_features", "SELECT pricing FROM main.ent_features",
     "ALTER TABLE main.ent_features ADD COLUMN pricing TEXT"},
    {"ent_events", "SELECT currency FROM main.ent_events",
     "ALTER TABLE main.ent_events ADD COLUMN currency TEXT"},
    {"ent_events", "SELECT charged FROM main.ent_events",
     "ALTER TABLE main.ent_events ADD COLUMN charged INTEGER"},
    {"ent_events", "SELECT rate FROM main.ent_events",
     "ALTER TABLE main.ent_events ADD COLUMN rate TEXT"},
    {"ent_events", "SELECT dimension FROM main.ent_events",
     "ALTER TABLE main.ent_events ADD COLUMN dimension TEXT"},
    {"ent_holds", "SELECT draws FROM main.ent_holds",
     "ALTER TABLE main.ent_holds ADD COLUMN draws TEXT"},
    {"ent_holds", "SELECT units FROM main.ent_holds",
     "ALTER TABLE main.ent_holds ADD COLUMN units INTEGER"},
    {"ent_holds", "SELECT rate FROM main.ent_holds",
     "ALTER TABLE main.ent_holds ADD COLUMN rate TEXT"},
    {"ent_holds", "SELECT dimension FROM main.ent_holds",
     "ALTER TABLE main.ent_holds ADD COLUMN dimension TEXT"},
    {"ent_plans", "SELECT spend_cap FROM main.ent_plans",
     "ALTER TABLE main.ent_plans ADD COLUMN spend_cap TEXT"},
    /* 8: rollover (rollover.c); ent_grants is rebuilt for its CHECK, below */
    {"ent_features", "SELECT rollover FROM main.ent_features",
     "ALTER TABLE main.ent_features ADD COLUMN rollover TEXT"},
};

static int add_missing_columns(EntConn *c, char **msg) {
  size_t i;
  int rc = SQLITE_OK;
  for (i = 0; rc == SQLITE_OK && i < sizeof(MIGRATE_COLUMNS) / sizeof(MIGRATE_COLUMNS[0]); i++) {
    sqlite3_stmt *st = 0;
    /* fails (no such table or column) unless the column is there */
    int has = sqlite3_prepare_v2(c->db, MIGRATE_COLUMNS[i].probe, -1, &st, 0) == SQLITE_OK;
    sqlite3_finalize(st);
    /* a missing table is created by the DDL, with the column */
    if (!has && table_exists(c, MIGRATE_COLUMNS[i].table)) {
      rc = sqlite3_exec(c->db, MIGRATE_COLUMNS[i].add, 0, 0, msg);
    }
  }
  return rc;
}

typedef struct AppObjects {
  char **sql;
  int n;
} AppObjects;

static void app_objects_free(AppObjects *o) {
  int i;
  for (i = 0; i < o->n; i++) sqlite3_free(o->sql[i]);
  sqlite3_free(o->sql);
  o->sql = 0;
  o->n = 0;
}

/* Whether ent_counters is still the WITHOUT ROWID table of schema 1 to 4
** (not when it is missing: the DDL creates it). */
static int counters_without_rowid(EntConn *c) {
  sqlite3_stmt *st = 0;
  int rowid;
  if (!table_exists(c, "ent_counters")) return 0;
  rowid = sqlite3_prepare_v2(c->db, "SELECT rowid FROM main.ent_counters", -1, &st, 0) == SQLITE_OK;
  sqlite3_finalize(st);
  return !rowid;
}

/* Renames `table` aside as `aside`, first keeping the SQL of its indexes
** and triggers (but `skip`) to run again once the DDL has made the new one. */
static int table_aside(EntConn *c, const char *table, const char *aside, const char *skip,
                       AppObjects *o, char **msg) {
  sqlite3_stmt *st = 0;
  int rc, legacy = 0;
  char *sql;
  rc = sqlite3_prepare_v2(c->db,
                          "SELECT sql FROM main.sqlite_master WHERE tbl_name = ?1 AND "
                          "type IN ('index', 'trigger') AND sql IS NOT NULL AND name <> ?2 "
                          "ORDER BY rowid",
                          -1, &st, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, skip, -1, SQLITE_STATIC);
  }
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    char **grown = sqlite3_realloc64(o->sql, sizeof(char *) * (size_t)(o->n + 1));
    sql = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
    if (grown) o->sql = grown;
    if (!grown || !sql) {
      sqlite3_free(sql);
      rc = SQLITE_NOMEM;
      break;
    }
    o->sql[o->n++] = sql;
    rc = SQLITE_OK;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  sqlite3_finalize(st);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_db_config(c->db, SQLITE_DBCONFIG_LEGACY_ALTER_TABLE, -1, &legacy);
  if (rc == SQLITE_OK) rc = sqlite3_db_config(c->db, SQLITE_DBCONFIG_LEGACY_ALTER_TABLE, 1, 0);
  if (rc != SQLITE_OK) return rc;
  sql = sqlite3_mprintf("ALTER TABLE main.%s RENAME TO %s; DROP INDEX IF EXISTS main.%s;", table,
                        aside, skip);
  rc = sql ? sqlite3_exec(c->db, sql, 0, 0, msg) : SQLITE_NOMEM;
  sqlite3_free(sql);
  sqlite3_db_config(c->db, SQLITE_DBCONFIG_LEGACY_ALTER_TABLE, legacy, 0);
  return rc;
}

/* Copies the rows back (copy), drops the old table, and runs the SQL of
** its indexes and triggers again. */
static int table_back(EntConn *c, const char *copy, AppObjects *o, char **msg) {
  int i, rc = sqlite3_exec(c->db, copy, 0, 0, msg);
  for (i = 0; rc == SQLITE_OK && i < o->n; i++) rc = sqlite3_exec(c->db, o->sql[i], 0, 0, msg);
  return rc;
}

static const char COUNTERS_BACK[] =
    "INSERT INTO main.ent_counters(subject, feature, period, period_start, period_end, used, "
    "unlogged, from_grants) SELECT subject, feature, period, period_start, period_end, used, "
    "unlogged, from_grants FROM main.ent_counters_v4;"
    "DROP TABLE main.ent_counters_v4;";

/* Version 7 to 8: ent_grants' category CHECK takes 'rollover' (rollover.c).
** SQLite cannot change a CHECK in place: the table is rebuilt like
** ent_counters above, after the columns of schema 6 are added to it. */
static int grants_old_check(EntConn *c) {
  sqlite3_stmt *st = 0;
  int old = 0;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT sql NOT LIKE '%''rollover''%' FROM main.sqlite_master WHERE "
                         "type = 'table' AND name = 'ent_grants'",
                         -1, &st, 0) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    old = sqlite3_column_int(st, 0);
  }
  sqlite3_finalize(st);
  return old;
}

static const char GRANTS_BACK[] =
    "INSERT INTO main.ent_grants(id, subject, feature, amount, remaining, priority, starts_at, "
    "expires_at, idempotency_key, created_at, category, voided_at, void_reason) SELECT id, "
    "subject, feature, amount, remaining, priority, starts_at, expires_at, idempotency_key, "
    "created_at, category, voided_at, void_reason FROM main.ent_grants_v7;"
    "DROP TABLE main.ent_grants_v7;";

/* Creates the schema, or migrates an older one in place. Idempotent, and
** cheap when the schema is current (one indexed read) unless repair is set:
** then the DDL runs again, restoring any dropped index or trigger. */
int ent_schema_ensure(EntConn *c, int repair, EntErr *e) {
  int64_t v;
  int rc;
  char *msg = 0;
  EntSavepoint sp;
  AppObjects app = {0, 0}, gapp = {0, 0};
  int rebuild = 0, regrant = 0;
  if (schema_version(c, &v, e) != SQLITE_OK) return e->code;
  if (v == ENT_SCHEMA_VERSION && !repair) return SQLITE_OK;
  if (v > ENT_SCHEMA_VERSION) return newer_schema(e, v);
  /* v == 0: a new database (or a repair); v == 1 to 5: migrate in place,
  ** in the same savepoint, around the DDL that creates what is new. */
  if (ent_sp_open(c, &sp, "entitlements_init", e) != SQLITE_OK) return e->code;
  rc = v == 1 ? sqlite3_exec(c->db, MIGRATE_1_TO_2, 0, 0, &msg) : SQLITE_OK;
  if (rc == SQLITE_OK && (v == 1 || v == 2)) rc = sqlite3_exec(c->db, MIGRATE_2_TO_3, 0, 0, &msg);
  if (rc == SQLITE_OK && v >= 1 && v <= 4) rc = sqlite3_exec(c->db, MIGRATE_4_TO_5, 0, 0, &msg);
  if (rc == SQLITE_OK && (rebuild = counters_without_rowid(c))) {
    rc = table_aside(c, "ent_counters", "ent_counters_v4", "ent_counters_current", &app, &msg);
  }
  if (rc == SQLITE_OK && v >= 1) rc = add_missing_columns(c, &msg);
  if (rc == SQLITE_OK && v >= 1 && (regrant = grants_old_check(c))) {
    rc = table_aside(c, "ent_grants", "ent_grants_v7", "ent_grants_rollover", &gapp, &msg);
  }
  if (rc == SQLITE_OK) rc = sqlite3_exec(c->db, ENT_SCHEMA_SQL, 0, 0, &msg);
  if (rc == SQLITE_OK && rebuild) rc = table_back(c, COUNTERS_BACK, &app, &msg);
  if (rc == SQLITE_OK && regrant) rc = table_back(c, GRANTS_BACK, &gapp, &msg);
  app_objects_free(&app);
  app_objects_free(&gapp);
  if (rc == SQLITE_OK) {
    char *sql = sqlite3_mprintf(
        "INSERT INTO main.ent_meta(key, value) VALUES ('schema_version', %d) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        ENT_SCHEMA_VERSION);
    sqlite3_free(msg);
    msg = 0;
    rc = sql ? sqlite3_exec(c->db, sql, 0, 0, &msg) : SQLITE_NOMEM;
    sqlite3_free(sql);
  }
  if (rc != SQLITE_OK) {
    if ((rc & 0xff) == SQLITE_NOMEM) {
      ent_err(e, SQLITE_NOMEM, "out of memory while creating the entitlements tables");
    } else {
      ent_err(e, rc, "could not create the entitlements tables: %s",
              msg ? msg : sqlite3_errstr(rc));
    }
    sqlite3_free(msg);
  }
  return ent_sp_close(c, &sp, rc == SQLITE_OK, e);
}

/* entitlements_json_valid(x): 1 when x is one whole JSON value (text), else
** 0. The ent_overrides triggers use it; registered innocuous so they work
** under trusted_schema = OFF, which SQLite 3.40's json_valid() does not. */
static void fn_json_valid(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  cJSON *v;
  if (!ent_argc(ctx, argc, 1, 1, "entitlements_json_valid(text)")) return;
  if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  v = cJSON_ParseWithLengthOpts((const char *)sqlite3_value_text(argv[0]),
                                (size_t)sqlite3_value_bytes(argv[0]) + 1, 0, 1);
  sqlite3_result_int(ctx, v != 0);
  cJSON_Delete(v);
}

static void fn_init(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  (void)argv;
  if (!ent_argc(ctx, argc, 0, 0, "entitlements_init()")) return;
  if (ent_schema_ensure(c, 1, &e) != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  sqlite3_result_int(ctx, ENT_SCHEMA_VERSION);
}

/* ---- entitlements_check() --------------------------------------------- */

static const char *const CHECK_SQL[] = {
    /* counters that disagree with the sum of their own ledger rows, for the
    ** periods whose ledger is complete (started at or after the purge horizon) */
    "WITH h(at) AS (SELECT coalesce((SELECT value FROM main.ent_meta WHERE key = 'purge_horizon'), "
    "'')), l AS (SELECT subject, feature, period, period_start, sum(CASE WHEN kind IN "
    "('consume', 'record') THEN amount WHEN kind IN ('refund', 'reset') THEN -amount ELSE 0 "
    "END) AS total FROM (SELECT coalesce(pool, subject) AS subject, feature, period, "
    "period_start, kind, amount FROM main.ent_events), h WHERE period IS NOT NULL AND period_start "
    ">= h.at GROUP BY 1, 2, 3, 4) "
    "SELECT 'counter_mismatch', c.subject, c.feature, c.period, c.period_start, c.used, "
    "coalesce(l.total, 0) + c.unlogged FROM main.ent_counters c LEFT JOIN l ON l.subject = "
    "c.subject "
    "AND l.feature = c.feature AND l.period = c.period AND l.period_start = c.period_start "
    "WHERE c.used IS NOT coalesce(l.total, 0) + c.unlogged AND c.period_start >= (SELECT at "
    "FROM h) "
    "UNION ALL SELECT 'counter_missing', l.subject, l.feature, l.period, l.period_start, 0, "
    "l.total FROM l WHERE l.total != 0 AND NOT EXISTS (SELECT 1 FROM main.ent_counters c WHERE "
    "c.subject = l.subject AND c.feature = l.feature AND c.period = l.period AND "
    "c.period_start = l.period_start) ORDER BY 2, 3, 4, 5",
    "SELECT 'negative_balance', subject, feature, period, period_start, used, NULL "
    "FROM main.ent_counters WHERE used < 0 ORDER BY 2, 3, 4, 5",
    /* held against the ledger: 'hold' rows add, 'release' and 'expire' rows
    ** take away (periods whose ledger is complete, as above) */
    "WITH h(at) AS (SELECT coalesce((SELECT value FROM main.ent_meta WHERE key = 'purge_horizon'), "
    "'')), l AS (SELECT coalesce(pool, subject) AS subject, feature, period, period_start, "
    "sum(CASE kind WHEN 'hold' THEN amount ELSE -amount END) AS total FROM main.ent_events WHERE "
    "kind IN ('hold', 'release', 'expire') AND period IS NOT NULL GROUP BY 1, 2, 3, 4) "
    "SELECT 'held_mismatch', c.subject, c.feature, c.period, c.period_start, c.held, "
    "coalesce(l.total, 0) FROM main.ent_counters c LEFT JOIN l ON l.subject = c.subject AND "
    "l.feature = c.feature AND l.period = c.period AND l.period_start = c.period_start, h WHERE "
    "c.held IS NOT coalesce(l.total, 0) AND c.period_start >= h.at ORDER BY 2, 3, 4, 5",
    /* held against the holds themselves */
    "SELECT 'hold_mismatch', c.subject, c.feature, c.period, c.period_start, c.held, "
    "coalesce(x.total, 0) FROM main.ent_counters c LEFT JOIN (SELECT counter, feature, period, "
    "period_start, sum(amount) AS total FROM main.ent_holds WHERE state = 'held' GROUP BY 1, 2, "
    "3, 4) x ON x.counter = c.subject AND x.feature = c.feature AND x.period = c.period AND "
    "x.period_start = c.period_start WHERE c.held IS NOT coalesce(x.total, 0) ORDER BY 2, 3, 4, 5",
    /* a priced feature's row and what its currency's rows took: the next
    ** row, or for a settled hold the hold's consume and record rows */
    "SELECT 'charge_mismatch', p.subject, p.feature, p.period, p.period_start, p.charged, CASE "
    "WHEN p.hold IS NULL THEN (SELECT n.amount FROM main.ent_events n WHERE n.id = p.id + 1 AND "
    "n.subject = p.subject AND n.feature = p.currency AND n.kind = p.kind) ELSE (SELECT "
    "coalesce(sum(n.amount), 0) FROM main.ent_events n WHERE n.hold = p.hold AND n.feature = "
    "p.currency AND n.kind IN ('consume', 'record')) END AS took FROM main.ent_events p WHERE "
    "p.charged IS NOT "
    "NULL AND took IS NOT p.charged ORDER BY 2, 3, 4, 5",
    "SELECT 'negative_grant', subject, feature, NULL, NULL, remaining, NULL FROM main.ent_grants "
    "WHERE remaining < 0 ORDER BY 2, 3",
    /* of used, the part grants covered is between 0 and used: more would
    ** count grant units as plan quota again */
    "SELECT 'bad_grant_share', subject, feature, period, period_start, used, from_grants "
    "FROM main.ent_counters WHERE from_grants < 0 OR (used >= 0 AND from_grants > used) ORDER BY "
    "2, 3, 4, 5",
    "SELECT 'missing_plan', subject, plan, NULL, NULL, NULL, NULL FROM main.ent_subjects s "
    "WHERE plan IS NOT NULL AND NOT EXISTS (SELECT 1 FROM main.ent_plans p WHERE p.plan = s.plan) "
    "ORDER BY 2",
    /* every parent link, with or without plans: pools follow them all */
    "WITH RECURSIVE walk(start, cur, depth) AS (SELECT subject, parent, 1 FROM main.ent_subjects "
    "WHERE parent IS NOT NULL UNION ALL SELECT w.start, s.parent, w.depth + 1 "
    "FROM walk w JOIN main.ent_subjects s ON s.subject = w.cur WHERE s.parent IS "
    "NOT NULL AND w.cur != w.start AND w.depth < 1000) "
    "SELECT DISTINCT 'parent_cycle', start, NULL, NULL, NULL, NULL, NULL FROM walk "
    "WHERE cur = start ORDER BY 2",
};

/* Adds column i under name (NULL adds nothing); 0 when out of memory. */
static int add_col(cJSON *o, const char *name, sqlite3_stmt *st, int i) {
  char buf[32];
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
      return 1;
    case SQLITE_INTEGER:
      snprintf(buf, sizeof(buf), "%lld", (long long)sqlite3_column_int64(st, i));
      return cJSON_AddRawToObject(o, name, buf) != 0;
    default:
      return cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(st, i)) != 0;
  }
}

static void fn_check(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  cJSON *arr;
  size_t q;
  int rc = SQLITE_OK;
  (void)argv;
  if (!ent_argc(ctx, argc, 0, 0, "entitlements_check()")) return;
  if (ent_schema_verify(c, &e) != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  arr = cJSON_CreateArray();
  if (!arr) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  for (q = 0; q < sizeof(CHECK_SQL) / sizeof(CHECK_SQL[0]) && rc == SQLITE_OK; q++) {
    sqlite3_stmt *st = 0;
    rc = sqlite3_prepare_v2(c->db, CHECK_SQL[q], -1, &st, 0);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      const char *kind = (const char *)sqlite3_column_text(st, 0);
      cJSON *o = cJSON_CreateObject();
      if (!o) {
        rc = SQLITE_NOMEM;
        break;
      }
      cJSON_AddItemToArray(arr, o);
      if (!kind || !cJSON_AddStringToObject(o, "problem", kind) || !add_col(o, "subject", st, 1) ||
          (strcmp(kind, "missing_plan") == 0
               ? !add_col(o, "plan", st, 2)
               : (!add_col(o, "feature", st, 2) || !add_col(o, "period", st, 3) ||
                  !add_col(o, "period_start", st, 4) ||
                  !add_col(o, strcmp(kind, "charge_mismatch") == 0 ? "charged" : "counter", st,
                           5) ||
                  !add_col(o, strcmp(kind, "charge_mismatch") == 0 ? "currency_rows" : "ledger", st,
                           6)))) {
        rc = SQLITE_NOMEM;
        break;
      }
      rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    if (rc != SQLITE_OK) ent_err_db(&e, c->db, rc, "checking the entitlements tables");
    sqlite3_finalize(st);
  }
  if (rc != SQLITE_OK) {
    cJSON_Delete(arr);
    ent_result_err(ctx, &e);
    return;
  }
  if (cJSON_GetArraySize(arr) == 0) {
    sqlite3_result_text(ctx, "ok", -1, SQLITE_STATIC);
  } else {
    char *s = cJSON_PrintUnformatted(arr);
    if (s) {
      sqlite3_result_text(ctx, s, -1, cJSON_free);
    } else {
      sqlite3_result_error_nomem(ctx);
    }
  }
  cJSON_Delete(arr);
}

int ent_register_schema(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {
      {"entitlements_init", fn_init},
      {"entitlements_check", fn_check},
  };
  int rc = ent_register_fns(db, c, fns, (int)(sizeof(fns) / sizeof(fns[0])));
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "entitlements_json_valid", -1,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, c,
                                    fn_json_valid, 0, 0, 0);
  }
  return rc;
}
