/*
** embed.c — sqlite-entitlements compiled into an application, the way iOS,
** Android and desktop apps ship it: no loadable library, no dlopen.
**
** The app's build adds three sources: SQLite's amalgamation (sqlite3.c), this
** project's (dist/entitlements.c from make amalgamation, compiled with
** -DSQLITE_CORE) and cJSON (a system library here; on mobile, add cJSON.c).
** sqlite3_auto_extension() then registers the extension on every connection
** the app opens. Built and run by make test:
**
**   make amalgamation
**   cc -DSQLITE_CORE -I dist/vendor -I dist -o embed examples/embed/embed.c \
**      dist/entitlements.c dist/vendor/sqlite3.c -lcjson -lpthread -ldl -lm
**   ./embed [DB]
*/
#include <stdio.h>
#include <stdlib.h>

#include "entitlements.h"

static sqlite3 *db;

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
  exit(1);
}

/* Runs one statement that returns one value, printed with a label. */
static void show(const char *label, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) die(sql);
  if (sqlite3_step(st) != SQLITE_ROW) die(sql);
  printf("%s: %s\n", label, (const char *)sqlite3_column_text(st, 0));
  if (sqlite3_finalize(st) != SQLITE_OK) die(sql);
}

/* Saves a document if the subject's plan has room: the quota and the row
** commit together or not at all. Returns the documents left, or -1 when the
** plan says no (the denial is printed). */
static long long save_document(const char *user, const char *title) {
  sqlite3_stmt *consume = 0, *insert = 0;
  long long left = -1;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0) != SQLITE_OK) die("begin");
  if (sqlite3_prepare_v2(db, "SELECT consume_quota(?1, 'documents', 1)", -1, &consume, 0) ||
      sqlite3_prepare_v2(db, "INSERT INTO documents(owner, title) VALUES (?1, ?2)", -1, &insert, 0))
    die("prepare");
  sqlite3_bind_text(consume, 1, user, -1, SQLITE_STATIC);
  if (sqlite3_step(consume) == SQLITE_ROW) {
    left = sqlite3_column_int64(consume, 0);
    sqlite3_bind_text(insert, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, title, -1, SQLITE_STATIC);
    if (sqlite3_step(insert) != SQLITE_DONE) die("insert");
  } else if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FUNCTION) {
    printf("save '%s': denied\n  %s\n", title, sqlite3_errmsg(db));
  } else {
    die("consume_quota");
  }
  sqlite3_finalize(consume);
  sqlite3_finalize(insert);
  if (sqlite3_exec(db, left >= 0 ? "COMMIT" : "ROLLBACK", 0, 0, 0) != SQLITE_OK) die("end");
  return left;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : ":memory:";
  const char *clock = getenv("ENT_CLOCK");
  const char *titles[] = {"Notes", "Ideas", "Drafts", "Todo"};
  /* Once, before the first sqlite3_open: every connection gets the functions. */
  if (sqlite3_auto_extension((void (*)(void))sqlite3_entitlements_init) != SQLITE_OK) return 1;
  if (sqlite3_open(path, &db) != SQLITE_OK) die("open");
  sqlite3_busy_timeout(db, 5000);
  show("SQLite", "SELECT sqlite_version()");
  show("entitlements", "SELECT entitlements_version()");
  if (clock) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT entitlements_clock(?1)", -1, &st, 0)) die("clock");
    sqlite3_bind_text(st, 1, clock, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_finalize(st) != SQLITE_OK) die("clock");
  }
  if (sqlite3_exec(db,
                   "SELECT entitlements_load('{\"plans\": {"
                   "\"free\": {\"default\": true, \"features\": {\"documents\": {\"limit\": 3, "
                   "\"period\": \"lifetime\"}, \"sync\": false}},"
                   "\"plus\": {\"rank\": 1, \"inherits\": \"free\", \"features\": {\"documents\": "
                   "{\"limit\": null}, \"sync\": true}}}}');"
                   "CREATE TABLE IF NOT EXISTS documents(owner TEXT, title TEXT);",
                   0, 0, 0) != SQLITE_OK)
    die("setup");
  for (int i = 0; i < 4; i++) {
    long long left = save_document("device-owner", titles[i]);
    if (left >= 0) printf("save '%s': ok, %lld left\n", titles[i], left);
  }
  show("documents saved", "SELECT count(*) FROM documents");
  show("sync allowed", "SELECT plan_allows('device-owner', 'sync')");
  show("after the in-app purchase", "SELECT subject_set_plan('device-owner', 'plus')");
  show("documents left",
       "SELECT ifnull(quota_remaining('device-owner', 'documents'), 'unlimited')");
  if (sqlite3_close(db) != SQLITE_OK) die("close");
  printf("closed: SQLITE_OK\n");
  return 0;
}
