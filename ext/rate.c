/*
** rate.c — rate limits by GCRA, as redis-cell defines them (SPEC §3): one
** theoretical arrival time (TAT) per subject and feature, in ent_rates.
**
** With T = period / limit, a subject may take `burst` tokens at once, and n
** tokens are allowed iff max(TAT, now) + n*T - burst*T <= now; then
** TAT = max(TAT, now) + n*T. Times are integer microseconds and T is rounded
** up to a whole microsecond, so the arithmetic is exact and rounding can only
** ever make a limit stricter, never looser.
*/
#include <stdio.h>
#include <string.h>

#include "ent.h"

/* A rate period named minute, hour or day: its name (static) and seconds.
** The configuration and overrides both read periods through it. */
int ent_rate_period_named(const char *z, const char **name, int64_t *seconds) {
  static const char *const NAMES[] = {"minute", "hour", "day"};
  static const int64_t SECS[] = {60, 3600, 86400};
  int i;
  for (i = 0; z && i < 3; i++) {
    if (strcmp(z, NAMES[i]) == 0) {
      *name = NAMES[i];
      *seconds = SECS[i];
      return 1;
    }
  }
  return 0;
}

int64_t ent_rate_interval(const EntFeature *f) {
  int64_t period_us = f->rate_seconds * 1000000;
  return f->quota > 0 ? (period_us + f->quota - 1) / f->quota : 0;
}

void ent_rate_eval(const EntFeature *f, int64_t now_us, int has_tat, int64_t tat, int64_t n,
                   EntRate *r) {
  int64_t t = ent_rate_interval(f), tol, base;
  memset(r, 0, sizeof(*r));
  r->retry_us = -1;
  if (f->unlimited) { /* an override of quota -1: no limit, no bucket */
    r->allowed = 1;
    r->remaining = INT64_MAX;
    r->new_tat = has_tat ? tat : now_us;
    return;
  }
  if (t == 0) { /* limit 0: nothing is ever allowed */
    r->allowed = n == 0;
    r->new_tat = has_tat ? tat : now_us;
    return;
  }
  tol = f->burst * t;
  base = has_tat && tat > now_us ? tat : now_us;
  r->remaining = (now_us + tol - base) / t;
  if (r->remaining > f->burst) r->remaining = f->burst;
  if (r->remaining < 0) r->remaining = 0;
  if (n > f->burst) { /* can never fit, however long one waits */
    r->new_tat = base;
    return;
  }
  r->new_tat = base + n * t;
  r->allowed = r->new_tat - tol <= now_us;
  if (!r->allowed) r->retry_us = r->new_tat - tol - now_us;
}

void ent_fmt_seconds(int64_t us, char out[32]) {
  int n;
  int64_t ms = (us + 999) / 1000; /* round up: retrying earlier would be denied */
  n = snprintf(out, 32, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
  while (n > 0 && out[n - 1] == '0') out[--n] = 0;
  if (n > 0 && out[n - 1] == '.') out[--n] = 0;
}

int ent_rate_read(EntConn *c, const EntSubject *s, const EntFeature *f, int *has, int64_t *tat,
                  EntErr *e) {
  sqlite3_stmt *st = ent_stmt(c, ST_RATE_GET, e);
  int rc;
  *has = 0;
  *tat = 0;
  if (!st) return e->code;
  sqlite3_bind_text(st, 1, s->subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *has = 1;
    *tat = sqlite3_column_int64(st, 0);
    if (sqlite3_column_type(st, 0) != SQLITE_INTEGER) {
      /* read as 0 it would hand out a full bucket again */
      sqlite3_reset(st);
      return ent_err(e, SQLITE_ERROR,
                     "ent_rates.tat of subject '%s' and feature '%s' is not an integer: the table "
                     "was changed by hand; delete the row to start the bucket full again",
                     s->subject, f->feature);
    }
    rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : ent_err_db(e, c->db, rc, "reading ent_rates");
}

int ent_rate_write(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t tat, EntErr *e) {
  sqlite3_stmt *st = ent_stmt(c, ST_RATE_PUT, e);
  if (!st) return e->code;
  sqlite3_bind_text(st, 1, s->subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, tat);
  return ent_step_done(c, st, e, "writing ent_rates");
}

char *ent_rate_denial(const EntSubject *s, const EntFeature *f, const EntRate *r, int64_t n) {
  char retry[32];
  const char *per = f->rate_period ? f->rate_period : "?"; /* (set whenever the plan has it) */
  int named = per[0] < '0' || per[0] > '9';
  if (f->quota == 0) {
    return sqlite3_mprintf("rate limit exceeded: '%s' for subject '%s' on plan '%s': 0 per %s%s",
                           f->feature, s->subject, s->plan, per, named ? "" : " s");
  }
  if (r->retry_us < 0) {
    return sqlite3_mprintf(
        "rate limit exceeded: '%s' for subject '%s' on plan '%s': %lld "
        "requested at once, more than the burst of %lld",
        f->feature, s->subject, s->plan, (long long)n, (long long)f->burst);
  }
  ent_fmt_seconds(r->retry_us, retry);
  return sqlite3_mprintf(
      "rate limit exceeded: '%s' for subject '%s' on plan '%s': %lld per %s%s, "
      "burst %lld, %lld requested; retry after %s s",
      f->feature, s->subject, s->plan, (long long)f->quota, per, named ? "" : " s",
      (long long)f->burst, (long long)n, retry);
}
