/*
** runner.c — runs the SQL test files under tests/sql/.
**
**   runner [--ext dist/entitlements.so] FILE.test...
**
** Each file runs on a fresh database file with the extension loaded. A file
** is a list of cases:
**
**   === name of the case
**   SELECT ...;              -- one or more statements
**   ---                      -- expected rows follow, columns joined by '|'
**   1|NULL|text
**
**   === a bad call
**   SELECT consume_quota(NULL, 'images');
**   --- error SQLITE_ERROR
**   entitlements: consume_quota: subject is NULL; ...
**
** Rows of every statement in a case are compared, in order, exactly. An
** expected error names the extended result code and the exact message; a
** case that expects rows fails on any error and the other way round.
** Lines starting with '#' outside SQL are comments. Directives in the SQL:
**   .conn NAME [ro]   run the following statements on connection NAME
**                     (opened on the same file on first use; ro = read-only)
**   .reopen           close every connection and reopen the default one
**
** After each file every connection is closed and must close with SQLITE_OK.
** Prints each failure in full, then "N passed, N failed".
*/
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef ENT_STATIC_RUNNER
int sqlite3_entitlements_init(sqlite3 *, char **, const sqlite3_api_routines *);
#endif

#define MAX_CONNS 8

typedef struct Buf {
  char *p;
  size_t n, cap;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void buf_str(Buf *b, const char *s) {
  buf_add(b, s, strlen(s));
}

static const struct {
  int code;
  const char *name;
} CODES[] = {
    {SQLITE_ERROR, "SQLITE_ERROR"},
    {SQLITE_BUSY, "SQLITE_BUSY"},
    {SQLITE_BUSY_SNAPSHOT, "SQLITE_BUSY_SNAPSHOT"},
    {SQLITE_LOCKED, "SQLITE_LOCKED"},
    {SQLITE_READONLY, "SQLITE_READONLY"},
    {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT"},
    {SQLITE_CONSTRAINT_FUNCTION, "SQLITE_CONSTRAINT_FUNCTION"},
    {SQLITE_CONSTRAINT_TRIGGER, "SQLITE_CONSTRAINT_TRIGGER"},
    {SQLITE_CONSTRAINT_CHECK, "SQLITE_CONSTRAINT_CHECK"},
    {SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE"},
    {SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT_NOTNULL"},
    {SQLITE_CONSTRAINT_PRIMARYKEY, "SQLITE_CONSTRAINT_PRIMARYKEY"},
    {SQLITE_MISUSE, "SQLITE_MISUSE"},
    {SQLITE_NOMEM, "SQLITE_NOMEM"},
};

static const char *code_name(int code) {
  static char other[32];
  size_t i;
  for (i = 0; i < sizeof(CODES) / sizeof(CODES[0]); i++) {
    if (CODES[i].code == code) return CODES[i].name;
  }
  snprintf(other, sizeof(other), "code %d", code);
  return other;
}

typedef struct Run {
  const char *ext;
  char path[512];
  sqlite3 *db[MAX_CONNS];
  char name[MAX_CONNS][32];
  int cur;
  int passed, failed;
} Run;

static sqlite3 *open_conn(Run *r, const char *name, int ro) {
  sqlite3 *db = 0;
  char *err = 0;
  int i, flags = ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  for (i = 0; i < MAX_CONNS; i++) {
    if (r->db[i] && strcmp(r->name[i], name) == 0) return r->db[i];
  }
  for (i = 0; i < MAX_CONNS && r->db[i]; i++) {
  }
  if (i == MAX_CONNS) return 0;
  if (sqlite3_open_v2(r->path, &db, flags, 0) != SQLITE_OK) {
    fprintf(stderr, "cannot open %s: %s\n", r->path, sqlite3_errmsg(db));
    exit(2);
  }
  sqlite3_busy_timeout(db, 5000);
  if (r->ext) {
    sqlite3_enable_load_extension(db, 1);
    if (sqlite3_load_extension(db, r->ext, 0, &err) != SQLITE_OK) {
      fprintf(stderr, "cannot load %s: %s\n", r->ext, err);
      exit(2);
    }
  }
  /* ENT_TEST_MEMO=0: the whole suite again with the memo off (memo.c) */
  if (getenv("ENT_TEST_MEMO") && strcmp(getenv("ENT_TEST_MEMO"), "0") == 0 &&
      sqlite3_exec(db, "SELECT entitlements_cache(0)", 0, 0, 0) != SQLITE_OK) {
    fprintf(stderr, "cannot turn the memo off: %s\n", sqlite3_errmsg(db));
    exit(2);
  }
  r->db[i] = db;
  snprintf(r->name[i], sizeof(r->name[i]), "%s", name);
  return db;
}

static int close_all(Run *r, Buf *why) {
  int i, ok = 1;
  for (i = 0; i < MAX_CONNS; i++) {
    if (r->db[i]) {
      int rc = sqlite3_close(r->db[i]);
      if (rc != SQLITE_OK) {
        char m[128];
        snprintf(m, sizeof(m), "sqlite3_close(%s) returned %s\n", r->name[i], code_name(rc));
        buf_str(why, m);
        ok = 0;
      }
      r->db[i] = 0;
    }
  }
  return ok;
}

/* EXPLAIN QUERY PLAN rows render as their detail column only: the other
** columns are ids and a field SQLite calls "notused", which 3.40 fills with 0
** and newer versions with a cost, so only the detail is comparable. */
static void render(sqlite3_stmt *st, Buf *out) {
  int i = 0, n = sqlite3_column_count(st);
  if (sqlite3_stmt_isexplain(st) == 2 && n == 4) i = 3;
  for (int first = i; i < n; i++) {
    if (i > first) buf_str(out, "|");
    switch (sqlite3_column_type(st, i)) {
      case SQLITE_NULL:
        buf_str(out, "NULL");
        break;
      case SQLITE_BLOB: {
        const unsigned char *p = sqlite3_column_blob(st, i);
        int j, len = sqlite3_column_bytes(st, i);
        char h[3];
        buf_str(out, "x'");
        for (j = 0; j < len; j++) {
          snprintf(h, sizeof(h), "%02x", p[j]);
          buf_str(out, h);
        }
        buf_str(out, "'");
        break;
      }
      default:
        buf_str(out, (const char *)sqlite3_column_text(st, i));
    }
  }
  buf_str(out, "\n");
}

/* Runs the SQL of one case; appends rows to out, or the error as
** "error CODE\nmessage\n". */
static void run_sql(Run *r, const char *sql, Buf *out) {
  const char *p = sql;
  while (*p) {
    sqlite3_stmt *st = 0;
    const char *tail = 0;
    int rc;
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    if (*p == '.') {
      char name[32] = "main", mode[8] = "";
      const char *eol = strchr(p, '\n');
      if (strncmp(p, ".conn", 5) == 0) {
        sscanf(p + 5, "%31s %7s", name, mode);
        if (!open_conn(r, name, strcmp(mode, "ro") == 0)) {
          buf_str(out, "runner: too many connections\n");
          return;
        }
        for (r->cur = 0; strcmp(r->name[r->cur], name) != 0; r->cur++) {
        }
      } else if (strncmp(p, ".reopen", 7) == 0) {
        Buf why = {0};
        if (!close_all(r, &why)) buf_add(out, why.p, why.n);
        free(why.p);
        open_conn(r, "main", 0);
        r->cur = 0;
      }
      p = eol ? eol + 1 : p + strlen(p);
      continue;
    }
    if (!*p) break;
    rc = sqlite3_prepare_v2(r->db[r->cur], p, -1, &st, &tail);
    if (rc == SQLITE_OK && st) {
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) render(st, out);
      if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
      char head[64];
      snprintf(head, sizeof(head), "error %s\n",
               code_name(sqlite3_extended_errcode(r->db[r->cur])));
      buf_str(out, head);
      buf_str(out, sqlite3_errmsg(r->db[r->cur]));
      buf_str(out, "\n");
      sqlite3_finalize(st);
      return;
    }
    sqlite3_finalize(st);
    if (!tail || tail == p) break;
    p = tail;
  }
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  long n;
  char *s;
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  s = malloc((size_t)n + 1);
  if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) abort();
  s[n] = 0;
  fclose(f);
  return s;
}

static void trim_end(Buf *b) {
  while (b->n > 0 && (b->p[b->n - 1] == '\n' || b->p[b->n - 1] == ' ')) b->p[--b->n] = 0;
}

static void report(Run *r, const char *file, const char *name, int ok, Buf *sql, Buf *want,
                   Buf *got) {
  if (getenv("ENT_RECORD")) {
    /* prints the case with what it got, for reviewing new cases */
    printf("=== %s\n%s---%s%s\n\n", name, sql->p ? sql->p : "",
           got->p && strncmp(got->p, "error ", 6) == 0 ? " " : "\n", got->p ? got->p : "");
  }
  if (ok) {
    r->passed++;
    return;
  }
  r->failed++;
  printf("FAIL %s: %s\n--- sql\n%s\n--- expected\n%s\n--- got\n%s\n\n", file, name,
         sql->p ? sql->p : "", want->p ? want->p : "", got->p ? got->p : "");
}

static void run_file(Run *r, const char *file) {
  char *text = slurp(file), *line, *save = 0;
  Buf sql = {0}, want = {0}, got = {0}, why = {0};
  char name[256] = "";
  int state = 0; /* 0 outside, 1 sql, 2 expected */
  const char *base = strrchr(file, '/');
  if (!text) {
    printf("FAIL %s: cannot read the file\n", file);
    r->failed++;
    return;
  }
  snprintf(r->path, sizeof(r->path), "dist/test-tmp/%s.db", base ? base + 1 : file);
  unlink(r->path);
  /* the same random numbers in every run (hold ids, which error messages
  ** name, come from SQLite's generator), whatever ran before this file */
  sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, 20261129, (sqlite3 *)0);
  {
    char side[600];
    snprintf(side, sizeof(side), "%s-wal", r->path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", r->path);
    unlink(side);
  }
  open_conn(r, "main", 0);
  r->cur = 0;
  for (line = strtok_r(text, "\n", &save);; line = strtok_r(0, "\n", &save)) {
    int is_case;
    if (line && line[0] == '#') continue;
    is_case = line && strncmp(line, "=== ", 4) == 0;
    if (!line || is_case) {
      if (state == 2) {
        run_sql(r, sql.p ? sql.p : "", &got);
        trim_end(&want);
        trim_end(&got);
        report(r, file, name, strcmp(want.p ? want.p : "", got.p ? got.p : "") == 0, &sql, &want,
               &got);
      } else if (state == 1) {
        printf("FAIL %s: %s: case has no '---' line\n", file, name);
        r->failed++;
      }
      sql.n = want.n = got.n = 0;
      if (sql.p) sql.p[0] = 0;
      if (want.p) want.p[0] = 0;
      if (got.p) got.p[0] = 0;
      if (!line) break;
      snprintf(name, sizeof(name), "%s", line + 4);
      state = 1;
      continue;
    }
    if (state == 1) {
      if (strncmp(line, "---", 3) == 0) {
        const char *rest = line + 3;
        while (*rest == ' ') rest++;
        if (*rest) {
          buf_str(&want, rest);
          buf_str(&want, "\n");
        }
        state = 2;
      } else {
        buf_str(&sql, line);
        buf_str(&sql, "\n");
      }
    } else if (state == 2) {
      buf_str(&want, line);
      buf_str(&want, "\n");
    }
  }
  if (!close_all(r, &why)) {
    Buf none = {0};
    report(r, file, "every connection closes with SQLITE_OK", 0, &none, &none, &why);
  } else {
    r->passed++;
  }
  free(text);
  free(sql.p);
  free(want.p);
  free(got.p);
  free(why.p);
}

int main(int argc, char **argv) {
  Run r;
  int i = 1;
  memset(&r, 0, sizeof(r));
  if (i + 1 < argc && strcmp(argv[i], "--ext") == 0) {
    r.ext = argv[i + 1];
    i += 2;
  }
#ifdef ENT_STATIC_RUNNER
  sqlite3_auto_extension((void (*)(void))sqlite3_entitlements_init);
#endif
  mkdir("dist", 0755);
  mkdir("dist/test-tmp", 0755);
  printf("sql: SQLite %s\n", sqlite3_libversion());
  for (; i < argc; i++) run_file(&r, argv[i]);
#ifdef ENT_STATIC_RUNNER
  sqlite3_reset_auto_extension();
  sqlite3_shutdown();
#endif
  printf("sql: %d passed, %d failed\n", r.passed, r.failed);
  return r.failed ? 1 : 0;
}
