/*
** race.c — 8 processes race for one quota on one WAL database file.
**
**   race [--ext dist/entitlements.so]
**
** Five rounds, each a fresh file: every process consumes 1 unit at a time
** until it is denied, (a) inside BEGIN IMMEDIATE ... COMMIT, (b) as a bare
** autocommit SELECT, (c) with an idempotency key per unit, sending every call
** twice; (d) 16 processes mixing reads and writes; (e) two members of one
** pool, in two processes, drawing on the pooled quota; (f) holds: each
** process reserves 3 units, then settles 1 to 4 of them (more than the hold
** is taken only if the quota still has room, else released); (g) holds on a
** feature priced in credits: each process reserves 1,000 tokens of model
** large (1,500 hundredths of a credit), then settles 300 to 1,200 of them;
** (h) rollover: January left 100 of a 400 quota unused, and the 8 processes'
** first calls of February race to make that rollover grant; it is made once
** and 500 are granted in February.
** After each round:
** exactly the quota was granted in total (never more), the counter and the
** ledger both say so, entitlements_check() is 'ok', and no process saw an
** unexpected error.
*/
#define _POSIX_C_SOURCE 200809L
#include <sys/wait.h>
#include <unistd.h>

#define TEST_PART "race"
#include "testlib.h"

#define PROCS 8
#define QUOTA 400
#define DB "dist/test-tmp/race.db"
#define CREDIT_QUOTA 60000 /* hundredths: 600 credits */
#define CREDIT_FEATURES                                                                      \
  "\"currencies\": {\"credits\": {\"decimals\": 2}}, \"features\": {\"tokens\": {\"type\": " \
  "\"metered\", \"currency\": \"credits\", \"per\": 1000, \"rates\": {\"by\": \"model\", "   \
  "\"values\": {\"small\": \"1\", \"large\": \"15\"}}}}, "

static sqlite3 *open_db(void) {
  return open_db_at(DB);
}

static int exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, 0, 0, 0);
}

/* One process: consume until denied; writes how many it was granted. */
static void child(int id, int mode, int fd) {
  sqlite3 *db = open_db();
  long long granted = 0;
  int n;
  if (mode == 7 && exec(db, "SELECT entitlements_clock('2026-02-10 10:00:00')") != SQLITE_OK)
    exit(4);
  for (n = 0;; n++) {
    char sql[160];
    long long r = -1; /* always set: the inner loop runs at least once */
    int tries;
    if (mode == 2) {
      snprintf(sql, sizeof(sql), "SELECT try_consume_quota('team', 'credits', 1, 'p%d-%d')", id, n);
    } else if (mode == 4) { /* members m0 and m1 draw from the team's pool */
      snprintf(sql, sizeof(sql), "SELECT try_consume_quota('m%d', 'credits', 1)", id);
    } else {
      snprintf(sql, sizeof(sql), "SELECT try_consume_quota('team', 'credits', 1)");
    }
    for (tries = 0; tries < (mode == 2 ? 2 : 1); tries++) {
      if (mode == 0 && exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        fprintf(stderr, "child %d: BEGIN IMMEDIATE: %s\n", id, sqlite3_errmsg(db));
        exit(4);
      }
      r = scalar(db, sql, 0);
      if (r < 0) {
        fprintf(stderr, "child %d: %s\n", id, sqlite3_errmsg(db));
        exit(4);
      }
      if (mode == 0 && exec(db, "COMMIT") != SQLITE_OK) exit(4);
      /* the retry of a keyed call repeats the first answer */
      if (tries == 0 && r == 1) granted++;
      if (r == 0) break;
    }
    if (r == 0) break;
  }
  if (write(fd, &granted, sizeof(granted)) != sizeof(granted)) exit(5);
  if (sqlite3_close(db) != SQLITE_OK) exit(6);
  exit(0);
}

/* Contention: 16 processes, each 400 operations mixing reads (plan_allows,
** usage_summary) with writes (in BEGIN IMMEDIATE, and bare autocommit),
** 3200 write attempts for a quota of 2000. Any error at all fails it. */
#define MIXED_PROCS 16
#define MIXED_OPS 400
#define MIXED_QUOTA 2000

static void mixed_child(int id, int fd) {
  sqlite3 *db = open_db();
  long long granted = 0, r;
  int n;
  for (n = 0; n < MIXED_OPS; n++) {
    switch ((n + id) % 4) {
      case 0:
        r = scalar(db, "SELECT plan_allows('team', 'credits')", 0);
        break;
      case 1:
        r = scalar(db, "SELECT count(*) FROM usage_summary WHERE subject = 'team'", 0) == 1 ? 0
                                                                                            : -1;
        break;
      case 2:
        if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) exit(4);
        r = scalar(db, "SELECT try_consume_quota('team', 'credits', 1)", 0);
        if (r >= 0 && exec(db, "COMMIT") != SQLITE_OK) exit(4);
        if (r > 0) granted += r;
        break;
      default:
        r = scalar(db, "SELECT try_consume_quota('team', 'credits', 1)", 0);
        if (r > 0) granted += r;
    }
    if (r < 0) {
      fprintf(stderr, "mixed %d: %s\n", id, sqlite3_errmsg(db));
      exit(4);
    }
  }
  if (write(fd, &granted, sizeof(granted)) != sizeof(granted)) exit(5);
  if (sqlite3_close(db) != SQLITE_OK) exit(6);
  exit(0);
}

/* Holds: reserve 3, settle 1..4 (4: beyond the hold, 'overflow'); a denied
** settle releases the hold. Stops at the first denied reservation. */
static void hold_child(int id, int fd) {
  sqlite3 *db = open_db();
  long long granted = 0;
  int n;
  for (n = 0;; n++) {
    sqlite3_stmt *st = 0;
    char hold[40] = "", sql[160];
    int rc, actual = 1 + (n + id) % 4;
    if (sqlite3_prepare_v2(db, "SELECT quota_reserve('team', 'credits', 3, 600)", -1, &st, 0) !=
        SQLITE_OK)
      exit(4);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(hold, sizeof(hold), "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
      if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FUNCTION) break; /* no room for 3 */
      fprintf(stderr, "hold %d: %s\n", id, sqlite3_errmsg(db));
      exit(4);
    }
    snprintf(sql, sizeof(sql), "SELECT quota_settle('%s', %d) IS NOT NULL", hold, actual);
    if (scalar(db, sql, 0) == 1) {
      granted += actual;
    } else if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FUNCTION) {
      snprintf(sql, sizeof(sql), "SELECT quota_release('%s')", hold);
      if (scalar(db, sql, 0) != 3) exit(4);
    } else {
      fprintf(stderr, "hold %d: %s\n", id, sqlite3_errmsg(db));
      exit(4);
    }
  }
  if (write(fd, &granted, sizeof(granted)) != sizeof(granted)) exit(5);
  if (sqlite3_close(db) != SQLITE_OK) exit(6);
  exit(0);
}

/* Priced holds: reserve 1000 large tokens (1500 hundredths of credits),
** settle 300..1200 (1200: beyond the hold, 'overflow'); writes the credits
** charged. Stops at the first denied reservation. */
static void credit_child(int id, int fd) {
  sqlite3 *db = open_db();
  long long charged = 0;
  int n;
  for (n = 0;; n++) {
    sqlite3_stmt *st = 0;
    char hold[40] = "", sql[160];
    int rc, actual = 300 * (1 + (n + id) % 4);
    if (sqlite3_prepare_v2(db,
                           "SELECT quota_reserve('team', 'tokens', 1000, 600, NULL, "
                           "'{\"model\": \"large\"}')",
                           -1, &st, 0) != SQLITE_OK)
      exit(4);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(hold, sizeof(hold), "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
      if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FUNCTION) break;
      fprintf(stderr, "credits %d: %s\n", id, sqlite3_errmsg(db));
      exit(4);
    }
    snprintf(sql, sizeof(sql), "SELECT quota_settle('%s', %d) IS NOT NULL", hold, actual);
    if (scalar(db, sql, 0) == 1) {
      charged += actual * 3 / 2; /* 15 credits per 1000 tokens, in hundredths */
    } else if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FUNCTION) {
      snprintf(sql, sizeof(sql), "SELECT quota_release('%s')", hold);
      if (scalar(db, sql, 0) != 1500) exit(4);
    } else {
      fprintf(stderr, "credits %d: %s\n", id, sqlite3_errmsg(db));
      exit(4);
    }
  }
  if (write(fd, &charged, sizeof(charged)) != sizeof(charged)) exit(5);
  if (sqlite3_close(db) != SQLITE_OK) exit(6);
  exit(0);
}

static void round_of(int mode, const char *name) {
  sqlite3 *db;
  int procs = mode == 3 ? MIXED_PROCS : mode == 4 ? 2 : PROCS;
  int quota = mode == 3 ? MIXED_QUOTA : QUOTA;
  int fds[MIXED_PROCS][2], i, clean = 1;
  long long total = 0;
  char what[300], load[600];
  remove(DB);
  remove(DB "-wal");
  remove(DB "-shm");
  db = open_db();
  exec(db, "PRAGMA journal_mode = wal");
  if (mode == 6) quota = CREDIT_QUOTA;
  snprintf(load, sizeof(load),
           "SELECT entitlements_load('{%s\"plans\": {\"team\": {\"default\": true, \"features\": "
           "{\"credits\": {\"limit\": %d, \"period\": \"%s\", \"pool\": %s}}}}}')",
           mode == 6   ? CREDIT_FEATURES
           : mode == 7 ? "\"features\": {\"credits\": {\"type\": \"metered\", \"rollover\": "
                         "{\"max\": 100}}}, "
                       : "",
           quota, mode == 7 ? "month" : "lifetime", mode == 4 ? "true" : "false");
  if (exec(db, load) != SQLITE_OK) {
    printf("FAIL race: load: %s\n", sqlite3_errmsg(db));
    failed++;
    sqlite3_close(db);
    return;
  }
  if (mode == 7 && (exec(db, "SELECT entitlements_clock('2026-01-10 10:00:00')") != SQLITE_OK ||
                    scalar(db, "SELECT consume_quota('team', 'credits', 300)", 0) != 100)) {
    printf("FAIL race: January's use: %s\n", sqlite3_errmsg(db));
    failed++;
  }
  if (mode == 4) {
    exec(db,
         "INSERT INTO ent_subjects(subject, plan) VALUES ('team', 'team'); INSERT INTO "
         "ent_subjects(subject, parent) VALUES ('m0', 'team'), ('m1', 'team')");
  }
  sqlite3_close(db);
  for (i = 0; i < procs; i++) {
    pid_t pid;
    if (pipe(fds[i]) != 0) exit(2);
    pid = fork();
    if (pid == 0) {
      close(fds[i][0]);
      if (mode == 3) mixed_child(i, fds[i][1]);
      if (mode == 5) hold_child(i, fds[i][1]);
      if (mode == 6) credit_child(i, fds[i][1]);
      child(i, mode, fds[i][1]);
    }
    close(fds[i][1]);
  }
  for (i = 0; i < procs; i++) {
    long long g = 0;
    int status;
    if (read(fds[i][0], &g, sizeof(g)) != sizeof(g)) clean = 0;
    close(fds[i][0]);
    total += g;
    wait(&status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) clean = 0;
  }
  db = open_db();
  snprintf(what, sizeof(what), "%s: every process ended without an unexpected error", name);
  check(clean, what);
  if (mode == 7) {
    snprintf(what, sizeof(what),
             "%s: exactly one rollover grant of 100 was made and spent; February granted %lld "
             "(the quota and it: 500), the counter and the ledger say so",
             name, total);
    check(total == quota + 100 &&
              scalar(db, "SELECT count(*) FROM ent_grants WHERE category = 'rollover'", 0) == 1 &&
              scalar(db, "SELECT sum(amount) - sum(remaining) FROM ent_grants", 0) == 100 &&
              scalar(db, "SELECT count(*) FROM ent_events WHERE kind = 'grant'", 0) == 1 &&
              scalar(db,
                     "SELECT used FROM ent_counters WHERE period_start = '2026-02-01 00:00:00' "
                     "AND from_grants = 100",
                     0) == total &&
              scalar(db, "SELECT sum(amount) FROM ent_events WHERE kind = 'consume'", 0) ==
                  total + 300,
          what);
  } else if (mode == 6) {
    /* no room for another 1500 is left, never more than the quota; the
    ** counters and the ledger's two rows per settle agree */
    snprintf(what, sizeof(what),
             "%s: the credits charged (%lld) are at most the quota (%d) and within 1500 of it; "
             "the credits counter, its ledger rows and the priced rows' charges say so; the "
             "tokens counter counts the tokens settled; nothing is still held",
             name, total, quota);
    check(total <= quota && total > quota - 1500 &&
              scalar(db, "SELECT used FROM ent_counters WHERE feature = 'credits'", 0) == total &&
              scalar(db,
                     "SELECT sum(amount) FROM ent_events WHERE feature = 'credits' AND kind = "
                     "'consume'",
                     0) == total &&
              scalar(db, "SELECT sum(charged) FROM ent_events WHERE feature = 'tokens'", 0) ==
                  total &&
              scalar(db, "SELECT used * 3 / 2 FROM ent_counters WHERE feature = 'tokens'", 0) ==
                  total &&
              scalar(db, "SELECT held FROM ent_counters WHERE feature = 'credits'", 0) == 0 &&
              scalar(db, "SELECT count(*) FROM ent_holds WHERE state = 'held'", 0) == 0,
          what);
  } else if (mode == 5) {
    /* no room for a 3-unit hold is left at the end, and never more than the quota */
    snprintf(what, sizeof(what),
             "%s: what was settled (%lld) is at most the quota (%d), within 3 of it, and the "
             "counter and ledger say so; nothing is still held",
             name, total, quota);
    check(total <= quota && total > quota - 3 &&
              scalar(db, "SELECT used FROM ent_counters WHERE subject = 'team'", 0) == total &&
              scalar(db, "SELECT sum(amount) FROM ent_events WHERE kind = 'consume'", 0) == total &&
              scalar(db, "SELECT held FROM ent_counters WHERE subject = 'team'", 0) == 0 &&
              scalar(db, "SELECT count(*) FROM ent_holds WHERE state = 'held'", 0) == 0,
          what);
  } else {
    snprintf(what, sizeof(what),
             "%s: exactly the quota (%d) was granted across %d processes, got %lld", name, quota,
             procs, total);
    check(total == quota, what);
    snprintf(what, sizeof(what), "%s: the counter says %d", name, quota);
    check(scalar(db, "SELECT used FROM ent_counters WHERE subject = 'team'", 0) == quota, what);
    snprintf(what, sizeof(what), "%s: the ledger holds %d units", name, quota);
    check(scalar(db, "SELECT sum(amount) FROM ent_events WHERE kind = 'consume'", 0) == quota,
          what);
  }
  snprintf(what, sizeof(what), "%s: entitlements_check() is ok", name);
  check(scalar(db, "SELECT entitlements_check() = 'ok'", 0) == 1, what);
  sqlite3_close(db);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--ext") == 0) ext = argv[2];
  register_static();
  if (system("mkdir -p dist/test-tmp") != 0) return 2;
  round_of(0, "BEGIN IMMEDIATE");
  round_of(1, "autocommit SELECT");
  round_of(2, "idempotency keys, every call sent twice");
  round_of(3, "16 processes mixing reads and writes, 6400 operations");
  round_of(4, "2 members of one pool in 2 processes");
  round_of(5, "8 processes reserving and settling holds on one quota");
  round_of(6, "8 processes reserving and settling priced holds on one credit balance");
  round_of(7, "8 processes' first calls of a month making one rollover grant");
  return report();
}
