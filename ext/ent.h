/*
** ent.h — declarations shared by the files of the entitlements extension.
**
** Every file but entitlements.c (the one SQLITE_EXTENSION_INIT1) includes this
** header, which brings in sqlite3ext.h with SQLITE_EXTENSION_INIT3 so that all
** files call SQLite through the same API table. Built with -DSQLITE_CORE the
** same sources link straight against SQLite (static embedding).
*/
#ifndef ENT_H
#define ENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "sqlite3ext.h"
#ifndef ENT_NO_INIT3
SQLITE_EXTENSION_INIT3
#endif

#define ENT_VERSION "0.1.0"
/* The oldest SQLite it loads into (RETURNING, UPSERT); packages read it here. */
#define ENT_SQLITE_MINIMUM "3.35.0"
#define ENT_SQLITE_MINIMUM_NUMBER 3035000
#define ENT_MAX_ALERTS 32                        /* alert thresholds per entitlement */
#define ENT_ALERTS_TEXT (ENT_MAX_ALERTS * 6 + 8) /* them as JSON text: "[1,...,1000]" */
#define ENT_SCHEMA_VERSION 8

#ifndef SQLITE_CONSTRAINT_FUNCTION
#define SQLITE_CONSTRAINT_FUNCTION (SQLITE_CONSTRAINT | (4 << 8))
#endif

/* ---- errors ------------------------------------------------------------ */

/* An error on its way to sqlite3_result_error(): the message always starts
** "entitlements: ", code is SQLITE_ERROR, SQLITE_CONSTRAINT_FUNCTION (a
** denial), SQLITE_BUSY, SQLITE_NOMEM or an error SQLite itself returned. */
typedef struct EntErr {
  int code;
  char *msg; /* sqlite3_malloc'd */
} EntErr;

int ent_err(EntErr *e, int code, const char *fmt, ...);
int ent_err_db(EntErr *e, sqlite3 *db, int rc, const char *doing);
void ent_err_clear(EntErr *e);
void ent_result_err(sqlite3_context *ctx, EntErr *e);

/* ---- per-connection state ---------------------------------------------- */

typedef struct EntCache EntCache;
typedef struct EntConfig EntConfig;
typedef struct EntMemo EntMemo;

/* One per connection, created when the extension is registered on it and
** freed by SQLite when the connection closes (function destructor). It holds
** no prepared statements itself: those live in EntCache, which the
** usage_summary virtual table owns so that sqlite3_close() can finalize them
** before it checks for unfinalized statements. */
typedef struct EntConn {
  sqlite3 *db;
  int clock_pinned;
  int64_t clock_ms; /* unix milliseconds, when pinned */
  EntCache *cache;  /* NULL until first use and after the vtab disconnects */
  int writing;      /* re-entrancy guard of the writing functions; 2: a step that records nothing */
  int rollover_made;      /* the running write made a rollover grant (rollover.c) */
  int refs;               /* the module and each connected usage_summary hold one */
  EntConfig *cfg;         /* the configuration in memory (plancache.c); NULL until used */
  char *pool_scratch;     /* the last pool owner looked up (resolve.c) */
  char *holder_scratch;   /* the last holder with overrides (resolve.c) */
  struct cJSON *ovr_json; /* the last override's config value, parsed */
  char *ovr_text;         /* and as text */
  EntMemo *memo;          /* subjects and counters in memory (memo.c); NULL until used */
  int memo_off, memo_cap; /* entitlements_cache(n): 0 = off; the size, else the default */
  int64_t own_changes;    /* rows our own write statements changed in this call */
  int app_writes;         /* an app trigger on ent_counters writes: no lazy savepoint */
  int fast_proven;        /* a lazy counter write was seen to change nothing else */
  /* what two hot statements' parameters were last bound to, where that is
  ** static text or NULL (stmt.c, ent_bind_static): bindings outlive
  ** sqlite3_reset(), so an unchanged one is not bound again */
  struct EntBound {
    sqlite3_stmt *st;
    const char *p[13];
  } bound[2];
  /* the last period bounds and time shown, per connection (period.c): the
  ** same period is asked for on every call until the clock leaves it */
  struct EntBoundsMemo {
    int period, has_anchor;
    int64_t anchor_ms, start, end;
    char start_text[32], end_text[32];
  } bounds[4];
  int64_t at_ms;
  char at_text[32]; /* ent_fmt_time(at_ms), when at_text[0] */
} EntConn;

/* Drops one reference; frees at the last. The module's destructor and the
** table's disconnect both call it: on a reload SQLite destroys the old
** module before it disconnects the old table. */
void ent_conn_release(void *p);

/* ---- prepared statements (stmt.c) -------------------------------------- */

enum {
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_ROLLBACK_ALL,
  ST_LOCK,
  ST_JULIANDAY,
  ST_SCHEMA_VERSION,
  ST_SUBJECT,
  ST_SUBJECT_COUNTER,
  ST_PLAN,
  ST_COUNTER_GET,
  ST_COUNTER_ADD_UNLOGGED,
  ST_RATE_GET,
  ST_PARENT,
  ST_OVERRIDE,
  ST_GRANTS_ACTIVE,
  ST_GRANTS_ANY,
  ST_GRANT_BURN,
  ST_GRANT_INSERT,
  ST_GRANT_BY_KEY,
  ST_ROLLOVER_MADE,
  ST_ROLLOVER_FIRST,
  ST_ROLLOVER_EVENT,
  ST_ROLLOVER_HORIZON,
  ST_ALERT_INSERT,
  ST_COUNTER_RESET,
  ST_COUNTER_LOGGED,
  ST_RATE_RESET,
  ST_RATE_PUT,
  ST_GENERATION,
  ST_PIN,
  ST_COUNTER_ADD,
  ST_EVENT_INSERT,
  ST_EVENT_INSERT_PRICED,
  ST_EVENT_BY_KEY,
  ST_SUBJECT_SET_PLAN,
  ST_SUBJECT_START_TRIAL,
  ST_GENS,
  ST_COUNTER_UPD_IF,
  ST_COUNTER_INS_IF,
  ST_COUNTER_UNDO_UPD,
  ST_COUNTER_UNDO_INS,
  ST_COUNTERS_CURRENT,
  ST_BEGIN_IMMEDIATE,
  ST_COMMIT,
  ST_HOLDS_LIVE,
  ST_HOLDS_DUE,
  ST_HOLD_GET,
  ST_HOLD_INSERT,
  ST_HOLD_END,
  ST_HOLD_EXTEND,
  ST_COUNTER_HOLD,
  ST_COUNT
};

sqlite3_stmt *ent_stmt(EntConn *c, int id, EntErr *e);
/* Prepares every statement a write may run, before its first write: a
** statement prepared after it could fail for lack of memory, and then SQLite
** could not run the rollback either (a failed allocation stops every
** statement of the connection until the app's statement ends). */
int ent_stmts_for_writes(EntConn *c, EntErr *e);
int ent_cache_open(EntConn *c, EntCache **pp);
void ent_cache_close(EntCache *p);
int ent_step_done(EntConn *c, sqlite3_stmt *st, EntErr *e, const char *doing);

/* A named savepoint around a multi-statement write (load, init, purge).
** Opening fails only for a real error: SQLite refuses a savepoint while a
** writing statement runs (a trigger, INSERT ... SELECT), and then that
** statement's journal holds the writes (open = 0). Closing with ok = 0 undoes
** them, also when SQLite already rolled the transaction back or a failed
** commit left it open. */
typedef struct EntSavepoint {
  const char *name; /* a constant: entitlements_load, entitlements_init, ... */
  int open, began;
  sqlite3_stmt *release, *rollback_to, *rollback; /* prepared before the first write */
} EntSavepoint;
int ent_sp_open(EntConn *c, EntSavepoint *sp, const char *name, EntErr *e);
int ent_sp_close(EntConn *c, EntSavepoint *sp, int ok, EntErr *e);
int ent_read_begin(EntConn *c);
void ent_stmt_reset(EntConn *c, int id);
/* Binds static text (or NULL) to parameter i of st, unless the last call
** for the same slot (0: the ledger insert, 1: the guarded counter update)
** bound exactly that. */
void ent_bind_static(EntConn *c, int slot, sqlite3_stmt *st, int i, const char *z);
/* After binding anything else to parameter i. */
void ent_bind_forget(EntConn *c, int slot, int i); /* if prepared */
void ent_read_end(EntConn *c, int pinned);

/* ---- time and periods (period.c) --------------------------------------- */

typedef enum { P_MINUTE, P_HOUR, P_DAY, P_WEEK, P_MONTH, P_YEAR, P_LIFETIME, P_NONE } EntPeriod;

#define ENT_TIME_MIN_MS (-62167219200000LL) /* 0000-01-01 00:00:00 */
#define ENT_TIME_MAX_MS (253402300799999LL) /* 9999-12-31 23:59:59.999 */

/* The times a call may run at: every period around them (a week from
** Monday, an anchored year) stays within years 0000 to 9999. */
#define ENT_NOW_MIN_MS (-62135596800000LL) /* 0001-01-01 00:00:00 */
#define ENT_NOW_MAX_MS (253370764799999LL) /* 9998-12-31 23:59:59.999 */

int64_t ent_now(EntConn *c);
int ent_now_check(int64_t ms, const char *what, EntErr *e);
int ent_time_value(EntConn *c, sqlite3_value *v, const char *what, int64_t *out, EntErr *e);
int ent_time_text(EntConn *c, const char *z, const char *what, int64_t *out, EntErr *e);
void ent_fmt_time(int64_t ms, int with_ms, char out[32]);
int ent_period_parse(const char *z, EntPeriod *out);
const char *ent_period_name(EntPeriod p);
const char *ent_period_words(EntPeriod p);
void ent_period_bounds(EntPeriod p, int has_anchor, int64_t anchor_ms, int64_t t, int64_t *start,
                       int64_t *end);
/* The same, with both bounds as text, remembered per connection; not for
** P_LIFETIME. */
void ent_period_bounds_text(EntConn *c, EntPeriod p, int has_anchor, int64_t anchor_ms, int64_t t,
                            int64_t *start, int64_t *end, char start_text[32], char end_text[32]);
/* ent_fmt_time(ms, 0, out), remembered for the last ms. */
void ent_now_text(EntConn *c, int64_t ms, char out[32]);
void ent_register_clock(sqlite3 *db, EntConn *c, int *rc);

/* ---- resolution (resolve.c) -------------------------------------------- */

typedef enum { T_BOOLEAN, T_CONFIG, T_METERED, T_RATE } EntType;

const char *ent_type_name(EntType t);
int ent_type_parse(const char *z, EntType *out);

/* Who a subject is at a given time: which plan applies and with what seats,
** anchor and bypass. Strings are borrowed (the caller's subject, the plan
** name from the configuration in memory) and live for the call. */
typedef struct EntSubject {
  const char *subject;
  const char *plan; /* effective plan; NULL: entitled to nothing */
  int plan_idx;     /* index in EntConfig.plans, or -1 */
  int64_t seats;
  int bypass;
  int has_anchor;
  int64_t anchor_ms;
  /* The counter fetched with the subject, for the counter key guessed from
  ** the cached configuration (see ST_SUBJECT); used only when the key the
  ** resolved entitlement gives is the same. */
  const char *pool_owner;  /* top-level parent, once a pooled feature needs it */
  const char *ovr_subject; /* whose overrides apply (the holder), when it has any */
  int64_t now;             /* the time the subject was resolved at */
  int spec_bound;
  EntPeriod spec_period;
  char spec_start[32];
  int64_t spec_used, spec_from_grants, spec_held;
  int spec_has_grants;
  int has_grants; /* the subject has rows in ent_grants (any feature) */
} EntSubject;

/* A feature priced in a currency (currency.c): rate per `per` units, in
** micro-units of the currency, one rate or one per value of a dimension
** named in the call's metadata. */
typedef struct EntPricing {
  int currency; /* index in EntConfig.feats */
  int64_t per;
  int64_t rate; /* when by is NULL */
  char *by;     /* the metadata key of the dimension, or NULL */
  int nvalues;
  char **names;
  int64_t *rates;
  int has_default;
  int64_t def;
} EntPricing;

/* One feature's entitlement under a plan, after inheritance. */
typedef struct EntFeature {
  const char *feature;
  EntType type;
  int found;   /* the plan (or a parent plan) names it */
  int enabled; /* found and not false */
  int unlimited;
  int64_t quota; /* effective: x seats when per_seat */
  EntPeriod period;
  int soft;
  int has_cap;
  int64_t cap;
  int has_price;
  int64_t price_micros;
  int per_seat;
  const char *value;        /* config and boolean: the JSON value */
  const struct cJSON *json; /* the same, parsed once per configuration load */
  int no_ledger;            /* metered, "ledger": false */
  int pool;                 /* metered: counted on the subject's top-level parent */
  const int *alerts;        /* metered: alert thresholds, percent of quota */
  int nalerts;
  int64_t burst, rate_seconds;
  const char *rate_period;   /* rate: 'minute', 'hour', 'day' or seconds as text */
  int is_currency, decimals; /* a currency, and its decimal places */
  const EntPricing *pricing; /* priced in a currency (credit.c), else NULL */
  int rollover_after;        /* "rollover": periods its grants last; 0: none (rollover.c) */
  int64_t rollover_max;      /* "rollover": the most one period carries (INT64_MAX: all) */
} EntFeature;

/* A rate limit's answer at one moment (rate.c). */
typedef struct EntRate {
  int allowed;
  int64_t new_tat;   /* TAT after taking the tokens */
  int64_t retry_us;  /* when denied: wait this long; -1 never */
  int64_t remaining; /* whole tokens available now */
} EntRate;

int64_t ent_rate_interval(const EntFeature *f);
int ent_rate_period_named(const char *z, const char **name, int64_t *seconds);
void ent_rate_eval(const EntFeature *f, int64_t now_us, int has_tat, int64_t tat, int64_t n,
                   EntRate *r);
void ent_fmt_seconds(int64_t us, char out[32]);

/* ---- the configuration in memory (plancache.c) -------------------------- */

typedef struct EntPlanEnt {
  int found, enabled, unlimited, soft, has_cap, per_seat, has_price;
  int64_t quota, cap, price_micros;
  EntPeriod period;
  char *value;
  struct cJSON *json; /* value, parsed */
  int no_ledger, pool;
  int64_t burst, rate_seconds;
  char *rate_period;
  int alerts[ENT_MAX_ALERTS];
  int nalerts;
} EntPlanEnt;

typedef struct EntPlanCfg {
  char *name, *inherits;
  int64_t rank;
  int has_spend_cap;
  int64_t spend_cap; /* micro-units (spend.c) */
  int has_trial;
  int64_t trial_days;
  EntPlanEnt *own;   /* [nfeat]: the plan's own entitlements */
  EntPlanEnt **ents; /* [nfeat]: after inheritance; NULL where no plan in the chain names it */
} EntPlanCfg;

typedef struct EntFeatCfg {
  char *name;
  EntType type;
  int spec_period;     /* the period the plans give it (the first enabled one), or -1 */
  int decimals;        /* a currency: its decimal places; else -1 */
  EntPricing *pricing; /* priced in a currency, else NULL */
  int rollover_after;  /* "rollover" (rollover.c): periods; 0: none */
  int64_t rollover_max;
} EntFeatCfg;

struct EntConfig {
  int refs; /* the connection's, and each plan_matrix scan's (a reload mid-scan frees nothing) */
  int64_t generation;
  int nfeat, nplans, default_plan;
  int def_alerts[ENT_MAX_ALERTS]; /* settings.alerts, else 80 and 100: for features an override adds
                                   */
  int ndef_alerts;
  int has_spend_cap; /* settings.spend_cap, for plans without their own */
  int64_t spend_cap;
  EntFeatCfg *feats;
  EntPlanCfg *plans;
  /* open-addressing indexes by name: slot -> index + 1, 0 = empty */
  int *feat_slots, *plan_slots;
  unsigned nslots; /* a power of two, at least twice the larger count */
};

int ent_config_sync(EntConn *c, int64_t generation, EntErr *e);
int ent_config_current(EntConn *c, EntErr *e);
void ent_config_free(EntConn *c);
void ent_config_release(EntConfig *g);
int ent_config_feature(const EntConfig *g, const char *name);
int ent_config_plan(const EntConfig *g, const char *name);

/* A metered feature's state for the current period. */
typedef struct EntUsage {
  int64_t start, end; /* ms; lifetime: start = end = 0 */
  char start_text[32];
  char end_text[32];
  int64_t used;
  int64_t from_grants;   /* of used, the units grants covered this period */
  int64_t grants_left;   /* active grants' balance, once ent_grants_load ran */
  int64_t rollover_left; /* of grants_left, rollover grants' (burned first) */
  int grants_loaded;
  int has_grants; /* the subject has grants for the feature (active or not) */
  /* holds (hold.c): held = the live ones' units, which every decision counts
  ** as used; held_stored is the counter's column (it still counts holds that
  ** expired and were not yet recorded as such) */
  int64_t held, held_stored;
  /* the spend cap (spend.c), when it applies to this feature: the cap and
  ** what usage past the other features' quotas costs this period, micros */
  int spend_capped;
  int64_t spend_cap, spend_others;
} EntUsage;

int ent_grants_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, EntUsage *u,
                    EntErr *e);
int ent_grants_burn(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, int64_t n,
                    EntErr *e);
int64_t ent_plan_left(const EntFeature *f, const EntUsage *u);
int64_t ent_available(const EntFeature *f, const EntUsage *u);
int ent_rate_fits(int64_t burst, int64_t seconds, int64_t limit);
int64_t ent_grant_part(const EntFeature *f, const EntUsage *u, int64_t amount);
void ent_grants_spent(EntUsage *u, int64_t n);
/* rollover.c: the rollover grants in force, made by a write, counted by a read */
int ent_rollover_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                      EntUsage *u, EntErr *e);
int ent_rollover_parse(const char *json, int64_t *max, int *after);

/* What usage_summary and entitlement() show for a metered feature. */
typedef struct EntView {
  int has_quota; /* enabled and not unlimited */
  int64_t quota, granted, remaining, overage;
  int has_percent, has_cost;
  double percent, cost;
  const char *status; /* disabled, unlimited, over, exhausted, warning, ok */
} EntView;

void ent_view(const EntSubject *s, const EntFeature *f, const EntUsage *u, EntView *v);
int ent_money_text(const char *z, int64_t *micros);
void ent_money_fmt(int64_t micros, char out[32]);

int ent_arg_subject(sqlite3_value *v, const char *fn, const char **out, EntErr *e);
int ent_arg_feature(sqlite3_value *v, const char *fn, const char **out, EntErr *e);
int ent_arg_amount(sqlite3_value *v, const char *fn, const char *what, int64_t *out, EntErr *e);
int ent_resolve_subject(EntConn *c, const char *subject, const char *feature_hint, int64_t now,
                        EntSubject *s, EntErr *e);
int ent_resolve_feature(EntConn *c, EntSubject *s, const char *feature, EntFeature *f, EntErr *e);
/* Whose counter a feature counts in: the pool owner for pooled features. */
const char *ent_counter_subject(const EntSubject *s, const EntFeature *f);
void ent_usage_bounds(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                      EntUsage *u);
int ent_usage_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, EntUsage *u,
                   EntErr *e);
/* The counter alone (no holds, no spend cap). */
int ent_usage_counter(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                      EntUsage *u, EntErr *e);
/* A counter's used column must be an integer >= 0 (NULL: no row yet, 0);
** ent_bad_counter() is the error when it is not (usage.c). */
int ent_counter_ok(sqlite3_stmt *st, int col, int64_t *used);
int ent_bad_counter(EntErr *e, const char *subject, const char *feature);
void ent_subject_clear(EntSubject *s);
void ent_feature_clear(EntFeature *f);
int ent_rate_read(EntConn *c, const EntSubject *s, const EntFeature *f, int *has, int64_t *tat,
                  EntErr *e);
int ent_rate_write(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t tat, EntErr *e);
char *ent_rate_denial(const EntSubject *s, const EntFeature *f, const EntRate *r, int64_t n);
/* The writing calls (consume.c), for the SQL functions and for
** INSERT INTO usage_events alike. argv: subject, feature [, amount [, key
** [, metadata]]]; at: the time the call is checked at (NULL: now). */
enum { ENT_CONSUME, ENT_TRY, ENT_RECORD, ENT_REFUND };
typedef struct EntWriteResult {
  int denied;
  int has_remaining;
  int64_t remaining;
  int64_t taken; /* the units recorded (consume_quota_upto's result) */
} EntWriteResult;
int ent_write(EntConn *c, int kind, const char *fn, int argc, sqlite3_value **argv,
              const int64_t *at, EntWriteResult *out, EntErr *e);

/* The lowest-ranked plan above the subject's that would allow `units` of
** the feature now, for denial messages; NULL when there is none (checks.c). */
const char *ent_upgrade_units(EntConn *c, const EntSubject *s, const char *feature, int64_t now,
                              int64_t units);
/* Appends "; upgrade to 'PLAN'" to a denial reason when there is such a plan. */
char *ent_with_upgrade(char *why, EntConn *c, const EntSubject *s, const char *feature, int64_t now,
                       int64_t units);

int ent_denial(const EntSubject *s, const EntFeature *f, const EntUsage *u, int64_t amount,
               char **reason);

/* u->held from the counter's held: the units of the holds still live at
** now (hold.c); reads the holds only when the counter has any. */
int ent_holds_live(EntConn *c, const char *counter, const char *feature, const char *period,
                   int64_t now, EntUsage *u, EntErr *e);

/* ---- the spend cap (spend.c) ------------------------------------------- */

/* The cap that applies to f for s (micros), when f's overage is priced. */
int ent_spend_applies(const EntConn *c, const EntSubject *s, const EntFeature *f, int64_t *cap);
/* u->spend_*: what the subject's other priced overage costs now. */
int ent_spend_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, EntUsage *u,
                   EntErr *e);
/* What n units of overage cost, in micros, saturating at INT64_MAX. */
int64_t ent_spend_cost(int64_t n, int64_t price_micros);

/* ---- currencies (currency.c) ------------------------------------------ */

int ent_pricing_parse(const char *json, const EntConfig *g, EntPricing **out);
void ent_pricing_free(EntPricing *p);
/* The price of `units` at rate (micro-units per p->per units) in the
** currency's smallest unit (decimals places), rounded up; 0 on overflow. */
int ent_charge(const EntPricing *p, int64_t rate, int decimals, int64_t units, int64_t *out);
/* The rate a call's metadata selects, with its text for the ledger ("15",
** "15/1000") and the dimension's value (sqlite3_malloc'd, NULL without a
** dimension); an error names what is missing or unknown. */
int ent_pricing_pick(const EntPricing *p, const char *feature, const char *meta, const char *fn,
                     int64_t *rate, char rate_text[48], char **dim, EntErr *e);
/* What reads show for a priced feature (credit.c), at the rate a call
** without metadata would pay (the default, else the lowest of its rates):
** the units its currency still affords (limited = 0: no bound), and for
** `units` > 0 whether the currency admits them (*why: the denial). */
typedef struct EntCreditRead {
  const char *currency;
  char rate_text[48];
  int limited;
  int64_t afford;
  int denied;
  char *why; /* sqlite3_malloc'd */
} EntCreditRead;
int ent_credit_read(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now,
                    int64_t units, EntCreditRead *out, EntErr *e);
/* The same from a rate's text as the ledger keeps it. */
int ent_rate_text_parse(const char *z, int64_t *rate, int64_t *per);

/* ---- the memo of subjects and counters (memo.c) ------------------------ */

#define ENT_MEMO_DEFAULT 16384 /* subjects, and as many counters, per connection */

/* One ent_subjects row as resolution reads it (a subject without a row:
** found = 0 and the rest NULL), with whether the subject has overrides and
** grants. Times are converted; bad: bit 1 trial_ends_at, 2 grace_ends_at,
** 4 billing_anchor hold values that do not convert (reported only when the
** resolution needs them; such rows are never memoized). */
typedef struct EntRow {
  int found;
  const char *plan, *status, *parent;
  int has_trial, has_grace, has_anchor;
  int64_t trial_ms, grace_ms, anchor_ms;
  int64_t seats;
  int bypass, has_overrides, has_grants;
  int bad;
} EntRow;

/* A counter row as remembered: found = 0 when there is no row. */
typedef struct EntCounterMemo {
  int found, has_grants;
  int64_t used, from_grants;
  int64_t held; /* the counter's column (see EntUsage) */
} EntCounterMemo;

int ent_memo_check(EntConn *c, EntErr *e);
void ent_memo_release(EntConn *c); /* ends the read a check started outside a transaction */
int ent_memo_subject(EntConn *c, const char *subject, EntRow *out);
void ent_memo_put_subject(EntConn *c, const char *subject, const EntRow *row);
/* An exact counter: read at the current data version, outside a write
** transaction (a write uses ent_memo_counter_slot()'s hint instead). */
int ent_memo_counter(EntConn *c, const char *subject, const char *feature, const char *period,
                     const char *start, EntCounterMemo *out);
/* exact = 1: read in this call outside a write transaction; v NULL: forget. */
void ent_memo_put_counter(EntConn *c, const char *subject, const char *feature, const char *period,
                          const char *start, int exact, const EntCounterMemo *v);
/* The remembered entry itself (hint = 1), for a write that updates it right
** after: valid until the next call that changes the memo. */
EntCounterMemo *ent_memo_counter_slot(EntConn *c, const char *subject, const char *feature,
                                      const char *period, const char *start);
/* After a call's own writes (counted in c->own_changes). */
void ent_memo_own_writes(EntConn *c);
/* After a call committed the transaction it began: its own commit moved the
** data version, and nothing else can have (it held the write lock). */
void ent_memo_committed(EntConn *c);
void ent_memo_free(EntConn *c);
int ent_memo_cap(EntConn *c);
int ent_memo_set_cap(EntConn *c, int cap);
int ent_register_memo(sqlite3 *db, EntConn *c);

/* ---- registration of each file's functions ----------------------------- */

typedef void (*EntFnImpl)(sqlite3_context *, int, sqlite3_value **);
typedef struct EntFn {
  const char *name;
  EntFnImpl fn;
} EntFn;

/* Every function is registered variadic and checks its own argument count,
** so that a wrong count gets an "entitlements: " message showing the usage. */
int ent_register_fns(sqlite3 *db, EntConn *c, const EntFn *fns, int n);
int ent_argc(sqlite3_context *ctx, int argc, int lo, int hi, const char *usage);

int ent_schema_ensure(EntConn *c, int repair, EntErr *e);
int ent_schema_verify(EntConn *c, EntErr *e);
int ent_register_schema(sqlite3 *db, EntConn *c);
int ent_register_purge(sqlite3 *db, EntConn *c);
int ent_register_config(sqlite3 *db, EntConn *c);
int ent_register_checks(sqlite3 *db, EntConn *c);
int ent_register_consume(sqlite3 *db, EntConn *c);
int ent_register_subjects(sqlite3 *db, EntConn *c);
/* ---- virtual tables (vtab.c) ------------------------------------------- */

/* Every table of the extension starts with this; the reference on conn
** keeps the connection state alive until the table disconnects. */
typedef struct EntVtab {
  sqlite3_vtab base;
  EntConn *conn;
} EntVtab;

int ent_vtab_connect(sqlite3 *db, EntConn *conn, const char *schema, size_t size, int innocuous,
                     sqlite3_vtab **out);
int ent_vtab_disconnect(sqlite3_vtab *vt);
int ent_vtab_error(sqlite3_vtab *vt, EntErr *e);
int ent_cursor_open(size_t size, sqlite3_vtab_cursor **out);
int ent_vtab_binary(sqlite3_index_info *info, int i);

int ent_register_summary(sqlite3 *db, EntConn *c);
int ent_register_events(sqlite3 *db, EntConn *c);
int ent_register_history(sqlite3 *db, EntConn *c);
int ent_register_matrix(sqlite3 *db, EntConn *c);

/* Flags for every function: UTF-8, never SQLITE_DETERMINISTIC (SQLite would
** fold constant-argument calls once per statement). Not SQLITE_DIRECTONLY so
** that triggers can enforce limits. */
#define ENT_FN_FLAGS SQLITE_UTF8

#endif
