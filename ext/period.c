/*
** period.c — time: the per-connection clock (entitlements_clock), reading
** time arguments, showing times, and the bounds of usage periods.
**
** Times are int64 unix milliseconds inside the extension and UTC text
** 'YYYY-MM-DD HH:MM:SS' outside. Calendar arithmetic is done here in C (days
** from civil dates), not with SQL modifiers, because billing anchors clamp to
** the month's last day (Jan 31 -> Feb 28/29 -> Mar 31) and SQLite's
** '+1 month' does not.
*/
#include <math.h>
#include <string.h>

#include "ent.h"

#define MS_MIN 60000LL
#define MS_HOUR 3600000LL
#define MS_DAY 86400000LL
#define UNIX_EPOCH_JD_MS 210866760000000LL /* julian day of 1970-01-01, in ms */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  int64_t era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  int64_t era, doe, yoe, doy, mp;
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = z - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : dim[m - 1];
}

static char *put2(char *p, int v) {
  p[0] = (char)('0' + v / 10);
  p[1] = (char)('0' + v % 10);
  return p + 2;
}

/* 'YYYY-MM-DD HH:MM:SS[.SSS]', written by hand: it runs several times per
** consumption, where snprintf showed up in profiles. */
void ent_fmt_time(int64_t ms, int with_ms, char out[32]) {
  int64_t days = floor_div(ms, MS_DAY), rem = ms - days * MS_DAY, y;
  int m, d;
  char *p = out;
  civil_from_days(days, &y, &m, &d);
  p = put2(p, (int)(y / 100));
  p = put2(p, (int)(y % 100));
  *p++ = '-';
  p = put2(p, m);
  *p++ = '-';
  p = put2(p, d);
  *p++ = ' ';
  p = put2(p, (int)(rem / MS_HOUR));
  *p++ = ':';
  p = put2(p, (int)(rem / MS_MIN % 60));
  *p++ = ':';
  p = put2(p, (int)(rem / 1000 % 60));
  if (with_ms) {
    int f = (int)(rem % 1000);
    *p++ = '.';
    *p++ = (char)('0' + f / 100);
    p = put2(p, f % 100);
  }
  *p = 0;
}

int64_t ent_now(EntConn *c) {
  sqlite3_vfs *vfs;
  sqlite3_int64 jd = 0;
  if (c->clock_pinned) return c->clock_ms;
  vfs = sqlite3_vfs_find(0);
  if (vfs && vfs->iVersion >= 2 && vfs->xCurrentTimeInt64) {
    vfs->xCurrentTimeInt64(vfs, &jd);
  } else if (vfs) {
    double r = 0;
    vfs->xCurrentTime(vfs, &r);
    jd = (sqlite3_int64)(r * 86400000.0);
  }
  return jd - UNIX_EPOCH_JD_MS;
}

/* Reads exactly n digits. */
static int digits(const char **pz, int n, int *out) {
  int v = 0;
  const char *z = *pz;
  while (n--) {
    if (*z < '0' || *z > '9') return 0;
    v = v * 10 + (*z++ - '0');
  }
  *pz = z;
  *out = v;
  return 1;
}

/* The common canonical forms, parsed without SQL:
** YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z]. Returns 1 when parsed, 0 for another
** form (julianday() reads it), -1 for an impossible date in this form, which
** julianday() would roll over ('2026-02-30' to March 2) and we refuse. */
static int parse_fast(const char *z, int64_t *out) {
  int y, mo, d, h = 0, mi = 0, s = 0, ms = 0;
  if (!digits(&z, 4, &y) || *z++ != '-' || !digits(&z, 2, &mo) || *z++ != '-' ||
      !digits(&z, 2, &d)) {
    return 0;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
  if (*z == ' ' || *z == 'T') {
    z++;
    if (!digits(&z, 2, &h) || *z++ != ':' || !digits(&z, 2, &mi)) return 0;
    if (*z == ':') {
      z++;
      if (!digits(&z, 2, &s)) return 0;
      if (*z == '.') {
        int scale = 100;
        z++;
        if (*z < '0' || *z > '9') return 0;
        while (*z >= '0' && *z <= '9') {
          ms += (*z++ - '0') * scale;
          scale /= 10;
        }
      }
    }
    if (h > 23 || mi > 59 || s > 59) return 0;
  }
  if (*z == 'Z') z++;
  if (*z) return 0;
  *out = days_from_civil(y, mo, d) * MS_DAY + h * MS_HOUR + mi * MS_MIN + s * 1000LL + ms;
  return 1;
}

static int bad_time(EntErr *e, const char *what, const char *shown) {
  return ent_err(e, SQLITE_ERROR,
                 "%s: %s is not a time; use text such as '2026-11-22 10:00:00' (any form "
                 "SQLite's date functions accept) or unix seconds",
                 what, shown);
}

int ent_time_text(EntConn *c, const char *z, const char *what, int64_t *out, EntErr *e) {
  sqlite3_stmt *st;
  int rc;
  double jd;
  int fast = parse_fast(z, out);
  if (fast == 1) return SQLITE_OK;
  if (fast < 0) {
    char *shown = sqlite3_mprintf("'%s' (no such day)", z);
    rc = bad_time(e, what, shown ? shown : "the text");
    sqlite3_free(shown);
    return rc;
  }
  if (sqlite3_stricmp(z, "now") == 0) {
    *out = ent_now(c);
    return SQLITE_OK;
  }
  st = ent_stmt(c, ST_JULIANDAY, e);
  if (!st) return e->code;
  sqlite3_bind_text(st, 1, z, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return ent_err_db(e, c->db, rc, "reading a time");
  }
  if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
    char *shown = sqlite3_mprintf("'%s'", z);
    sqlite3_reset(st);
    rc = bad_time(e, what, shown ? shown : "the text");
    sqlite3_free(shown);
    return rc;
  }
  jd = sqlite3_column_double(st, 0);
  sqlite3_reset(st);
  *out = llround(jd * 86400000.0) - UNIX_EPOCH_JD_MS;
  return SQLITE_OK;
}

/* Text is read as SQLite's date functions read it; a number is unix seconds. */
int ent_time_value(EntConn *c, sqlite3_value *v, const char *what, int64_t *out, EntErr *e) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: {
      sqlite3_int64 s = sqlite3_value_int64(v);
      if (s < ENT_TIME_MIN_MS / 1000 || s > ENT_TIME_MAX_MS / 1000) {
        char *shown = sqlite3_mprintf("%lld", (long long)s);
        int rc = ent_err(e, SQLITE_ERROR, "%s: %s unix seconds is outside years 0000 to 9999", what,
                         shown ? shown : "the number");
        sqlite3_free(shown);
        return rc;
      }
      *out = s * 1000;
      return SQLITE_OK;
    }
    case SQLITE_FLOAT: {
      double s = sqlite3_value_double(v);
      if (!(s >= ENT_TIME_MIN_MS / 1000.0 && s <= ENT_TIME_MAX_MS / 1000.0)) {
        char *shown = sqlite3_mprintf("%!.15g", s);
        int rc = ent_err(e, SQLITE_ERROR, "%s: %s unix seconds is outside years 0000 to 9999", what,
                         shown ? shown : "the number");
        sqlite3_free(shown);
        return rc;
      }
      *out = llround(s * 1000.0);
      return SQLITE_OK;
    }
    case SQLITE_TEXT:
      return ent_time_text(c, (const char *)sqlite3_value_text(v), what, out, e);
    case SQLITE_NULL:
      return bad_time(e, what, "NULL");
    default:
      return bad_time(e, what, "a blob");
  }
}

static const char *const PERIOD_NAMES[] = {"minute", "hour", "day",     "week",
                                           "month",  "year", "lifetime"};
static const char *const PERIOD_WORDS[] = {"this minute", "this hour", "today",   "this week",
                                           "this month",  "this year", "in total"};

int ent_period_parse(const char *z, EntPeriod *out) {
  int i;
  for (i = 0; i <= P_LIFETIME; i++) {
    if (strcmp(z, PERIOD_NAMES[i]) == 0) {
      *out = (EntPeriod)i;
      return 1;
    }
  }
  return 0;
}

const char *ent_period_name(EntPeriod p) {
  return p <= P_LIFETIME ? PERIOD_NAMES[p] : "";
}
const char *ent_period_words(EntPeriod p) {
  return p <= P_LIFETIME ? PERIOD_WORDS[p] : "";
}

/* Start of the anchored month period of (y, m): the anchor's day clamped to
** the month's length, at the anchor's time of day. */
static int64_t anchored(int64_t y, int m, int aday, int64_t atod) {
  int d = aday > days_in_month(y, m) ? days_in_month(y, m) : aday;
  return days_from_civil(y, m, d) * MS_DAY + atod;
}

void ent_period_bounds(EntPeriod p, int has_anchor, int64_t anchor_ms, int64_t t, int64_t *start,
                       int64_t *end) {
  int64_t days = floor_div(t, MS_DAY), y, ay = 1970, atod = 0;
  int m, d, am = 1, ad = 1;
  if (has_anchor) {
    int64_t adays = floor_div(anchor_ms, MS_DAY);
    atod = anchor_ms - adays * MS_DAY;
    civil_from_days(adays, &ay, &am, &ad);
  }
  civil_from_days(days, &y, &m, &d);
  switch (p) {
    case P_MINUTE:
      *start = floor_div(t, MS_MIN) * MS_MIN;
      *end = *start + MS_MIN;
      break;
    case P_HOUR:
      *start = floor_div(t, MS_HOUR) * MS_HOUR;
      *end = *start + MS_HOUR;
      break;
    case P_DAY:
      *start = days * MS_DAY;
      *end = *start + MS_DAY;
      break;
    case P_WEEK: {
      /* 1970-01-01 was a Thursday: Monday-based weekday of day 0 is 3 */
      int64_t wd = ((days + 3) % 7 + 7) % 7;
      *start = (days - wd) * MS_DAY;
      *end = *start + 7 * MS_DAY;
      break;
    }
    case P_MONTH: {
      int64_t py = y, ny;
      int pm = m, nm;
      *start = anchored(py, pm, ad, atod);
      if (*start > t) {
        pm = pm == 1 ? 12 : pm - 1;
        py = pm == 12 ? py - 1 : py;
        *start = anchored(py, pm, ad, atod);
      }
      nm = pm == 12 ? 1 : pm + 1;
      ny = pm == 12 ? py + 1 : py;
      *end = anchored(ny, nm, ad, atod);
      break;
    }
    case P_YEAR: {
      int64_t py = y;
      *start = anchored(py, am, ad, atod);
      if (*start > t) *start = anchored(--py, am, ad, atod);
      *end = anchored(py + 1, am, ad, atod);
      break;
    }
    default:
      *start = 0;
      *end = 0;
      break;
  }
}

/* Periods partition time, so the bounds found for one time hold for every
** time in [start, end): a remembered entry answers while the clock is in it. */
void ent_period_bounds_text(EntConn *c, EntPeriod p, int has_anchor, int64_t anchor_ms, int64_t t,
                            int64_t *start, int64_t *end, char start_text[32], char end_text[32]) {
  struct EntBoundsMemo *b = &c->bounds[(unsigned)p % 4u];
  if (!(b->end > b->start && b->period == (int)p && b->has_anchor == has_anchor &&
        (!has_anchor || b->anchor_ms == anchor_ms) && t >= b->start && t < b->end)) {
    b->period = (int)p;
    b->has_anchor = has_anchor;
    b->anchor_ms = has_anchor ? anchor_ms : 0;
    ent_period_bounds(p, has_anchor, anchor_ms, t, &b->start, &b->end);
    ent_fmt_time(b->start, 0, b->start_text);
    ent_fmt_time(b->end, 0, b->end_text);
  }
  *start = b->start;
  *end = b->end;
  memcpy(start_text, b->start_text, 32);
  memcpy(end_text, b->end_text, 32);
}

void ent_now_text(EntConn *c, int64_t ms, char out[32]) {
  if (!c->at_text[0] || c->at_ms != ms) {
    c->at_ms = ms;
    ent_fmt_time(ms, 0, c->at_text);
  }
  memcpy(out, c->at_text, 32);
}

int ent_now_check(int64_t ms, const char *what, EntErr *e) {
  char shown[32];
  if (ms >= ENT_NOW_MIN_MS && ms <= ENT_NOW_MAX_MS) return SQLITE_OK;
  ent_fmt_time(ms, 0, shown);
  return ent_err(e, SQLITE_ERROR,
                 "%s: %s is outside 0001-01-01 to 9998-12-31, where every period around a "
                 "time (a week, an anchored year) still falls in years 0000 to 9999",
                 what, shown);
}

/* entitlements_clock([time]): the connection's time; with an argument, pins
** it (NULL unpins). Shown with milliseconds only when they are not zero. */
static void fn_clock(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  char buf[32];
  int64_t t;
  if (!ent_argc(ctx, argc, 0, 1, "entitlements_clock([time])")) return;
  if (argc == 1) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
      c->clock_pinned = 0;
    } else {
      if (ent_time_value(c, argv[0], "entitlements_clock(time)", &t, &e) != SQLITE_OK ||
          ent_now_check(t, "entitlements_clock(time)", &e) != SQLITE_OK) {
        ent_result_err(ctx, &e);
        return;
      }
      c->clock_pinned = 1;
      c->clock_ms = t;
    }
  }
  t = ent_now(c);
  ent_fmt_time(t, t % 1000 != 0, buf);
  sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

void ent_register_clock(sqlite3 *db, EntConn *c, int *rc) {
  static const EntFn fns[] = {{"entitlements_clock", fn_clock}};
  *rc = ent_register_fns(db, c, fns, 1);
}
