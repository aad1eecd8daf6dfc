/*
** call.h — one writing call's state and the plumbing every writing function
** shares (call.c): its savepoint and the write lock, the ledger row, the
** one-writer-at-a-time guard. Included by consume.c, grant.c and reset.c.
*/
#ifndef ENT_CALL_H
#define ENT_CALL_H

#include "ent.h"

typedef enum {
  K_CONSUME = ENT_CONSUME,
  K_TRY = ENT_TRY,
  K_RECORD = ENT_RECORD,
  K_REFUND = ENT_REFUND,
  K_RESET,
  K_GRANT,
  K_UPTO,    /* consume_quota_upto: what fits, never a denial */
  K_RESERVE, /* quota_reserve: a hold (hold.c) */
  K_SETTLE,  /* quota_settle: the consumption that ends a hold */
  K_RELEASE, /* a hold ended without consumption: quota_release, or settling */
  K_EXPIRE,  /* a hold found expired by the next write to its counter */
  K_OVERAGE, /* quota_settle(..., 'cap'): what was used beyond the hold */
  K_VOID     /* grant_void: a grant's unburned units stop counting */
} Kind;

/* by Kind: the SQL function's name, and the ledger's kind */
extern const char *const ENT_FN_NAME[];
extern const char *const ENT_LEDGER_KIND[];

typedef struct Call {
  EntConn *c;
  Kind kind;
  const char *fn, *subject, *feature, *key, *meta;
  int64_t amount, now;
  int64_t asked;          /* the amount the caller asked for (upto may take less) */
  int64_t replayed;       /* a retry of a recorded key: the amount its row took */
  const char *hold;       /* the ledger row belongs to this hold (hold.c) */
  char replayed_hold[40]; /* a retried quota_reserve: the hold its row made */
  EntSubject s;
  EntFeature f;
  EntUsage u;
  EntErr e;
  int savepoint;     /* our savepoint is open */
  int lazy;          /* it is not open yet: see ent_call_begin() */
  int own_txn;       /* no savepoint: the call's own BEGIN IMMEDIATE (autocommit) */
  int began;         /* it began the transaction (the call came in autocommit) */
  int denied;        /* a denial, for try_consume_quota */
  int has_remaining; /* the result is a number, else NULL */
  int64_t remaining;
  char at[32]; /* now, as the ledger shows it */
  /* a feature priced in a currency (credit.c): what its ledger row keeps */
  const char *currency, *rate_text, *dim;
  int64_t charged;
} Call;

int ent_call_begin(Call *k, int lazy);
/* consume.c: adds delta to k's counter if used <= guard (*fit); a denial. */
int ent_call_counter_add(Call *k, int64_t delta, int64_t guard, int64_t burn, int *fit);
int ent_call_deny(Call *k);
/* consume_quota_upto: the most units up to hi that fits(arg, n) admits,
** by bisection (every decision it asks is monotone in n). */
int64_t ent_call_most(int64_t hi, int (*fits)(void *arg, int64_t n), void *arg);
/* credit.c: a consumption of a feature priced in a currency, resolved. */
int ent_credit_run(Call *k);
/* A hold on a priced feature holds its currency (credit.c): what the hold
** row keeps of the feature. */
typedef struct EntCreditHold {
  const char *draws; /* the priced feature, NULL for other holds */
  int64_t units;
  char rate_text[48];
  char *dim; /* sqlite3_malloc'd */
} EntCreditHold;
/* quota_reserve: prices k's units and points k at the currency's charge. */
int ent_credit_hold(Call *k, EntCreditHold *h);
/* quota_settle: what `units` cost at the hold's rate, in k's currency. */
int ent_credit_hold_charge(Call *k, const char *hold, const char *rate_text, int64_t units,
                           int64_t *charge);
/* quota_settle: the priced feature's units in the period the hold was
** taken in, and its ledger row (before the currency's rows). */
int ent_credit_settle_units(Call *k, const char *hold, const char *feature, int64_t units,
                            int64_t charged, const char *rate_text, const char *dim,
                            const char *taken_at, const char *meta);
int ent_call_savepoint_now(Call *k);
void ent_call_undo_step(Call *k, int id);
int ent_call_end(Call *k, int ok);
void ent_call_set_remaining(Call *k);
int ent_call_logs(const Call *k);
int ent_call_ledger_row(Call *k, int64_t logged, int clamped);
int ent_call_enter(EntConn *c, const char *fn, EntErr *e);
int ent_call_args(Call *k, int argc, sqlite3_value **argv);
int ent_call_resolve(Call *k, const char *hint);
/* A retry of a call already recorded under k->key: *found, and an error
** when the key was used for another call. */
int ent_call_replay(Call *k, int *found);
/* Threshold alerts for the usage a call just added (used was `before`). */
int ent_consume_alerts(Call *k, int64_t before);
/* Records the expiry of the holds in k's counter (k->u, loaded) that
** expired by k->now (hold.c). */
int ent_holds_expire(Call *k);
int ent_register_grant(sqlite3 *db, EntConn *c);
int ent_register_reset(sqlite3 *db, EntConn *c);
int ent_register_hold(sqlite3 *db, EntConn *c);
int ent_register_credit(sqlite3 *db, EntConn *c);

#endif
