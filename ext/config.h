/*
** config.h — the checked model of a configuration document, shared by the
** two halves of the configuration: config_read.c reads and checks a document
** into it, config.c writes it to the tables and the tables back out.
*/
#ifndef ENT_CONFIG_H
#define ENT_CONFIG_H
#include <cjson/cJSON.h>

#include "ent.h"

#define MAX_JSON_INT 9007199254740991.0 /* 2^53 - 1: larger JSON numbers are not exact */

typedef struct Feat {
  const char *name;
  EntType type;
  int declared, typed;
  const char *unit;
  /* what the plans' values looked like, for inference: a path of each kind */
  char *saw_bool, *saw_true, *saw_limit, *saw_other;
  /* a currency ("currencies"): its decimal places */
  int is_currency;
  int64_t decimals;
  /* priced in a currency: the keys as written, checked by ent_pricing_check(),
  ** which leaves the normalized JSON in pricing (sqlite3_malloc'd) */
  const cJSON *currency, *rate, *rates, *per;
  char *pricing;
  char *rollover; /* "rollover", normalized JSON (sqlite3_malloc'd), or NULL */
} Feat;

typedef struct Ent {
  const char *feature;
  const cJSON *json;
  char *path;
  int enabled, unlimited, soft, has_cap, per_seat, has_price;
  int64_t quota, cap, price;
  EntPeriod period;
  int no_ledger;                /* metered: "ledger": false (counters only) */
  int pool;                     /* metered: counted on the top-level parent */
  char alerts[ENT_ALERTS_TEXT]; /* metered: its own thresholds as JSON, or "" */
  int64_t burst, rate_seconds;  /* rate: tokens at once; the period in seconds */
  char rate_period[24];         /* rate: 'minute', 'hour', 'day' or seconds as text */
} Ent;

typedef struct Plan {
  const char *name;
  const cJSON *json;
  int64_t rank, trial_days, price, spend_cap;
  int has_trial, has_price, is_default, has_spend_cap;
  const char *currency, *inherits;
  Ent *ents;
  int nents;
} Plan;

typedef struct Model {
  EntErr *e;
  Feat *feats;
  int nfeats;
  Plan *plans;
  int nplans;
  const cJSON *settings; /* written to ent_meta as it is */
} Model;

/* Reads and checks a whole document into m; on error m->e says what is wrong
** and where (a JSON path). */
int ent_model_read(Model *m, const cJSON *doc);
void ent_model_free(Model *m);
Plan *ent_model_plan(Model *m, const char *name);
Feat *ent_model_feat(Model *m, const char *name);
Feat *ent_model_feat_add(Model *m, const char *name);
int ent_money_json(const cJSON *it, int64_t *micros);
/* currency.c: the "currencies" section, and the pricing keys of a feature */
int ent_currencies_read(Model *m, const cJSON *sec);
int ent_pricing_key(const char *key);
int ent_pricing_note(Model *m, Feat *f, const cJSON *k, const char *path);
int ent_pricing_check(Model *m);
/* rollover.c: a feature's or currency's "rollover" */
int ent_rollover_read(Model *m, Feat *f, const cJSON *v, const char *path);
int ent_rollover_check(Model *m);
/* Refuses what a JSON parser lets through: a key twice in one object, and
** numbers that are not finite. */
int ent_doc_check(EntErr *e, const cJSON *it, const char *path);

#endif
