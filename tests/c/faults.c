/*
** faults.c — fault injection, the way SQLite tests itself.
**
**   faults [--oom] [--io] [--max N]
**
** Out of memory: SQLite's allocator is wrapped (SQLITE_CONFIG_MALLOC) so that
** the Nth allocation fails, for N = 1, 2, ... until the call succeeds, for
** every SQL function, virtual table and write path (CASES below), in
** autocommit and inside BEGIN ... COMMIT. Each failure must return an error
** (SQLITE_NOMEM or an "entitlements: " message), change nothing (counters,
** ledger, grants, alerts, rates, subjects, plans: the STATE dump), leave the
** connection working (a read answers, entitlements_check() is 'ok') and
** closable (SQLITE_OK); a call that succeeds despite a failure must leave the
** same state as a clean call. At the end sqlite3_memory_used() must be 0.
**
** I/O errors: a VFS shim over the default one fails the Nth read, write,
** sync or lock (SQLITE_IOERR_READ, _WRITE, _FSYNC, _LOCK, or SQLITE_FULL)
** during consumption, grants, resets, purges and loads on a database file, in
** WAL and rollback-journal mode. After each failure, and again after closing
** and reopening the file: PRAGMA integrity_check is ok, entitlements_check()
** is ok, and the state is the one before the call or the one after it (never
** a part); a call that returned success is in the state.
**
** The extension is compiled in (-DSQLITE_CORE), so every allocation it makes,
** cJSON's included, goes through the failing allocator. Prints
** "faults: N passed, N failed" (one check per fault point).
*/
#define TEST_PART "faults"
#include <unistd.h>

#include "testlib.h"

/* ---- the failing allocator ------------------------------------------------ */

static sqlite3_mem_methods real_mem;
static int fail_at;   /* 0: off; else the allocation number that fails */
static int allocs;    /* allocations since armed */
static int persist;   /* fail every allocation from fail_at on */
static int oom_fired; /* the armed failure happened */

static int should_fail(void) {
  if (!fail_at) return 0;
  allocs++;
  if (allocs == fail_at || (persist && allocs > fail_at)) {
    oom_fired = 1;
    return 1;
  }
  return 0;
}
static void *f_malloc(int n) {
  return should_fail() ? 0 : real_mem.xMalloc(n);
}
static void *f_realloc(void *p, int n) {
  return should_fail() ? 0 : real_mem.xRealloc(p, n);
}
static void arm_oom(int n, int p) {
  allocs = 0;
  oom_fired = 0;
  persist = p;
  fail_at = n;
}
static void disarm_oom(void) {
  fail_at = 0;
}

/* ---- the failing VFS ------------------------------------------------------ */

enum { OP_READ, OP_WRITE, OP_SYNC, OP_LOCK, OP_FULL, OP_KINDS };
static const char *const OP_NAMES[] = {"read", "write", "sync", "lock", "full (write)"};
static int io_kind, io_at, io_count, io_fired;
static sqlite3_vfs *base_vfs;

typedef struct FFile {
  sqlite3_file base;
  sqlite3_file *real; /* follows this struct */
} FFile;

static int io_fail(int kind) {
  if (!io_at) return 0;
  if (kind != io_kind && !(io_kind == OP_FULL && kind == OP_WRITE)) return 0;
  if (++io_count != io_at) return 0;
  io_fired = 1;
  return 1;
}

static int f_close(sqlite3_file *f) {
  return ((FFile *)f)->real->pMethods->xClose(((FFile *)f)->real);
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
  if (io_fail(OP_READ)) return SQLITE_IOERR_READ;
  return ((FFile *)f)->real->pMethods->xRead(((FFile *)f)->real, b, n, o);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  if (io_fail(OP_WRITE)) return io_kind == OP_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
  return ((FFile *)f)->real->pMethods->xWrite(((FFile *)f)->real, b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 n) {
  return ((FFile *)f)->real->pMethods->xTruncate(((FFile *)f)->real, n);
}
static int f_sync(sqlite3_file *f, int flags) {
  if (io_fail(OP_SYNC)) return SQLITE_IOERR_FSYNC;
  return ((FFile *)f)->real->pMethods->xSync(((FFile *)f)->real, flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *n) {
  return ((FFile *)f)->real->pMethods->xFileSize(((FFile *)f)->real, n);
}
static int f_lock(sqlite3_file *f, int l) {
  if (io_fail(OP_LOCK)) return SQLITE_IOERR_LOCK;
  return ((FFile *)f)->real->pMethods->xLock(((FFile *)f)->real, l);
}
static int f_unlock(sqlite3_file *f, int l) {
  return ((FFile *)f)->real->pMethods->xUnlock(((FFile *)f)->real, l);
}
static int f_check(sqlite3_file *f, int *out) {
  return ((FFile *)f)->real->pMethods->xCheckReservedLock(((FFile *)f)->real, out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg) {
  return ((FFile *)f)->real->pMethods->xFileControl(((FFile *)f)->real, op, arg);
}
static int f_sector(sqlite3_file *f) {
  return ((FFile *)f)->real->pMethods->xSectorSize(((FFile *)f)->real);
}
static int f_devchar(sqlite3_file *f) {
  return ((FFile *)f)->real->pMethods->xDeviceCharacteristics(((FFile *)f)->real);
}
static int f_shmmap(sqlite3_file *f, int i, int sz, int ext, void volatile **pp) {
  return ((FFile *)f)->real->pMethods->xShmMap(((FFile *)f)->real, i, sz, ext, pp);
}
static int f_shmlock(sqlite3_file *f, int off, int n, int flags) {
  /* only taking a lock fails: releasing one cannot fail in the unix VFS */
  if ((flags & SQLITE_SHM_LOCK) && io_fail(OP_LOCK)) return SQLITE_IOERR_SHMLOCK;
  return ((FFile *)f)->real->pMethods->xShmLock(((FFile *)f)->real, off, n, flags);
}
static void f_shmbarrier(sqlite3_file *f) {
  ((FFile *)f)->real->pMethods->xShmBarrier(((FFile *)f)->real);
}
static int f_shmunmap(sqlite3_file *f, int del) {
  return ((FFile *)f)->real->pMethods->xShmUnmap(((FFile *)f)->real, del);
}

static const sqlite3_io_methods F_METHODS = {
    2,         f_close,      f_read,     f_write, f_truncate, f_sync,    f_size,
    f_lock,    f_unlock,     f_check,    f_fcntl, f_sector,   f_devchar, f_shmmap,
    f_shmlock, f_shmbarrier, f_shmunmap, 0,       0};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
  FFile *ff = (FFile *)f;
  int rc;
  (void)v;
  ff->real = (sqlite3_file *)&ff[1];
  rc = base_vfs->xOpen(base_vfs, name, ff->real, flags, out);
  ff->base.pMethods = ff->real->pMethods ? &F_METHODS : 0;
  return rc;
}
static int v_delete(sqlite3_vfs *v, const char *n, int s) {
  (void)v;
  return base_vfs->xDelete(base_vfs, n, s);
}
static int v_access(sqlite3_vfs *v, const char *n, int f, int *o) {
  (void)v;
  return base_vfs->xAccess(base_vfs, n, f, o);
}
static int v_full(sqlite3_vfs *v, const char *n, int k, char *o) {
  (void)v;
  return base_vfs->xFullPathname(base_vfs, n, k, o);
}
static void *v_dlopen(sqlite3_vfs *v, const char *n) {
  (void)v;
  return base_vfs->xDlOpen(base_vfs, n);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *o) {
  (void)v;
  base_vfs->xDlError(base_vfs, n, o);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) {
  (void)v;
  return base_vfs->xDlSym(base_vfs, h, s);
}
static void v_dlclose(sqlite3_vfs *v, void *h) {
  (void)v;
  base_vfs->xDlClose(base_vfs, h);
}
static int v_random(sqlite3_vfs *v, int n, char *o) {
  (void)v;
  return base_vfs->xRandomness(base_vfs, n, o);
}
static int v_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return base_vfs->xSleep(base_vfs, us);
}
static int v_time(sqlite3_vfs *v, double *o) {
  (void)v;
  return base_vfs->xCurrentTime(base_vfs, o);
}
static int v_lasterr(sqlite3_vfs *v, int n, char *o) {
  (void)v;
  return base_vfs->xGetLastError(base_vfs, n, o);
}
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *o) {
  (void)v;
  return base_vfs->xCurrentTimeInt64(base_vfs, o);
}

static sqlite3_vfs faulty_vfs = {2,        0,         0,        0,       "faulty", 0,
                                 v_open,   v_delete,  v_access, v_full,  v_dlopen, v_dlerror,
                                 v_dlsym,  v_dlclose, v_random, v_sleep, v_time,   v_lasterr,
                                 v_time64, 0,         0,        0};

/* ---- helpers ------------------------------------------------------------- */

static sqlite3 *open_with(const char *path, const char *vfs) {
  sqlite3 *db = 0;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK) {
    fprintf(stderr, "open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
    exit(3);
  }
  sqlite3_entitlements_init(db, 0, 0);
  return db;
}

/* Runs every statement of sql, stepping each to the end; returns the first
** error (and its message in *msg, sqlite3_malloc'd) or SQLITE_OK. */
static int run(sqlite3 *db, const char *sql, char **msg) {
  const char *tail = sql;
  int rc = SQLITE_OK;
  if (msg) *msg = 0;
  while (rc == SQLITE_OK && tail && *tail) {
    sqlite3_stmt *st = 0;
    rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
    if (rc != SQLITE_OK || !st) break;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    if (rc != SQLITE_OK && msg) {
      const char *m = sqlite3_errmsg(db);
      disarm_oom(); /* the copy must not fail */
      *msg = sqlite3_mprintf("%s", m ? m : "");
    }
    sqlite3_finalize(st);
  }
  if (rc != SQLITE_OK && msg && !*msg) {
    disarm_oom();
    *msg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  return rc;
}

/* Everything a call may change, as one text (written with faults off). */
static const char STATE_SQL[] =
    "SELECT group_concat(x, ' | ') FROM (SELECT x FROM ("
    "SELECT 'c ' || subject || ' ' || feature || ' ' || period || ' ' || period_start || ' ' || "
    "used || ' ' || unlogged || ' ' || from_grants || ' ' || held AS x FROM main.ent_counters "
    /* holds without their ids, which are random */
    "UNION ALL SELECT 'h ' || subject || ' ' || feature || ' ' || amount || ' ' || state || ' ' "
    "|| expires_at || ' ' || coalesce(actual, '-') || ' ' || coalesce(idempotency_key, '-') || ' ' "
    "|| coalesce(draws, '-') || ' ' || coalesce(units, '-') FROM main.ent_holds "
    "UNION ALL SELECT 'e ' || id || ' ' || subject || ' ' || feature || ' ' || amount || ' ' || "
    "kind || ' ' || coalesce(idempotency_key, '-') || ' ' || coalesce(metadata, '-') || ' ' || "
    "coalesce(charged, '-') || ' ' || coalesce(rate, '-') FROM main.ent_events "
    "UNION ALL SELECT 'g ' || id || ' ' || subject || ' ' || feature || ' ' || remaining FROM "
    "main.ent_grants "
    "UNION ALL SELECT 'a ' || subject || ' ' || feature || ' ' || period_start || ' ' || threshold "
    "FROM main.ent_alerts "
    "UNION ALL SELECT 'r ' || subject || ' ' || feature || ' ' || tat FROM main.ent_rates "
    "UNION ALL SELECT 's ' || subject || ' ' || coalesce(plan, '-') || ' ' || status FROM "
    "main.ent_subjects "
    "UNION ALL SELECT 'p ' || plan || ' ' || rank FROM main.ent_plans "
    "UNION ALL SELECT 'f ' || plan || ' ' || feature || ' ' || coalesce(quota, '-') FROM "
    "main.ent_plan_features "
    "UNION ALL SELECT 'x ' || feature || ' ' || coalesce(decimals, '-') || ' ' || "
    "coalesce(pricing, '-') FROM main.ent_features "
    "UNION ALL SELECT 'm ' || key || ' ' || value FROM main.ent_meta WHERE key NOT IN "
    "('config_generation', 'subjects_generation')) ORDER BY x)";

static char *state(sqlite3 *db) {
  sqlite3_stmt *st;
  char *out = 0;
  if (sqlite3_prepare_v2(db, STATE_SQL, -1, &st, 0) != SQLITE_OK) {
    return sqlite3_mprintf("(state unreadable: %s)", sqlite3_errmsg(db));
  }
  if (sqlite3_step(st) == SQLITE_ROW) {
    out = sqlite3_mprintf(
        "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
  } else {
    out = sqlite3_mprintf("(state unreadable: %s)", sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  return out;
}

static int text_is(sqlite3 *db, const char *sql, const char *want) {
  sqlite3_stmt *st;
  int ok = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) return 0;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
    ok = strcmp((const char *)sqlite3_column_text(st, 0), want) == 0;
  }
  sqlite3_finalize(st);
  return ok;
}

/* What differs between two state dumps: "-item" only in a, "+item" only in b. */
static char *diff(const char *a, const char *b) {
  char *out = sqlite3_mprintf("%s", "");
  const char *p;
  int side;
  for (side = 0; side < 2 && out; side++) {
    const char *from = side ? b : a, *other = side ? a : b;
    for (p = from; p && *p;) {
      const char *end = strstr(p, " | ");
      size_t n = end ? (size_t)(end - p) : strlen(p);
      char *item = sqlite3_mprintf("%.*s", (int)n, p), *hit;
      int found = 0;
      for (hit = strstr(other, item); item && hit; hit = strstr(hit + 1, item)) {
        if ((hit == other || hit[-1] == ' ') && (hit[n] == 0 || hit[n] == ' ')) found = 1;
      }
      if (item && !found) {
        char *grown = sqlite3_mprintf("%s %c[%s]", out, side ? '+' : '-', item);
        sqlite3_free(out);
        out = grown;
      }
      sqlite3_free(item);
      p = end ? end + 3 : 0;
    }
  }
  return out;
}

/* ---- the cases ------------------------------------------------------------ */

static const char SETUP[] =
    "SELECT entitlements_clock('2026-11-21 10:00:00');"
    "SELECT entitlements_load('{\"currencies\": {\"credits\": {\"decimals\": 2}}, "
    "\"features\": {\"snap\": {\"type\": \"rate\"}, \"max_mb\": {\"type\": \"config\"}, "
    "\"exports\": {\"type\": \"metered\", \"rollover\": {\"max\": 4, \"expires_after\": 2}}, "
    "\"tokens\": {\"type\": \"metered\", \"currency\": \"credits\", \"per\": 1000, \"rates\": "
    "{\"by\": \"model\", \"values\": {\"small\": \"1\", \"large\": \"15\"}}}, \"render\": "
    "{\"type\": \"metered\", \"currency\": \"credits\", \"rate\": \"5\"}}, \"plans\": "
    "{\"free\": {\"default\": true, \"features\": {\"credits\": {\"limit\": 10000, "
    "\"alerts\": [50]}, \"images\": {\"limit\": 10, \"alerts\": [50, 100]}, \"api\": {\"limit\": "
    "5, \"soft\": true, "
    "\"cap\": 20, \"overage_price\": \"0.5\"}, \"exports\": {\"limit\": 10, \"period\": \"day\"}, "
    "\"seats\": {\"limit\": 2, \"per_seat\": true, "
    "\"pool\": true, \"period\": \"lifetime\"}, \"snap\": {\"limit\": 10, \"period\": "
    "\"minute\", \"burst\": 5}, \"sso\": false, \"max_mb\": 10}}, \"pro\": {\"rank\": 1, "
    "\"inherits\": \"free\", \"features\": {\"images\": {\"limit\": 100}, \"sso\": true}}, "
    "\"capped\": {\"rank\": 2, \"spend_cap\": \"3\", \"features\": {\"api\": {\"limit\": 0, "
    "\"soft\": true, \"overage_price\": \"0.5\"}, \"gpu\": {\"limit\": 0, \"soft\": true, "
    "\"overage_price\": \"1\", \"period\": \"day\"}}}}}');"
    /* rollover: r used 3 exports yesterday; its first write today makes the grant */
    "SELECT consume_quota('r', 'exports', 3);"
    "SELECT entitlements_clock('2026-11-22 10:00:00');"
    "SELECT subject_set_plan('sc', 'capped');"
    "SELECT consume_quota('sc', 'gpu', 1);"
    "SELECT subject_set_plan('t', 'pro');"
    "INSERT INTO ent_subjects(subject, parent) VALUES ('m', 't');"
    "INSERT INTO ent_overrides(subject, feature, quota) VALUES ('o', 'images', 3);"
    "SELECT consume_quota('u1', 'images', 4, 'k0');"
    "SELECT grant_quota('u1', 'images', 5);"
    "SELECT consume_quota('u1', 'snap', 2);"
    /* counters the memo remembers (a row, and no row: each read a second
    ** time, when the memo admits it), for the calls that write from the
    ** memo's hint without a savepoint inside BEGIN */
    "SELECT consume_quota('u2', 'api', 1, 'kk'), quota_remaining('u2', 'api'), "
    "quota_remaining('u2', 'images'), quota_remaining('u2', 'images');"
    /* holds of subject h: two on images, one on the rate limit, one that
    ** expires at 10:00:30 */
    "SELECT quota_reserve('h', 'images', 2, 600, 'hk1'), quota_reserve('h', 'images', 1, 600, "
    "'hk2'), quota_reserve('h', 'snap', 2, 600, 'hk3'), quota_reserve('h', 'images', 3, 30, "
    "'hk4');"
    /* credits: a grant, a priced hold */
    "SELECT grant_quota('c', 'credits', 500);"
    "SELECT consume_quota('c', 'credits', 10000);"
    "SELECT quota_reserve('h', 'tokens', 1000, 600, 'hk6', '{\"model\": \"large\"}');";

typedef struct Case {
  const char *name;
  const char *call;
} Case;

static const Case CASES[] = {
    {"entitlements_init", "SELECT entitlements_init()"},
    {"entitlements_load merge",
     "SELECT entitlements_load('{\"plans\": {\"team\": {\"rank\": 2, "
     "\"inherits\": \"pro\", \"features\": {\"images\": {\"limit\": "
     "500}}}}}')"},
    {"entitlements_load replace",
     "SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": "
     "{\"images\": {\"limit\": 7}}}, \"pro\": {\"rank\": 1}}}', 'replace')"},
    {"entitlements_config", "SELECT entitlements_config()"},
    {"entitlements_check", "SELECT entitlements_check()"},
    {"entitlements_clock", "SELECT entitlements_clock('2026-11-23')"},
    {"subject_set_plan", "SELECT subject_set_plan('n', 'pro')"},
    {"subject_start_trial", "SELECT subject_start_trial('n', 'pro', 14)"},
    {"plan_allows",
     "SELECT plan_allows('u1', 'images', 3), plan_allows('t', 'sso'), "
     "plan_allows('u1', 'max_mb', 5), plan_allows('u1', 'snap')"},
    {"quota_remaining", "SELECT quota_remaining('u1', 'images'), quota_remaining('o', 'images')"},
    {"plan_value", "SELECT plan_value('u1', 'max_mb'), plan_value('t', 'images')"},
    {"entitlement", "SELECT entitlement('u1', 'images'), entitlement('u1', 'snap')"},
    {"entitlements", "SELECT entitlements('m')"},
    {"plan_upgrade_for", "SELECT plan_upgrade_for('u1', 'images', 50)"},
    {"usage_summary by subject", "SELECT * FROM usage_summary WHERE subject = 'u1'"},
    {"usage_summary scan", "SELECT * FROM usage_summary"},
    {"usage_history", "SELECT * FROM usage_history('u1', NULL, 'day')"},
    {"usage_events read", "SELECT * FROM usage_events WHERE subject = 'u1'"},
    {"plan_matrix", "SELECT * FROM plan_matrix"},
    {"consume_quota", "SELECT consume_quota('u2', 'images', 3)"},
    {"consume_quota from a remembered counter", "SELECT consume_quota('u2', 'api', 2)"},
    {"consume_quota crossing alerts, burning grants, key, metadata",
     "SELECT consume_quota('u1', 'images', 8, 'k1', '{\"job\": 1}')"},
    {"consume_quota denied", "SELECT consume_quota('u1', 'images', 100)"},
    {"consume_quota pooled", "SELECT consume_quota('m', 'seats', 1)"},
    {"consume_quota rate", "SELECT consume_quota('u1', 'snap', 2)"},
    {"try_consume_quota", "SELECT try_consume_quota('u2', 'api', 7)"},
    {"consume_quota_upto taking part, burning grants, key",
     "SELECT consume_quota_upto('u1', 'images', 100, 'k2')"},
    {"consume_quota_upto rate", "SELECT consume_quota_upto('u1', 'snap', 9)"},
    {"record_usage", "SELECT record_usage('u2', 'images', 30)"},
    {"refund_quota", "SELECT refund_quota('u1', 'images', 2, 'k2')"},
    {"refund_quota rate", "SELECT refund_quota('u1', 'snap', 1)"},
    {"consume_quota replayed key", "SELECT consume_quota('u1', 'images', 4, 'k0')"},
    {"consume_quota replayed key found by the ledger's index",
     "SELECT consume_quota('u2', 'api', 1, 'kk')"},
    {"grant_quota", "SELECT grant_quota('u2', 'images', 5, '2026-12-31', 'g1', 1)"},
    {"grant_quota promotional",
     "SELECT grant_quota('u2', 'images', 5, NULL, NULL, 0, NULL, 'promotional')"},
    {"grant_void", "SELECT grant_void(1, 'refunded')"},
    {"reset_quota", "SELECT reset_quota('u1')"},
    {"usage_purge all", "SELECT usage_purge('2026-11-23', 'all')"},
    {"quota_reserve", "SELECT quota_reserve('h', 'images', 2, 60, 'hk5', '{\"job\": 1}')"},
    {"quota_reserve rate", "SELECT quota_reserve('h', 'snap', 2, 60)"},
    {"quota_reserve denied", "SELECT quota_reserve('h', 'images', 50, 60)"},
    {"quota_reserve replayed key", "SELECT quota_reserve('h', 'images', 2, 600, 'hk1')"},
    {"quota_settle",
     "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk1'), 1)"},
    {"quota_settle cap",
     "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk2'), 9, 'cap')"},
    {"quota_settle overflow denied",
     "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk2'), 9)"},
    {"quota_settle rate",
     "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk3'), 0)"},
    {"quota_release",
     "SELECT quota_release((SELECT id FROM ent_holds WHERE idempotency_key = 'hk1'))"},
    {"quota_release rate",
     "SELECT quota_release((SELECT id FROM ent_holds WHERE idempotency_key = 'hk3'))"},
    {"quota_extend",
     "SELECT quota_extend((SELECT id FROM ent_holds WHERE idempotency_key = 'hk2'), 3600)"},
    {"an expired hold recorded by a consumption",
     "SELECT entitlements_clock('2026-11-22 10:01:00'); SELECT consume_quota('h', 'images', 1)"},
    {"an expired hold recorded by a settle",
     "SELECT entitlements_clock('2026-11-22 10:01:00'); SELECT quota_settle((SELECT id FROM "
     "ent_holds WHERE idempotency_key = 'hk1'), 2)"},
    {"usage_purge recording expired holds",
     "SELECT entitlements_clock('2026-11-22 10:01:00'); SELECT usage_purge('2026-11-22 10:00:00')"},
    {"consume_quota priced, crossing an alert on the currency",
     "SELECT consume_quota('d', 'tokens', 400000, 'ck1', '{\"model\": \"large\"}')"},
    {"consume_quota priced burning a grant of credits", "SELECT consume_quota('c', 'render', 1)"},
    {"consume_quota priced denied", "SELECT consume_quota('c', 'render', 100)"},
    {"consume_quota priced replayed key",
     "SELECT consume_quota('h', 'tokens', 10, 'hk6', '{\"model\": \"large\"}')"},
    {"consume_quota_upto priced",
     "SELECT consume_quota_upto('d', 'tokens', 9000000, 'ck2', '{\"model\": \"small\"}')"},
    {"record_usage priced", "SELECT record_usage('c', 'render', 50)"},
    {"quota_estimate", "SELECT quota_estimate('d', 'tokens', 1200, '{\"model\": \"large\"}')"},
    {"priced reads",
     "SELECT plan_allows('c', 'tokens', 5), quota_remaining('c', 'render'), entitlement('c', "
     "'tokens'), entitlement('c', 'credits')"},
    {"quota_reserve priced",
     "SELECT quota_reserve('d', 'tokens', 4000, 60, 'ck3', "
     "'{\"model\": \"large\"}')"},
    {"quota_settle priced",
     "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk6'), 2731)"},
    {"quota_settle priced cap",
     "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk6'), 9000, 'cap')"},
    {"entitlements_load merge of a currency",
     "SELECT entitlements_load('{\"currencies\": {\"coins\": {}}, \"features\": {\"render\": "
     "{\"type\": \"metered\", \"currency\": \"coins\", \"rate\": \"0.5\"}}}')"},
    {"consume_quota under a spend cap", "SELECT consume_quota('sc', 'api', 4)"},
    {"consume_quota making a rollover grant", "SELECT consume_quota('r', 'exports', 5)"},
    {"consume_quota making a rollover grant, denied", "SELECT consume_quota('r', 'exports', 90)"},
    {"quota_reserve making a rollover grant", "SELECT quota_reserve('r', 'exports', 2, 60)"},
    {"rollover reads",
     "SELECT quota_remaining('r', 'exports'), entitlement('r', 'exports'), plan_allows('r', "
     "'exports', 14), (SELECT group_concat(remaining) FROM usage_summary WHERE subject = 'r')"},
    {"entitlements_load merge of a rollover",
     "SELECT entitlements_load('{\"features\": {\"exports\": {\"type\": \"metered\", "
     "\"rollover\": {\"expires_after\": 3}}}}', 'merge')"},
    {"consume_quota past a spend cap, denied", "SELECT consume_quota('sc', 'api', 5)"},
    {"consume_quota_upto under a spend cap", "SELECT consume_quota_upto('sc', 'api', 50)"},
    {"quota_reserve under a spend cap", "SELECT quota_reserve('sc', 'gpu', 2, 60)"},
    {"usage_events insert",
     "INSERT INTO usage_events(subject, feature, amount, kind) VALUES "
     "('u2', 'images', 2, 'consume'), ('u2', 'images', 1, 'record')"},
    {"usage_events insert or ignore",
     "INSERT OR IGNORE INTO usage_events(subject, feature, amount) VALUES ('u2', 'images', 6), "
     "('u2', 'images', 6)"},
    {"entitlements_version", "SELECT entitlements_version()"},
    {"entitlements_json_valid", "SELECT entitlements_json_valid('{\"a\": [1, 2.5, \"x\"]}')"},
    {"ent_overrides insert (its trigger)",
     "INSERT INTO ent_overrides(subject, feature, value) VALUES ('u1', 'max_mb', '500')"},
    {"ent_subjects update (its trigger)",
     "UPDATE ent_subjects SET billing_anchor = '2026-01-31 00:00:00' WHERE subject = 't'"},
};
#define NCASES ((int)(sizeof(CASES) / sizeof(CASES[0])))

static int max_points = 100000;
static int only_case = -1, only_at = 0; /* --case N --at K: one fault point, with SQLite's log */
static int from_case = 0;               /* --from N: cases N and after */
static int verbose;                     /* --verbose: a line per call with its fault points */
static int only_txn;                    /* --txn: with --case, inside BEGIN */
static long total_points;               /* fault points tried, all calls */

static void log_cb(void *arg, int code, const char *msg) {
  (void)arg;
  if (only_at) fprintf(stderr, "  sqlite log %d: %s\n", code, msg);
}

/* One case under OOM: N = 1, 2, ... until the call runs with no failure. */
static void oom_case(const Case *c, int in_txn, int persistent) {
  char *clean_after = 0, *clean_msg = 0, what[512];
  int n, points = 0, ok_all = 1, clean_rc;
  {
    sqlite3 *db = open_with(":memory:", 0);
    run(db, SETUP, 0);
    if (in_txn) run(db, "BEGIN", 0);
    clean_rc = run(db, c->call, &clean_msg);
    clean_after = state(db);
    if (in_txn) run(db, "COMMIT", 0);
    sqlite3_close(db);
  }
  for (n = only_at ? only_at : 1; n <= max_points; n++) {
    sqlite3 *db = open_with(":memory:", 0);
    char *before, *after, *msg = 0;
    int rc;
    run(db, SETUP, 0);
    if (in_txn) run(db, "BEGIN", 0);
    before = state(db);
    arm_oom(n, persistent);
    rc = run(db, c->call, &msg);
    disarm_oom();
    after = state(db);
    points++;
    if (!oom_fired) { /* no allocation left to fail: the sweep is complete */
      snprintf(what, sizeof(what), "oom %s%s%s: the call without a failure", c->name,
               in_txn ? " (in BEGIN)" : "", persistent ? " (persistent)" : "");
      check(rc == clean_rc && strcmp(after, clean_after) == 0, what);
      ok_all = 0;
    } else if (rc == clean_rc &&
               (rc == SQLITE_OK || (msg && clean_msg && strcmp(msg, clean_msg) == 0))) {
      /* it coped: then it did exactly what a clean call does */
      if (strcmp(after, clean_after) != 0) {
        char *d = diff(clean_after, after);
        char *w = sqlite3_mprintf(
            "oom %s%s at allocation %d succeeded but differs from a clean "
            "call:%s",
            c->name, in_txn ? " (in BEGIN)" : "", n, d);
        check(0, w);
        sqlite3_free(d);
        sqlite3_free(w);
        ok_all = 0;
      }
    } else {
      int nomem = (rc & 0xff) == SQLITE_NOMEM;
      int ours = msg && strncmp(msg, "entitlements: ", 14) == 0;
      int denial = rc == clean_rc; /* a denial whose message could not be copied */
      int same = strcmp(before, after) == 0;
      int works = scalar(db, "SELECT quota_remaining('u1', 'images')", 0) >= 0 &&
                  text_is(db, "SELECT entitlements_check()", "ok");
      if (!(nomem || ours || denial) || !same || !works) {
        char *d = diff(before, after);
        char *w = sqlite3_mprintf(
            "oom %s%s at allocation %d: rc %d '%s'; %s%s%s%s", c->name, in_txn ? " (in BEGIN)" : "",
            n, rc, msg ? msg : "",
            nomem || ours || denial ? "" : "not NOMEM nor an entitlements: message; ",
            same ? "" : "state changed:", d, works ? "" : "; connection broken");
        check(0, w);
        sqlite3_free(d);
        sqlite3_free(w);
        ok_all = 0;
      }
    }
    if (in_txn) run(db, "ROLLBACK", 0);
    sqlite3_free(msg);
    sqlite3_free(before);
    sqlite3_free(after);
    if (sqlite3_close(db) != SQLITE_OK) {
      snprintf(what, sizeof(what), "oom %s at allocation %d: close is not SQLITE_OK", c->name, n);
      check(0, what);
      sqlite3_close_v2(db);
    }
    if (!oom_fired || only_at) break;
  }
  if (ok_all) {
    snprintf(what, sizeof(what), "oom %s%s%s: %d fault points", c->name,
             in_txn ? " (in BEGIN)" : "", persistent ? " (persistent)" : "", points);
    check(1, what);
  }
  total_points += points;
  if (verbose)
    printf("oom %-58s %s%s %5d points\n", c->name, in_txn ? "txn " : "auto",
           persistent ? "/p" : "  ", points);
  sqlite3_free(clean_after);
  sqlite3_free(clean_msg);
}

/* ---- I/O ------------------------------------------------------------------ */

static const char *IO_CALLS[] = {
    "SELECT consume_quota('u2', 'images', 3, 'io1')",
    "BEGIN IMMEDIATE; SELECT consume_quota('u2', 'images', 2); SELECT consume_quota('u1', "
    "'images', 8); COMMIT",
    "SELECT consume_quota('u1', 'snap', 1)",
    "BEGIN IMMEDIATE; SELECT consume_quota('u2', 'api', 2); SELECT consume_quota('u2', 'api', 3); "
    "SELECT consume_quota('u2', 'images', 1); SELECT consume_quota('u2', 'api', 1, 'kk'); COMMIT",
    "SELECT grant_quota('u2', 'images', 5)",
    "SELECT reset_quota('u1')",
    "SELECT usage_purge('2026-11-23', 'all')",
    "SELECT quota_reserve('h', 'images', 1, 60)",
    "SELECT consume_quota('r', 'exports', 5)",
    "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk1'), 3)",
    "SELECT consume_quota('c', 'tokens', 1200, 'io2', '{\"model\": \"large\"}')",
    "SELECT quota_settle((SELECT id FROM ent_holds WHERE idempotency_key = 'hk6'), 2731)",
    "SELECT entitlements_load('{\"plans\": {\"team\": {\"rank\": 2, \"inherits\": \"pro\"}}}')",
    "INSERT INTO usage_events(subject, feature, amount) VALUES ('u2', 'images', 1), ('u2', "
    "'images', 2)",
};

static const char *DB_PATH = "dist/test-tmp/faults.db";

static void remove_db(void) {
  char p[256];
  const char *sfx[] = {"", "-wal", "-shm", "-journal"};
  size_t i;
  for (i = 0; i < 4; i++) {
    snprintf(p, sizeof(p), "%s%s", DB_PATH, sfx[i]);
    unlink(p);
  }
}

static void io_sweep(const char *call, const char *mode) {
  char *clean_before = 0, *clean_after = 0, what[1024];
  int kind, n, points = 0, ok_all = 1;
  char setup[64];
  snprintf(setup, sizeof(setup), "PRAGMA journal_mode = %s;", mode);
  {
    sqlite3 *db;
    remove_db();
    db = open_with(DB_PATH, 0);
    run(db, setup, 0);
    run(db, SETUP, 0);
    clean_before = state(db);
    run(db, call, 0);
    clean_after = state(db);
    sqlite3_close(db);
  }
  for (kind = 0; kind < OP_KINDS; kind++) {
    for (n = 1; n <= max_points; n++) {
      sqlite3 *db;
      char *msg = 0, *now = 0, *reopened = 0;
      int rc, fired, good;
      remove_db();
      db = open_with(DB_PATH, "faulty");
      run(db, setup, 0);
      run(db, SETUP, 0);
      run(db, "SELECT entitlements_clock('2026-11-22 10:00:00')", 0);
      io_kind = kind;
      io_count = 0;
      io_fired = 0;
      io_at = n;
      rc = run(db, call, &msg);
      io_at = 0;
      fired = io_fired;
      points++;
      if (rc != SQLITE_OK) run(db, "ROLLBACK", 0); /* an explicit transaction left open */
      now = state(db);
      good = text_is(db, "PRAGMA integrity_check", "ok") &&
             text_is(db, "SELECT entitlements_check()", "ok");
      if (sqlite3_close(db) != SQLITE_OK) good = 0, sqlite3_close_v2(db);
      db = open_with(DB_PATH, 0);
      reopened = state(db);
      good = good && text_is(db, "PRAGMA integrity_check", "ok") &&
             text_is(db, "SELECT entitlements_check()", "ok");
      sqlite3_close(db);
      if (rc == SQLITE_OK) {
        good = good && strcmp(now, clean_after) == 0 && strcmp(reopened, clean_after) == 0;
      } else {
        good = good &&
               (strcmp(reopened, clean_before) == 0 || strcmp(reopened, clean_after) == 0) &&
               (strcmp(now, clean_before) == 0 || strcmp(now, clean_after) == 0);
      }
      if (!good) {
        snprintf(what, sizeof(what),
                 "io %s (%s), %s %d failed: rc %d '%s'\n  before   %s\n  after    %s\n  now      "
                 "%s\n  reopened %s",
                 call, mode, OP_NAMES[kind], n, rc, msg ? msg : "", clean_before, clean_after, now,
                 reopened);
        check(0, what);
        ok_all = 0;
      }
      sqlite3_free(msg);
      sqlite3_free(now);
      sqlite3_free(reopened);
      if (!fired) break;
    }
  }
  if (ok_all) {
    snprintf(what, sizeof(what), "io %s (%s)", call, mode);
    check(1, what);
  }
  total_points += points;
  if (verbose) printf("io  %-70.70s %-6s %4d points\n", call, mode, points);
  sqlite3_free(clean_before);
  sqlite3_free(clean_after);
}

int main(int argc, char **argv) {
  int i, do_oom = 0, do_io = 0;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--oom") == 0) do_oom = 1;
    if (strcmp(argv[i], "--io") == 0) do_io = 1;
    if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) max_points = atoi(argv[++i]);
    if (strcmp(argv[i], "--case") == 0 && i + 1 < argc) only_case = atoi(argv[++i]);
    if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) only_at = atoi(argv[++i]);
    if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) from_case = atoi(argv[++i]);
    if (strcmp(argv[i], "--verbose") == 0) verbose = 1;
    if (strcmp(argv[i], "--txn") == 0) only_txn = 1;
  }
  if (!do_oom && !do_io) do_oom = do_io = 1;
  {
    sqlite3_mem_methods m;
    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem);
    m = real_mem;
    m.xMalloc = f_malloc;
    m.xRealloc = f_realloc;
    sqlite3_config(SQLITE_CONFIG_LOG, log_cb, (void *)0);
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK) {
      fprintf(stderr, "faults: sqlite3_config(SQLITE_CONFIG_MALLOC) failed\n");
      return 3;
    }
  }
  sqlite3_initialize();
  base_vfs = sqlite3_vfs_find(0);
  faulty_vfs.szOsFile = (int)sizeof(FFile) + base_vfs->szOsFile;
  faulty_vfs.mxPathname = base_vfs->mxPathname;
  sqlite3_vfs_register(&faulty_vfs, 0);
  if (do_oom) {
    for (i = 0; i < NCASES; i++) {
      if ((only_case >= 0 && i != only_case) || i < from_case) continue;
      if (only_case < 0 || !only_txn) oom_case(&CASES[i], 0, 0);
      if (only_case < 0 || only_txn) oom_case(&CASES[i], 1, 0);
    }
    if (only_case >= 0) return report();
    oom_case(&CASES[21], 0, 1); /* persistent: every allocation fails from N on */
    oom_case(&CASES[20], 1, 1); /* and the undo of a write without a savepoint */
    oom_case(&CASES[1], 0, 1);
  }
  if (do_io) {
    for (i = 0; i < (int)(sizeof(IO_CALLS) / sizeof(IO_CALLS[0])); i++) {
      io_sweep(IO_CALLS[i], "wal");
      io_sweep(IO_CALLS[i], "delete");
    }
    remove_db();
  }
  sqlite3_shutdown();
  check(sqlite3_memory_used() == 0, "sqlite3_memory_used() is 0 at the end");
  if (sqlite3_memory_used() != 0) printf("  memory used: %lld\n", (long long)sqlite3_memory_used());
  printf(
      "faults: %ld fault points (out of memory: every call, in autocommit and in BEGIN; I/O: "
      "read, write, sync, lock, full, in WAL and rollback-journal mode)\n",
      total_points);
  return report();
}
