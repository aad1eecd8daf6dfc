/*
** bench.c — `make bench`: every hot call of the extension next to the same
** work written by hand in plain SQL, measured in the same run, on the same
** database file (WAL, synchronous=NORMAL).
**
**   bench [--ext dist/entitlements.so] [--subjects N] [--events N] [--db PATH]
**         [--rounds R] [--memory] [--redis PORT] [--only TEXT] [--procs N]
**
** --procs N: N processes each consuming in autocommit on the same WAL file
** for a few seconds, then the same processes doing bare counter UPSERTs;
** total committed calls per second of each, and the counters and the ledger
** checked against the calls that returned success.
**
** "By hand" is the minimum a careful developer would write for the same
** semantics: look up the subject's plan limit, a guarded counter UPSERT
** (ON CONFLICT ... WHERE used + ? <= limit), a ledger INSERT; for keyed calls
** the ledger INSERT goes first against a unique index. The "floor" is one
** bare counter UPSERT per call: SQLite's own cost for the smallest write.
**
** Each operation runs in rounds, extension and hand alternating; the best
** round of each is reported (the least disturbed by the rest of the machine).
*/
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#ifdef ENT_BENCH_REDIS
#include <hiredis/hiredis.h>
#endif

#define FEATURES 20
#define PERIOD "2026-11-01 00:00:00"
#define BIG 1000000000000LL

static sqlite3 *db;
static long nsubjects = 10000;
static long nevents = 0;
static int rounds = 5;
static long keyseq;
static const char *only;    /* --only TEXT: just the operations whose name has TEXT */
static int side;            /* --side ext|hand: one side only, once, counted by callgrind */
static long calls_override; /* --calls N */
static int cache_size = -1; /* --cache N: entitlements_cache(N) on the bench's connection */

static void die(const char *what) {
  fprintf(stderr, "bench: %s: %s\n", what, sqlite3_errmsg(db));
  exit(1);
}

static void exec(const char *sql) {
  char *err = 0;
  if (sqlite3_exec(db, sql, 0, 0, &err) != SQLITE_OK) {
    fprintf(stderr, "bench: %s\n  in: %.200s\n", err, sql);
    exit(1);
  }
}

static sqlite3_stmt *prep(const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, 0) != SQLITE_OK) die(sql);
  return st;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void subject_name(long i, char *buf, size_t n) {
  snprintf(buf, n, "user-%07ld", i);
}

/* Steps a statement to completion; returns the first column of the first row. */
static long long run1(sqlite3_stmt *st) {
  long long v = -1;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (v == -1) v = sqlite3_column_int64(st, 0);
  }
  if (rc != SQLITE_DONE) die("step");
  sqlite3_reset(st);
  return v;
}

/* ---- the operations ------------------------------------------------------ */

typedef struct Op {
  const char *name;
  long calls; /* per round */
  int batch;  /* calls per BEGIN IMMEDIATE ... COMMIT; 0 = autocommit */
  void (*ext)(long i);
  void (*hand)(long i);
} Op;

static sqlite3_stmt *e_allows_m, *e_allows_b, *e_consume, *e_consume_key, *e_summary,
    *e_entitlement, *e_events;
static sqlite3_stmt *h_allows_m, *h_allows_b, *h_limit, *h_upsert, *h_event, *h_event_key,
    *h_summary, *h_entitlement, *h_floor, *h_begin, *h_commit;

static void bind_subject(sqlite3_stmt *st, long i) {
  char s[32];
  subject_name(i % nsubjects, s, sizeof(s));
  sqlite3_bind_text(st, 1, s, -1, SQLITE_TRANSIENT);
}

static void ext_allows_m(long i) {
  bind_subject(e_allows_m, i);
  if (run1(e_allows_m) != 1) die("plan_allows metered");
}
static void hand_allows_m(long i) {
  bind_subject(h_allows_m, i);
  if (run1(h_allows_m) != 1) die("hand allows metered");
}
static void ext_allows_b(long i) {
  bind_subject(e_allows_b, i);
  if (run1(e_allows_b) != 1) die("plan_allows boolean");
}
static void hand_allows_b(long i) {
  bind_subject(h_allows_b, i);
  if (run1(h_allows_b) != 1) die("hand allows boolean");
}

static void ext_consume(long i) {
  bind_subject(e_consume, i);
  run1(e_consume);
}

/* By hand: limit lookup, guarded upsert, ledger row. */
static void hand_consume_body(long i, int keyed) {
  long long lim;
  char s[32];
  subject_name(i % nsubjects, s, sizeof(s));
  sqlite3_bind_text(h_limit, 1, s, -1, SQLITE_TRANSIENT);
  lim = run1(h_limit);
  if (keyed) {
    char k[32];
    snprintf(k, sizeof(k), "k%ld", ++keyseq);
    sqlite3_bind_text(h_event_key, 1, s, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(h_event_key, 2, k, -1, SQLITE_TRANSIENT);
    run1(h_event_key);
  }
  sqlite3_bind_text(h_upsert, 1, s, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(h_upsert, 2, lim);
  run1(h_upsert);
  if (sqlite3_changes(db) != 1) die("hand consume denied");
  if (!keyed) {
    sqlite3_bind_text(h_event, 1, s, -1, SQLITE_TRANSIENT);
    run1(h_event);
  }
}
static void hand_consume(long i) {
  hand_consume_body(i, 0);
}
static void hand_consume_autocommit(long i) {
  run1(h_begin);
  hand_consume_body(i, 0);
  run1(h_commit);
}
static void ext_consume_key(long i) {
  char k[32];
  snprintf(k, sizeof(k), "k%ld", ++keyseq);
  bind_subject(e_consume_key, i);
  sqlite3_bind_text(e_consume_key, 2, k, -1, SQLITE_TRANSIENT);
  run1(e_consume_key);
}
static void hand_consume_key(long i) {
  hand_consume_body(i, 1);
}

static void ext_events(long i) {
  bind_subject(e_events, i);
  run1(e_events);
}

static void ext_summary(long i) {
  bind_subject(e_summary, i);
  run1(e_summary);
}
static void hand_summary(long i) {
  bind_subject(h_summary, i);
  run1(h_summary);
}
static void ext_entitlement(long i) {
  bind_subject(e_entitlement, i);
  run1(e_entitlement);
}
static void hand_entitlement(long i) {
  bind_subject(h_entitlement, i);
  run1(h_entitlement);
}
static void floor_upsert(long i) {
  bind_subject(h_floor, i);
  run1(h_floor);
}

static double time_op(void (*fn)(long), long calls, int batch, long base) {
  double t0 = now_s();
  long i;
  if (side) CALLGRIND_TOGGLE_COLLECT;
  for (i = 0; i < calls; i++) {
    if (batch && i % batch == 0) run1(h_begin);
    fn(base + i);
    if (batch && (i % batch == batch - 1 || i == calls - 1)) run1(h_commit);
  }
  if (side) CALLGRIND_TOGGLE_COLLECT;
  return now_s() - t0;
}

static void report_row(const char *name, double ext_s, double hand_s, long calls, const char *vs,
                       double ei, double hi) {
  double eus = ext_s / calls * 1e6, hus = hand_s / calls * 1e6;
  printf("| %-40s | %10.0f | %7.2f | %7.2f | %-14s | %5.2fx |", name, calls / ext_s, eus, hus, vs,
         eus / hus);
  if (ei > 0 && hi > 0) printf(" %8.0f | %8.0f | %5.2fx |", ei, hi, ei / hi);
  printf("\n");
  fflush(stdout);
}

/* --instr: each side of an operation counted by callgrind in a process of
** its own (this program again, with --side), after two uncounted warm-up
** rounds over the same subjects; instructions are stable where times on a
** shared machine are not. */
static const char *self_path, *ext_path, *db_path;
static int instr;

static double count_instr(const char *name, const char *which) {
  char cmd[2048], line[512];
  double total = -1;
  FILE *p;
  snprintf(cmd, sizeof(cmd),
           "valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file=/dev/null "
           "'%s' --ext '%s' --db '%s.%s' --subjects %ld --events %ld --exact '%s' --side %s "
           "--calls 2000 2>&1",
           self_path, ext_path, db_path, which, nsubjects, nevents, name, which);
  if (!(p = popen(cmd, "r"))) return -1;
  while (fgets(line, sizeof(line), p)) {
    const char *c = strstr(line, "Collected : ");
    if (c) total = atof(c + 12);
  }
  pclose(p);
  return total > 0 ? total / 2000 : -1;
}

static const char *exact; /* --exact NAME: the one operation with this name */

static void measure(const Op *op, const char *vs) {
  double best_e = 1e9, best_h = 1e9, ei = -1, hi = -1;
  int r;
  long base = 0;
  if (only && !strstr(op->name, only)) return;
  if (exact && strcmp(op->name, exact) != 0) return;
  if (side) {
    void (*fn)(long) = side == 1 ? op->ext : op->hand;
    int batch = op->batch, which = side;
    long calls;
    if ((side == 3) != (vs[0] == 'b' && vs[1] == 'a')) return; /* floor: the bare UPSERT rows */
    calls = calls_override ? calls_override : op->calls;
    side = 0; /* warm-up, not counted: twice, since the memo admits what it
               ** misses a second time */
    time_op(fn, calls, batch, 0);
    time_op(fn, calls, batch, 0);
    side = which; /* the same subjects again: the steady state of the timed rounds */
    time_op(fn, calls, batch, 0);
    return;
  }
  if (instr) {
    ei = count_instr(op->name, "ext");
    hi = count_instr(op->name, vs[0] == 'b' && vs[1] == 'a' ? "floor" : "hand");
  }
  for (r = 0; r < rounds; r++) {
    double e = time_op(op->ext, op->calls, op->batch, base);
    double h = time_op(op->hand, op->calls, op->batch, base);
    base += op->calls;
    if (e < best_e) best_e = e;
    if (h < best_h) best_h = h;
  }
  report_row(op->name, best_e, best_h, op->calls, vs, ei, hi);
}

/* ---- set-up ---------------------------------------------------------------- */

static void setup(const char *path, const char *ext) {
  char sql[4096], *p = sql;
  int f;
  double t0 = now_s();
  remove(path);
  {
    char side[512];
    snprintf(side, sizeof(side), "%s-wal", path);
    remove(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    remove(side);
  }
  if (sqlite3_open(path, &db) != SQLITE_OK) die("open");
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, ext, 0, 0) != SQLITE_OK) die("loading the extension");
  exec("PRAGMA journal_mode = wal; PRAGMA synchronous = normal; PRAGMA cache_size = -200000");
  exec("SELECT entitlements_clock('2026-11-22 10:00:00')");
  if (cache_size >= 0) {
    char q[64];
    snprintf(q, sizeof(q), "SELECT entitlements_cache(%d)", cache_size);
    exec(q);
  }

  /* the extension's configuration: 20 metered features and 5 booleans */
  p += sprintf(
      p, "SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": {");
  for (f = 0; f < FEATURES; f++) p += sprintf(p, "\"m%d\": {\"limit\": 10}, ", f);
  p += sprintf(p, "\"b0\": false}}, \"pro\": {\"rank\": 1, \"features\": {");
  for (f = 0; f < FEATURES; f++) p += sprintf(p, "\"m%d\": {\"limit\": %lld}, ", f, BIG);
  /* nl: a counter without a ledger row per call ("ledger": false) */
  sprintf(p, "\"nl\": {\"limit\": %lld, \"ledger\": false}, \"b0\": true}}}}')", BIG);
  exec(sql);

  /* the hand-written schema, as lean as the semantics allow */
  exec(
      "CREATE TABLE hw_subjects(subject TEXT PRIMARY KEY, plan TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE hw_limits(plan TEXT, feature TEXT, lim INTEGER, enabled INTEGER,"
      "  PRIMARY KEY(plan, feature)) WITHOUT ROWID;"
      "CREATE TABLE hw_counters(subject TEXT, feature TEXT, period_start TEXT, used INTEGER,"
      "  PRIMARY KEY(subject, feature, period_start)) WITHOUT ROWID;"
      "CREATE TABLE hw_events(id INTEGER PRIMARY KEY, at TEXT, subject TEXT, feature TEXT,"
      "  amount INTEGER, idempotency_key TEXT);"
      "CREATE UNIQUE INDEX hw_events_key ON hw_events(subject, idempotency_key)"
      "  WHERE idempotency_key IS NOT NULL;");
  for (f = 0; f < FEATURES; f++) {
    snprintf(sql, sizeof(sql),
             "INSERT INTO hw_limits VALUES ('pro', 'm%d', %lld, 1), ('free', 'm%d', 10, 1)", f, BIG,
             f);
    exec(sql);
  }
  exec("INSERT INTO hw_limits VALUES ('pro', 'b0', NULL, 1), ('free', 'b0', NULL, 0)");

  /* subjects on 'pro' in both worlds */
  exec("BEGIN");
  snprintf(sql, sizeof(sql),
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %ld) "
           "INSERT INTO ent_subjects(subject, plan) SELECT printf('user-%%07d', i), 'pro' FROM n",
           nsubjects);
  exec(sql);
  exec("INSERT INTO hw_subjects SELECT subject, plan FROM ent_subjects");
  exec("COMMIT");

  /* history: ledger rows and counters for past months, in both worlds */
  if (nevents > 0) {
    exec("BEGIN");
    snprintf(
        sql, sizeof(sql),
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %ld) "
        "INSERT INTO ent_events(at, subject, feature, amount, kind, period, period_start) "
        "SELECT '2025-06-15 12:00:00', printf('user-%%07d', i %% %ld), 'm' || (i / %ld %% %d), "
        "1, 'consume', 'month', '2025-06-01 00:00:00' FROM n",
        nevents, nsubjects, nsubjects, FEATURES);
    exec(sql);
    exec(
        "INSERT INTO ent_counters(subject, feature, period, period_start, period_end, used) "
        "SELECT subject, feature, period, period_start, '2025-07-01 00:00:00', count(*) "
        "FROM ent_events GROUP BY 1, 2, 3, 4");
    exec(
        "INSERT INTO hw_events(at, subject, feature, amount) SELECT at, subject, feature, amount "
        "FROM ent_events");
    exec("INSERT INTO hw_counters SELECT subject, feature, period_start, used FROM ent_counters");
    exec("COMMIT");
  }
  exec("ANALYZE");
  exec("PRAGMA wal_checkpoint(TRUNCATE)");
  {
    struct stat sb;
    double mib = stat(path, &sb) == 0 ? sb.st_size / 1048576.0 : 0;
    printf(
        "database: %ld subjects, %ld history ledger rows (x2: extension and by-hand tables), "
        "built in %.1f s, %.0f MiB on disk\n",
        nsubjects, nevents, now_s() - t0, mib);
  }

  e_allows_m = prep("SELECT plan_allows(?1, 'm3')");
  e_allows_b = prep("SELECT plan_allows(?1, 'b0')");
  e_consume = prep("SELECT consume_quota(?1, 'm3')");
  e_consume_key = prep("SELECT consume_quota(?1, 'm4', 1, ?2)");
  e_summary = prep("SELECT count(*) FROM usage_summary WHERE subject = ?1");
  e_entitlement = prep("SELECT entitlement(?1, 'm3')");
  e_events = prep("INSERT INTO usage_events(subject, feature, amount) VALUES (?1, 'm3', 1)");
  h_allows_m = prep(
      "SELECT coalesce((SELECT used FROM hw_counters WHERE subject = ?1 AND feature = 'm3' AND "
      "period_start = '" PERIOD
      "'), 0) + 1 <= l.lim FROM hw_subjects s JOIN hw_limits l ON "
      "l.plan = s.plan AND l.feature = 'm3' WHERE s.subject = ?1");
  h_allows_b = prep(
      "SELECT l.enabled FROM hw_subjects s JOIN hw_limits l ON l.plan = s.plan AND l.feature = "
      "'b0' WHERE s.subject = ?1");
  h_limit = prep(
      "SELECT l.lim FROM hw_subjects s JOIN hw_limits l ON l.plan = s.plan AND l.feature = 'm3' "
      "WHERE s.subject = ?1");
  h_upsert = prep(
      "INSERT INTO hw_counters(subject, feature, period_start, used) VALUES (?1, 'm3', '" PERIOD
      "', 1) ON CONFLICT(subject, feature, period_start) DO UPDATE SET used = used + "
      "excluded.used WHERE used + excluded.used <= ?2");
  h_event = prep(
      "INSERT INTO hw_events(at, subject, feature, amount) VALUES ('2026-11-22 10:00:00', ?1, "
      "'m3', 1)");
  h_event_key = prep(
      "INSERT INTO hw_events(at, subject, feature, amount, idempotency_key) VALUES "
      "('2026-11-22 10:00:00', ?1, 'm4', 1, ?2)");
  h_summary = prep(
      "SELECT count(*) FROM (SELECT l.feature, coalesce(c.used, 0) AS used, l.lim, max(l.lim - "
      "coalesce(c.used, 0), 0) FROM hw_subjects s JOIN hw_limits l ON l.plan = s.plan LEFT JOIN "
      "hw_counters c ON c.subject = s.subject AND c.feature = l.feature AND c.period_start = "
      "'" PERIOD "' WHERE s.subject = ?1 AND l.lim IS NOT NULL)");
  h_entitlement = prep(
      "SELECT json_object('feature', l.feature, 'plan', s.plan, 'quota', l.lim, 'used', "
      "coalesce(c.used, 0), 'remaining', max(l.lim - coalesce(c.used, 0), 0), 'period_start', "
      "'" PERIOD
      "') FROM hw_subjects s JOIN hw_limits l ON l.plan = s.plan AND l.feature = 'm3' LEFT JOIN "
      "hw_counters c ON c.subject = s.subject AND c.feature = 'm3' AND c.period_start = '" PERIOD
      "' WHERE s.subject = ?1");
  h_floor = prep(
      "INSERT INTO hw_counters(subject, feature, period_start, used) VALUES (?1, 'floor', '" PERIOD
      "', 1) ON CONFLICT(subject, feature, period_start) DO UPDATE SET used = used + 1");
  h_begin = prep("BEGIN IMMEDIATE");
  h_commit = prep("COMMIT");
}

static long peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* sqlite3_memory_used() before and after a million calls, less the page
** cache (which grows with the database, not with calls): no growth. */
static sqlite3_int64 non_cache_memory(void) {
  int cur = 0, hi = 0;
  sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0);
  return sqlite3_memory_used() - cur;
}

static void memory_check(void) {
  long i;
  sqlite3_int64 before, after;
  /* a small page cache that fills up first, so what remains is per call */
  exec("PRAGMA cache_size = -2000");
  for (i = 0; i < 200000; i++) {
    if (i % 1000 == 0) run1(h_begin);
    ext_consume(i);
    if (i % 1000 == 999) run1(h_commit);
  }
  before = non_cache_memory();
  for (i = 0; i < 1000000; i++) {
    if (i % 1000 == 0) run1(h_begin);
    if (i % 2) {
      ext_consume(i);
    } else {
      ext_allows_m(i);
    }
    if (i % 1000 == 999) run1(h_commit);
    if (getenv("ENT_BENCH_TRACE") && i % 100000 == 99999) {
      int cur = 0, hi = 0;
      sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0);
      printf("  after %ld calls: %lld outside cache, cache %d\n", i + 1,
             (long long)non_cache_memory(), cur);
    }
  }
  after = non_cache_memory();
  printf(
      "\nmemory: SQLite memory outside the page cache %lld bytes before 10^6 calls "
      "(consume_quota and plan_allows), %lld after (%+lld); peak RSS %ld KiB\n",
      (long long)before, (long long)after, (long long)(after - before), peak_rss_kb());
}

/* ---- many processes, one file ------------------------------------------- */

static const char *procs_ext, *procs_path;

/* One child: its own connection, its own subjects, autocommit calls until
** the time is up; writes how many returned success to fd. */
/* side 1: consume_quota; 0: a bare counter UPSERT; 2: by hand (limit
** lookup, guarded UPSERT and ledger row in BEGIN IMMEDIATE ... COMMIT) */
static void proc_child(int which, int ext_side, double seconds, int fd) {
  sqlite3 *d;
  sqlite3_stmt *st, *hs[5] = {0};
  long n = 0, i = 0;
  double end;
  static const char *const HAND[5] = {
      "BEGIN IMMEDIATE",
      "SELECT l.lim FROM hw_subjects s JOIN hw_limits l ON l.plan = s.plan AND l.feature = 'm5' "
      "WHERE s.subject = ?1",
      "INSERT INTO hw_counters(subject, feature, period_start, used) VALUES (?1, 'm5', '" PERIOD
      "', 1) ON CONFLICT(subject, feature, period_start) DO UPDATE SET used = used + "
      "excluded.used WHERE used + excluded.used <= ?2",
      "INSERT INTO hw_events(at, subject, feature, amount) VALUES ('2026-11-22 10:00:00', ?1, "
      "'m5', 1)",
      "COMMIT"};
  if (sqlite3_open(procs_path, &d) != SQLITE_OK) _exit(2);
  sqlite3_busy_timeout(d, 60000);
  sqlite3_enable_load_extension(d, 1);
  if (sqlite3_load_extension(d, procs_ext, 0, 0) != SQLITE_OK) _exit(3);
  sqlite3_exec(d, "PRAGMA synchronous = normal; SELECT entitlements_clock('2026-11-22 10:00:00')",
               0, 0, 0);
  if (sqlite3_prepare_v2(d,
                         ext_side == 3 ? "SELECT consume_quota(?1, 'nl')"
                         : ext_side
                             ? "SELECT consume_quota(?1, 'm5')"
                             : "INSERT INTO hw_counters(subject, feature, period_start, used) "
                               "VALUES (?1, 'm5', '" PERIOD
                               "', 1) ON CONFLICT(subject, feature, period_start) DO UPDATE "
                               "SET used = used + 1",
                         -1, &st, 0) != SQLITE_OK) {
    _exit(4);
  }
  for (i = 0; ext_side == 2 && i < 5; i++) {
    if (sqlite3_prepare_v2(d, HAND[i], -1, &hs[i], 0) != SQLITE_OK) _exit(4);
  }
  i = 0;
  end = now_s() + seconds;
  while (now_s() < end) {
    char s[32];
    int rc, k;
    subject_name((which * 1000 + i++ % 1000) % nsubjects, s, sizeof(s));
    if (ext_side == 2) {
      sqlite3_int64 lim = 0;
      for (k = 0, rc = SQLITE_DONE; k < 5 && rc == SQLITE_DONE; k++) {
        if (sqlite3_bind_parameter_count(hs[k]) >= 1) {
          sqlite3_bind_text(hs[k], 1, s, -1, SQLITE_TRANSIENT);
        }
        if (k == 2) sqlite3_bind_int64(hs[k], 2, lim);
        while ((rc = sqlite3_step(hs[k])) == SQLITE_ROW) lim = sqlite3_column_int64(hs[k], 0);
        sqlite3_reset(hs[k]);
      }
      if (rc != SQLITE_DONE) sqlite3_exec(d, "ROLLBACK", 0, 0, 0);
    } else {
      sqlite3_bind_text(st, 1, s, -1, SQLITE_TRANSIENT);
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      }
      sqlite3_reset(st);
    }
    if (rc == SQLITE_DONE) {
      n++;
    } else if (getenv("ENT_BENCH_TRACE")) {
      fprintf(stderr, "bench: process %d, side %d: %s\n", which, ext_side, sqlite3_errmsg(d));
    }
  }
  for (i = 0; i < 5; i++) sqlite3_finalize(hs[i]);
  sqlite3_finalize(st);
  if (write(fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) _exit(5);
  _exit(sqlite3_close(d) == SQLITE_OK ? 0 : 6);
}

static double procs_run(int nprocs, int ext_side, double seconds, long *total) {
  int fds[2], p, ok = 1;
  double t0;
  if (pipe(fds) != 0) die("pipe");
  fflush(stdout);
  t0 = now_s();
  for (p = 0; p < nprocs; p++) {
    pid_t pid = fork();
    if (pid == 0) proc_child(p, ext_side, seconds, fds[1]);
    if (pid < 0) die("fork");
  }
  close(fds[1]);
  *total = 0;
  for (p = 0; p < nprocs; p++) {
    long n = 0;
    int status = 0;
    if (read(fds[0], &n, sizeof(n)) == (ssize_t)sizeof(n)) *total += n;
    wait(&status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = 0;
  }
  close(fds[0]);
  if (!ok) die("a child process failed");
  return now_s() - t0;
}

static long long scalar_ll(const char *sql) {
  sqlite3_stmt *st = prep(sql);
  long long v = run1(st);
  sqlite3_finalize(st);
  return v;
}

static void procs_compare(int nprocs) {
  long ext_n = 0, up_n = 0, hand_n = 0, nl_n = 0;
  double secs = 5, ext_s, up_s, hand_s, nl_s;
  long long used0 =
      scalar_ll("SELECT coalesce(sum(used), 0) FROM ent_counters WHERE feature = 'm5'");
  long long rows0 = scalar_ll("SELECT count(*) FROM ent_events WHERE feature = 'm5'");
  long long used1, rows1;
  char *check = 0;
  ext_s = procs_run(nprocs, 1, secs, &ext_n);
  up_s = procs_run(nprocs, 0, secs, &up_n);
  hand_s = procs_run(nprocs, 2, secs, &hand_n);
  nl_s = procs_run(nprocs, 3, secs, &nl_n);
  used1 = scalar_ll("SELECT coalesce(sum(used), 0) FROM ent_counters WHERE feature = 'm5'");
  rows1 = scalar_ll("SELECT count(*) FROM ent_events WHERE feature = 'm5'");
  {
    sqlite3_stmt *st = prep("SELECT entitlements_check()");
    if (sqlite3_step(st) == SQLITE_ROW) check = sqlite3_mprintf("%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
  }
  printf("\n%d processes, autocommit, one WAL file, %.0f s each:\n", nprocs, secs);
  printf("| %-40s | %10.0f |\n", "consume_quota, committed calls/s", ext_n / ext_s);
  printf("| %-40s | %10.0f |\n", "by hand (lookup, UPSERT, ledger), calls/s", hand_n / hand_s);
  printf("| %-40s | %10.0f |\n", "bare counter UPSERT, committed calls/s", up_n / up_s);
  printf("| %-40s | %10.0f |\n", "consume_quota, \"ledger\": false, calls/s", nl_n / nl_s);
  printf(
      "consume_quota is %.2fx the bare UPSERT's throughput and %.2fx the by-hand SQL's; counters "
      "+%lld and ledger +%lld for %ld calls that returned success; entitlements_check(): %s\n",
      (ext_n / ext_s) / (up_n / up_s), (ext_n / ext_s) / (hand_n / hand_s), used1 - used0,
      rows1 - rows0, ext_n, check ? check : "?");
  if (used1 - used0 != ext_n || rows1 - rows0 != ext_n || !check || strcmp(check, "ok") != 0) {
    fprintf(stderr, "bench: the counters or the ledger disagree with the calls that succeeded\n");
    exit(1);
  }
  sqlite3_free(check);
}

#ifdef ENT_BENCH_REDIS
/* The usual alternative: a counter in Redis, one round trip per call
** (INCRBY and the expiry check pipelined), against consume_quota in-process. */
static void redis_compare(int port) {
  redisContext *r = redisConnect("127.0.0.1", port);
  double t0, redis_s, ext_s;
  long i, n = 20000;
  if (!r || r->err) {
    printf("redis: cannot connect to 127.0.0.1:%d\n", port);
    return;
  }
  t0 = now_s();
  for (i = 0; i < n; i++) {
    redisReply *a, *b;
    char key[48];
    snprintf(key, sizeof(key), "quota:user-%07ld:m3:2026-11", i % nsubjects);
    redisAppendCommand(r, "INCRBY %s 1", key);
    redisAppendCommand(r, "EXPIRE %s 2678400 NX", key);
    if (redisGetReply(r, (void **)&a) != REDIS_OK || redisGetReply(r, (void **)&b) != REDIS_OK) {
      printf("redis: %s\n", r->errstr);
      return;
    }
    freeReplyObject(a);
    freeReplyObject(b);
  }
  redis_s = now_s() - t0;
  ext_s = time_op(ext_consume, n, 0, 0);
  printf("\n| %-40s | %10.0f | %7.2f |\n", "Redis INCRBY+EXPIRE, 1 client, loopback", n / redis_s,
         redis_s / n * 1e6);
  printf("| %-40s | %10.0f | %7.2f |\n", "consume_quota, autocommit, in-process", n / ext_s,
         ext_s / n * 1e6);
  printf(
      "consume_quota (autocommit, durable in the app's database) is %.1fx the speed of one "
      "Redis round trip\n",
      redis_s / ext_s);
  redisFree(r);
}
#endif

static const Op OPS[] = {
    {"plan_allows, metered", 20000, 0, ext_allows_m, hand_allows_m},
    {"plan_allows, boolean", 20000, 0, ext_allows_b, hand_allows_b},
    {"consume_quota, 1000 per transaction", 20000, 1000, ext_consume, hand_consume},
    {"consume_quota, one autocommit each", 3000, 0, ext_consume, hand_consume_autocommit},
    {"consume_quota with a key, 1000 per txn", 20000, 1000, ext_consume_key, hand_consume_key},
    {"INSERT INTO usage_events, 1000 per txn", 20000, 1000, ext_events, hand_consume},
    {"usage_summary WHERE subject = ? (20)", 5000, 0, ext_summary, hand_summary},
    {"entitlement()", 20000, 0, ext_entitlement, hand_entitlement},
};
static const Op FLOORS[] = {
    {"consume_quota, 1000 per transaction", 20000, 1000, ext_consume, floor_upsert},
    {"consume_quota, one autocommit each", 3000, 0, ext_consume, floor_upsert},
};

int main(int argc, char **argv) {
  const char *ext = "dist/entitlements.so", *path = "dist/bench/bench.db";
  int memory = 0, i, redis_port = 0, nprocs = 0;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--ext") && i + 1 < argc) {
      ext = argv[++i];
    } else if (!strcmp(argv[i], "--subjects") && i + 1 < argc) {
      nsubjects = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
      nevents = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
      path = argv[++i];
    } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else if (!strcmp(argv[i], "--exact") && i + 1 < argc) {
      exact = argv[++i];
    } else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
      calls_override = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--side") && i + 1 < argc) {
      i++;
      side = !strcmp(argv[i], "ext") ? 1 : !strcmp(argv[i], "hand") ? 2 : 3;
    } else if (!strcmp(argv[i], "--instr")) {
      instr = 1;
    } else if (!strcmp(argv[i], "--cache") && i + 1 < argc) {
      cache_size = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--procs") && i + 1 < argc) {
      nprocs = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--memory")) {
      memory = 1;
    } else if (!strcmp(argv[i], "--redis") && i + 1 < argc) {
      redis_port = atoi(argv[++i]);
    }
  }
  self_path = argv[0];
  ext_path = ext;
  db_path = path;
  if (side) {
    setup(path, ext);
    for (i = 0; i < (int)(sizeof(OPS) / sizeof(OPS[0])); i++) measure(&OPS[i], "by hand in SQL");
    for (i = 0; i < (int)(sizeof(FLOORS) / sizeof(FLOORS[0])); i++)
      measure(&FLOORS[i], "bare UPSERT");
    sqlite3_close(db);
    return 0;
  }
  setup(path, ext);
  {
    size_t k;
    printf("SQLite %s, extension %s, best of %d rounds, file on disk, WAL, synchronous=NORMAL\n\n",
           sqlite3_libversion(), ext, rounds);
    printf("| %-40s | %10s | %7s | %7s | %-14s | %6s |%s\n", "operation", "calls/s", "us/call",
           "us ref", "reference", "ratio", instr ? " instr/op |  ref/op  | ratio  |" : "");
    printf("|%s|%s|%s|%s|%s|%s|%s\n", "------------------------------------------", "------------",
           "---------", "---------", "----------------", "--------",
           instr ? "----------|----------|--------|" : "");
    for (k = 0; k < sizeof(OPS) / sizeof(OPS[0]); k++) measure(&OPS[k], "by hand in SQL");
    for (k = 0; k < sizeof(FLOORS) / sizeof(FLOORS[0]); k++) measure(&FLOORS[k], "bare UPSERT");
  }
  if (memory) memory_check();
  if (nprocs > 0) {
    procs_ext = ext;
    procs_path = path;
    procs_compare(nprocs);
  }
#ifdef ENT_BENCH_REDIS
  if (redis_port) redis_compare(redis_port);
#else
  (void)redis_port;
#endif
  printf("\npeak RSS: %ld KiB\n", peak_rss_kb());
  return 0;
}
