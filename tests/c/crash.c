/*
** crash.c — processes killed with SIGKILL while they consume, many times.
**
**   crash [--ext dist/entitlements.so] [--kills N]
**
** 4 workers consume 1 unit at a time, each in BEGIN IMMEDIATE ... COMMIT with
** an idempotency key. Before each attempt a worker notes the key; after a
** COMMIT returns it logs the key as committed. The parent kills a random
** worker every few milliseconds and starts it again; a restarted worker first
** retries the key it was attempting. When the quota is gone:
**  - every key a worker saw committed is in the ledger, exactly once;
**  - no key is in the ledger twice (retries after a kill never double count);
**  - the granted total is exactly the quota, never more;
**  - entitlements_check() is 'ok' and PRAGMA integrity_check is 'ok'.
*/
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_PART "crash"
#include "testlib.h"

#define WORKERS 4
#define QUOTA 5000
#define DB "dist/test-tmp/crash.db"

static sqlite3 *open_db(void) {
  return open_db_at(DB);
}

static void path_of(char *buf, size_t n, int w, const char *what) {
  snprintf(buf, n, "dist/test-tmp/crash-%d.%s", w, what);
}

/* Writes a whole small file (the key being attempted). */
static void note(int w, long n) {
  char p[128];
  FILE *f;
  path_of(p, sizeof(p), w, "attempt");
  f = fopen(p, "w");
  if (!f) exit(5);
  fprintf(f, "%ld\n", n);
  fclose(f);
}

static long noted(int w) {
  char p[128];
  long n = -1;
  FILE *f;
  path_of(p, sizeof(p), w, "attempt");
  f = fopen(p, "r");
  if (f) {
    if (fscanf(f, "%ld", &n) != 1) n = -1;
    fclose(f);
  }
  return n;
}

/* One attempt: 1 granted, 0 denied (quota gone); exits on anything else. */
static int attempt(sqlite3 *db, int w, long n) {
  sqlite3_stmt *st;
  char key[64];
  int r;
  snprintf(key, sizeof(key), "w%d-%ld", w, n);
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0) != SQLITE_OK) exit(4);
  if (sqlite3_prepare_v2(db, "SELECT try_consume_quota('team', 'credits', 1, ?1)", -1, &st, 0)) {
    exit(4);
  }
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_ROW) exit(4);
  r = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK) exit(4);
  return r;
}

static void worker(int w) {
  sqlite3 *db = open_db();
  char p[128];
  long n = noted(w);
  FILE *log;
  path_of(p, sizeof(p), w, "committed");
  log = fopen(p, "a");
  if (!log) exit(5);
  if (n < 0) n = 0;
  for (;; n++) {
    int r;
    note(w, n); /* a restart retries this key first */
    r = attempt(db, w, n);
    if (r == 1) {
      fprintf(log, "w%d-%ld\n", w, n);
      fflush(log);
    } else {
      break;
    }
  }
  fclose(log);
  sqlite3_close(db);
  exit(0);
}

static pid_t start(int w) {
  pid_t pid = fork();
  if (pid == 0) worker(w);
  return pid;
}

int main(int argc, char **argv) {
  pid_t pids[WORKERS];
  int w, kills = 100, k, clean = 1, missing = 0, logged = 0;
  sqlite3 *db;
  char what[160];
  for (k = 1; k < argc; k++) {
    if (!strcmp(argv[k], "--ext") && k + 1 < argc) ext = argv[++k];
    if (!strcmp(argv[k], "--kills") && k + 1 < argc) kills = atoi(argv[++k]);
  }
  register_static();
  if (system("mkdir -p dist/test-tmp && rm -f dist/test-tmp/crash*") != 0) return 2;
  db = open_db();
  sqlite3_exec(db, "PRAGMA journal_mode = wal", 0, 0, 0);
  if (sqlite3_exec(db,
                   "SELECT entitlements_load('{\"plans\": {\"team\": {\"default\": true, "
                   "\"features\": {\"credits\": {\"limit\": 5000, \"period\": \"lifetime\"}}}}}')",
                   0, 0, 0) != SQLITE_OK) {
    return 2;
  }
  sqlite3_close(db);
  srand(7);
  for (w = 0; w < WORKERS; w++) pids[w] = start(w);
  for (k = 0; k < kills; k++) {
    struct timespec ts = {0, (long)(2 + rand() % 15) * 1000000L};
    int status;
    nanosleep(&ts, 0);
    w = rand() % WORKERS;
    if (waitpid(pids[w], &status, WNOHANG) == pids[w]) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) clean = 0;
      break; /* that worker finished: the quota is gone */
    }
    kill(pids[w], SIGKILL);
    waitpid(pids[w], &status, 0);
    pids[w] = start(w); /* it retries its last key first */
  }
  for (w = 0; w < WORKERS; w++) {
    int status;
    waitpid(pids[w], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) clean = 0;
  }
  db = open_db();
  for (w = 0; w < WORKERS; w++) {
    char p[128], line[64];
    FILE *f;
    path_of(p, sizeof(p), w, "committed");
    f = fopen(p, "r");
    while (f && fgets(line, sizeof(line), f)) {
      line[strcspn(line, "\n")] = 0;
      logged++;
      if (scalar(db, "SELECT count(*) FROM ent_events WHERE idempotency_key = ?1", line) != 1) {
        missing++;
      }
    }
    if (f) fclose(f);
  }
  snprintf(what, sizeof(what), "%d kills: every worker ended cleanly after its last restart", k);
  check(clean, what);
  snprintf(what, sizeof(what),
           "all %d consumptions the workers saw committed are in the ledger once", logged);
  check(missing == 0 && logged > 0, what);
  check(scalar(db, "SELECT count(*) - count(DISTINCT idempotency_key) FROM ent_events", 0) == 0,
        "no key counted twice after a kill and a retry");
  check(scalar(db, "SELECT sum(amount) FROM ent_events", 0) == QUOTA,
        "exactly the quota (5000) was granted");
  check(scalar(db, "SELECT used FROM ent_counters", 0) == QUOTA, "the counter says 5000");
  check(scalar(db, "SELECT entitlements_check() = 'ok'", 0) == 1, "entitlements_check() is ok");
  check(scalar(db, "SELECT integrity_check = 'ok' FROM pragma_integrity_check", 0) == 1,
        "PRAGMA integrity_check is ok");
  sqlite3_close(db);
  printf("crash: %d workers, %d SIGKILLs survived, %d committed consumptions checked\n", WORKERS, k,
         logged);
  return report();
}
