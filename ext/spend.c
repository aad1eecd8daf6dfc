/*
** spend.c — the spend cap: usage past a soft quota priced with
** overage_price costs money, and "settings": {"spend_cap": "50"} (or a
** plan's own "spend_cap") bounds what that costs per period, summed over the
** subject's features. A consumption that would take the sum past the cap is
** denied like any other; record_usage, which records what already
** happened, is not. The sum is over each feature's current period — the
** cost column of usage_summary and entitlement() — so it needs no ledger
** scan, only the priced features' counters.
*/
#include <string.h>

#include "ent.h"

int64_t ent_spend_cost(int64_t n, int64_t price_micros) {
  unsigned __int128 c = (unsigned __int128)(n > 0 ? n : 0) * (unsigned __int128)price_micros;
  return c > (unsigned __int128)INT64_MAX ? INT64_MAX : (int64_t)c;
}

static int priced_overage(const EntFeature *f) {
  return f->type == T_METERED && f->enabled && !f->unlimited && f->soft && f->has_price &&
         f->price_micros > 0;
}

int ent_spend_applies(const EntConn *c, const EntSubject *s, const EntFeature *f, int64_t *cap) {
  const EntConfig *g = c->cfg;
  const EntPlanCfg *p;
  if (!g || s->plan_idx < 0 || !s->plan || s->bypass || !priced_overage(f)) return 0;
  p = &g->plans[s->plan_idx];
  if (!p->has_spend_cap && !g->has_spend_cap) return 0;
  *cap = p->has_spend_cap ? p->spend_cap : g->spend_cap;
  return 1;
}

int ent_spend_load(EntConn *c, const EntSubject *s, const EntFeature *f, int64_t now, EntUsage *u,
                   EntErr *e) {
  const EntConfig *g = c->cfg;
  int64_t cap, others = 0;
  int j;
  u->spend_capped = 0;
  if (!ent_spend_applies(c, s, f, &cap)) return SQLITE_OK;
  for (j = 0; j < g->nfeat; j++) {
    EntSubject os = *s;
    EntFeature of;
    EntUsage ou;
    int64_t over;
    if (!g->plans[s->plan_idx].ents[j] || g->feats[j].type != T_METERED ||
        strcmp(g->feats[j].name, f->feature) == 0) {
      continue;
    }
    os.spec_bound = 0; /* the guessed counter key was another feature's */
    if (ent_resolve_feature(c, &os, g->feats[j].name, &of, e) != SQLITE_OK) return e->code;
    if (!priced_overage(&of)) continue;
    memset(&ou, 0, sizeof(ou));
    if (ent_usage_counter(c, &os, &of, now, &ou, e) != SQLITE_OK) return e->code;
    over = ou.used - ou.from_grants - of.quota;
    others = ent_spend_cost(over, of.price_micros) > INT64_MAX - others
                 ? INT64_MAX
                 : others + ent_spend_cost(over, of.price_micros);
  }
  u->spend_capped = 1;
  u->spend_cap = cap;
  u->spend_others = others;
  return SQLITE_OK;
}
