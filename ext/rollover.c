/*
** rollover.c — unused quota that carries over: the "rollover" key of a
** metered feature or a currency ({"max": 500, "expires_after": 2}), read and
** checked here, and the grants (category 'rollover') each ended period's
** unused quota becomes.
**
** No job runs at a period's end. The first write of the feature in a later
** period (a consumption, a hold, a settle…) makes the grants of the ended
** periods that are still in force, under the write lock and in the call's
** savepoint: a denied call makes none, and of two processes the second finds
** the first one's (and ent_grants_rollover, a unique index, would refuse a
** second copy). Reads before that write compute the same grants without
** writing them, so every read agrees with what the write will record.
**
** What rolls over from a period: the plan's quota less what the plan's quota
** covered of its usage and less its live holds, at most "max"; nothing from
** a period with overage (its deficit does not carry either: overage is
** billed in its own period). The quota is the subject's entitlement when the
** grant is made. Periods before the subject's first counter of the feature
** roll nothing over (it did not use the feature yet: no history to carry),
** nor do periods that ended by a usage_purge(…, 'all') horizon (their
** counters may be gone: an idle period and a purged one look alike).
** A rollover grant counts from its period's end for "expires_after" periods
** and is burned before anything else, the period's own quota included.
*/
#include <cjson/cJSON.h>
#include <string.h>

#include "config.h"

#define MAX_AFTER 120 /* periods a rollover may last: ten years of months */

/* ---- the configuration ------------------------------------------------- */

static int whole(const cJSON *v, double lo, double hi) {
  return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
         v->valuedouble == (double)(int64_t)v->valuedouble;
}

int ent_rollover_read(Model *m, Feat *f, const cJSON *v, const char *path) {
  const cJSON *k, *max = 0, *after = 0;
  cJSON *out;
  if (!cJSON_IsObject(v)) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s.rollover: expected an object such as {\"max\": 500, \"expires_after\": 2}",
                   path);
  }
  cJSON_ArrayForEach(k, v) {
    if (strcmp(k->string, "max") == 0) {
      max = k;
    } else if (strcmp(k->string, "expires_after") == 0) {
      after = k;
    } else {
      return ent_err(m->e, SQLITE_ERROR,
                     "%s.rollover: unknown key '%s' (expected max, expires_after)", path,
                     k->string);
    }
  }
  if (max && !whole(max, 1, MAX_JSON_INT)) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s.rollover.max: expected a whole number >= 1: the most units of one "
                   "period's unused quota that carry over (leave it out for no limit)",
                   path);
  }
  if (after && !whole(after, 1, MAX_AFTER)) {
    return ent_err(m->e, SQLITE_ERROR,
                   "%s.rollover.expires_after: expected a whole number of periods from 1 to %d: "
                   "how many periods after its own the unused quota still counts (default 1)",
                   path, MAX_AFTER);
  }
  out = cJSON_CreateObject();
  if (!out || (max && !cJSON_AddNumberToObject(out, "max", max->valuedouble)) ||
      !cJSON_AddNumberToObject(out, "expires_after", after ? after->valuedouble : 1)) {
    cJSON_Delete(out);
    return ent_err(m->e, SQLITE_NOMEM, "out of memory");
  }
  {
    char *text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (!text) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
    sqlite3_free(f->rollover);
    f->rollover = sqlite3_mprintf("%s", text);
    cJSON_free(text);
    if (!f->rollover) return ent_err(m->e, SQLITE_NOMEM, "out of memory");
  }
  return SQLITE_OK;
}

/* After the features are read: only what is counted per period rolls over. */
int ent_rollover_check(Model *m) {
  int i;
  for (i = 0; i < m->nfeats; i++) {
    const Feat *f = &m->feats[i];
    if (f->rollover && f->type != T_METERED) {
      return ent_err(m->e, SQLITE_ERROR,
                     "features.%s.rollover: only a metered feature (or a currency) has unused "
                     "quota to roll over, not a %s one; remove \"rollover\"",
                     f->name, ent_type_name(f->type));
    }
  }
  return SQLITE_OK;
}

/* From ent_features.rollover as ent_rollover_read() wrote it: SQLITE_CORRUPT
** when it is not that (written by hand). */
int ent_rollover_parse(const char *json, int64_t *max, int *after) {
  cJSON *v = cJSON_Parse(json), *mx, *af;
  int rc = SQLITE_CORRUPT;
  if (!v) return SQLITE_CORRUPT; /* (or out of memory: cJSON does not say) */
  mx = cJSON_GetObjectItemCaseSensitive(v, "max");
  af = cJSON_GetObjectItemCaseSensitive(v, "expires_after");
  if ((!mx || whole(mx, 1, MAX_JSON_INT)) && whole(af, 1, MAX_AFTER)) {
    *max = mx ? (int64_t)mx->valuedouble : INT64_MAX;
    *after = (int)af->valuedouble;
    rc = SQLITE_OK;
  }
  cJSON_Delete(v);
  return rc;
}

/* ---- the grants --------------------------------------------------------- */

typedef struct Span {
  int64_t start, end;
  char start_text[32], end_text[32];
} Span;

static void span_at(const EntSubject *s, const EntFeature *f, int64_t t, Span *p) {
  ent_period_bounds(f->period, s->has_anchor, s->anchor_ms, t, &p->start, &p->end);
  ent_fmt_time(p->start, 0, p->start_text);
  ent_fmt_time(p->end, 0, p->end_text);
}

/* What period `p` leaves over: its quota less what the quota covered of its
** usage and less its live holds, at most max. */
static int left_over(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                     const Span *p, int64_t *out, EntErr *e) {
  EntUsage u;
  sqlite3_stmt *st = ent_stmt(c, ST_COUNTER_GET, e);
  const char *owner = ent_counter_subject(s, f);
  int rc, ok = 1;
  int64_t plan_used;
  *out = 0;
  if (!st) return e->code;
  memset(&u, 0, sizeof(u));
  memcpy(u.start_text, p->start_text, sizeof(u.start_text));
  sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, ent_period_name(f->period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, p->start_text, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    ok = ent_counter_ok(st, 0, &u.used);
    u.from_grants = sqlite3_column_int64(st, 1);
    u.held_stored = sqlite3_column_int64(st, 3);
    rc = SQLITE_DONE;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(e, c->db, rc, "reading ent_counters");
  if (!ok) return ent_bad_counter(e, owner, f->feature);
  if (ent_holds_live(c, owner, f->feature, ent_period_name(f->period), now, &u, e) != SQLITE_OK)
    return e->code;
  plan_used = u.used - u.from_grants;
  if (plan_used < 0) plan_used = 0;
  if (plan_used >= f->quota || u.held >= f->quota - plan_used) return SQLITE_OK;
  *out = f->quota - plan_used - u.held;
  if (*out > f->rollover_max) *out = f->rollover_max;
  return SQLITE_OK;
}

static int make_grant(EntConn *c, const char *owner, const EntFeature *f, const Span *from,
                      const char *expires, int64_t amount, int64_t now, EntErr *e) {
  sqlite3_stmt *st = ent_stmt(c, ST_GRANT_INSERT, e);
  char at[32], meta[96];
  int64_t id;
  if (!st) return e->code;
  ent_fmt_time(now, 0, at);
  sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, amount);
  sqlite3_bind_int64(st, 4, 0);
  sqlite3_bind_text(st, 5, from->end_text, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, expires, -1, SQLITE_STATIC);
  sqlite3_bind_null(st, 7);
  sqlite3_bind_text(st, 8, at, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, "rollover", -1, SQLITE_STATIC);
  if (ent_step_done(c, st, e, "writing a rollover grant") != SQLITE_OK) return e->code;
  id = sqlite3_last_insert_rowid(c->db);
  c->rollover_made = 1;
  /* the ledger says which period's unused quota the grant is */
  sqlite3_snprintf(sizeof(meta), meta, "{\"grant\":%lld,\"rollover_from\":\"%s\"}", (long long)id,
                   from->start_text);
  if (!(st = ent_stmt(c, ST_ROLLOVER_EVENT, e))) return e->code;
  sqlite3_bind_text(st, 1, at, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, amount);
  sqlite3_bind_text(st, 5, meta, -1, SQLITE_TRANSIENT);
  return ent_step_done(c, st, e, "writing the ledger");
}

/* The rollover grants of the periods before the current one that are still
** in force now. A write (c->writing 1; 2 is a call that records nothing,
** such as a retry) makes those not yet made;
** a read adds them to u as if made. Either way u->has_grants is set when
** any exist, so that ent_grants_load() reads the made ones. */
int ent_rollover_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                      EntUsage *u, EntErr *e) {
  Span past[MAX_AFTER + 1], future;
  char expires[MAX_AFTER + 1][32], first[32] = "", horizon[32] = "";
  unsigned char made[MAX_AFTER + 1];
  int n = f->rollover_after, k, rc, any = 0;
  const char *owner = ent_counter_subject(s, f);
  sqlite3_stmt *st;
  if (!n || !s->plan || !f->enabled || f->unlimited || f->type != T_METERED ||
      f->period == P_LIFETIME || f->quota <= 0) {
    return SQLITE_OK;
  }
  /* past[1..n]: the n periods before the current one, newest first; the
  ** grant of past[k] lasts n periods, to the end of the current one (k = n)
  ** or of the (n - k)th after it */
  memset(made, 0, sizeof(made));
  span_at(s, f, now, &past[0]); /* now's period: u's may be a hold's, ended */
  for (k = 1; k <= n; k++) span_at(s, f, past[k - 1].start - 1, &past[k]);
  future.end = past[0].end;
  memcpy(expires[n], past[0].end_text, 32);
  for (k = n - 1; k >= 1; k--) {
    span_at(s, f, future.end, &future);
    memcpy(expires[k], future.end_text, 32);
  }
  /* the ones made already */
  if (!(st = ent_stmt(c, ST_ROLLOVER_MADE, e))) return e->code;
  sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, past[n].end_text, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *at = (const char *)sqlite3_column_text(st, 0);
    any = 1;
    for (k = 1; at && k <= n; k++) {
      if (strcmp(at, past[k].end_text) == 0) made[k] = 1;
    }
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return ent_err_db(e, c->db, rc, "reading ent_grants");
  for (k = n; k >= 1; k--) { /* oldest first: ids in the order the periods ended */
    int64_t amount;
    if (made[k]) continue;
    if (!first[0]) { /* the subject's first counter of the feature: none, none to roll over */
      if (!(st = ent_stmt(c, ST_ROLLOVER_FIRST, e))) return e->code;
      sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, f->feature, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 3, ent_period_name(f->period), -1, SQLITE_STATIC);
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        const char *z = (const char *)sqlite3_column_text(st, 0);
        /* (NULL only out of memory: read as "no first use", it would roll over) */
        rc = z ? SQLITE_DONE : SQLITE_NOMEM;
        sqlite3_snprintf(sizeof(first), first, "%s", z ? z : "~");
      } else if (rc == SQLITE_DONE) {
        sqlite3_snprintf(sizeof(first), first, "~"); /* after every time */
      }
      sqlite3_reset(st);
      if (rc == SQLITE_NOMEM) return ent_err(e, SQLITE_NOMEM, "out of memory");
      if (rc != SQLITE_DONE) return ent_err_db(e, c->db, rc, "reading ent_counters");
    }
    if (strcmp(first, past[k].start_text) > 0) continue; /* before the first use */
    if (!horizon[0]) { /* usage_purge(…, 'all') may have deleted counters up to here */
      if (!(st = ent_stmt(c, ST_ROLLOVER_HORIZON, e))) return e->code;
      const char *z = 0;
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
          !(z = (const char *)sqlite3_column_text(st, 0))) {
        rc = SQLITE_NOMEM;
      }
      sqlite3_snprintf(sizeof(horizon), horizon, "%s", z ? z : " ");
      sqlite3_reset(st);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return rc == SQLITE_NOMEM ? ent_err(e, SQLITE_NOMEM, "out of memory")
                                  : ent_err_db(e, c->db, rc, "reading ent_meta");
      }
    }
    if (strcmp(past[k].end_text, horizon) <= 0) continue; /* its counter may be purged */
    if (left_over(c, s, f, now, &past[k], &amount, e) != SQLITE_OK) return e->code;
    if (amount <= 0) continue;
    if (c->writing == 1) {
      if (make_grant(c, owner, f, &past[k], expires[k], amount, now, e) != SQLITE_OK)
        return e->code;
      any = 1;
    } else {
      u->grants_left = u->grants_left > INT64_MAX - amount ? INT64_MAX : u->grants_left + amount;
      u->rollover_left =
          u->rollover_left > INT64_MAX - amount ? INT64_MAX : u->rollover_left + amount;
    }
  }
  if (any) u->has_grants = 1;
  return SQLITE_OK;
}
