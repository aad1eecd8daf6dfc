/*
** memo.c — the per-connection memo: ent_subjects rows and counters kept in
** memory so that a repeated call skips the SQL that would read them again.
**
** A memo answer is never stale. What proves it (checked at the start of
** every resolution, ent_memo_check):
**  - Subject rows (with "has overrides" and "has grants") are tagged with
**    ent_meta's subjects_generation, which the schema's triggers set to a new
**    random value on every change of ent_subjects, ent_overrides and
**    ent_grants' rows, whoever makes it (another process, plain SQL, a
**    rolled-back transaction puts the old value back). The generation is
**    read again whenever the database may have changed: outside a
**    transaction on every call (that read also starts the call's read
**    transaction, so the data version below is current); inside one when the
**    data version or this connection's change count moved (the triggers'
**    own UPDATE counts as a change the moment it runs, even inside the
**    statement that calls us).
**  - A write transaction that holds its own uncommitted subject changes
**    (the generation moved while it was open) uses no memo at all until it
**    ends: its rows could be rolled back without the generation showing it.
**    A memo first proven inside a write transaction cannot know whether the
**    transaction changed subjects before, so it reads the generation on
**    every call until the transaction ends (a ROLLBACK TO shows there).
**  - Counters are exact for reads only outside a write transaction and only
**    at the data version they were read at (SQLITE_FCNTL_DATA_VERSION: it
**    moves with every commit, ours or another connection's). Inside a write
**    transaction a memo counter is a hint: a write uses it only through a
**    guarded UPDATE that applies when the row still holds exactly the
**    remembered values, else the call reads the row as if there were no memo.
**
** Memory is bounded: at most `cap` subjects and `cap` counters (default
** ENT_MEMO_DEFAULT; entitlements_cache(n) sets it, 0 turns the memo off);
** a full table is emptied and starts again, which keeps every lookup O(1)
** without an LRU list.
*/
#include <string.h>

#include "ent.h"

typedef struct SubjEnt {
  struct SubjEnt *next;
  uint32_t h;
  int64_t sgen;
  EntRow row; /* strings point into key[] after the subject */
  char key[];
} SubjEnt;

typedef struct CtrEnt {
  struct CtrEnt *next;
  uint32_t h;
  uint64_t epoch; /* exact for reads while it equals the memo's; 0: a hint */
  EntCounterMemo v;
  int klen;
  char key[]; /* subject \0 feature \0 period \0 start */
} CtrEnt;

struct EntMemo {
  int cap;
  int nsubj, nctr;
  unsigned nb; /* buckets per table: a power of two >= 2 x cap */
  SubjEnt **sb;
  CtrEnt **cb;
  /* what was last proven */
  int known;       /* sgen, dv and changes below are set */
  unsigned dv;     /* data version they were read at */
  int64_t changes; /* sqlite3_total_changes64() then, plus our own writes */
  int64_t sgen;
  uint64_t cepoch;
  int pinned; /* ST_GENS holds the call's read transaction */
  int dirty;  /* a write transaction with its own subject changes is open */
  unsigned dirty_dv;
  /* first proven inside a write transaction: what it read may be its own
  ** uncommitted subject changes, which a ROLLBACK TO would undo without
  ** moving the data version or the change count; so the generation is read
  ** again on every call until that transaction ends */
  int recheck;
  unsigned recheck_dv;
  /* a memo that is seldom right costs more than it saves (a proof read and
  ** an entry per call, on a pass over more subjects than it holds): when it
  ** has had to empty a full table (churn) and fewer than one lookup in
  ** MEMO_FEW_HITS of the last MEMO_WINDOW found its subject, the next
  ** MEMO_REST calls run as with no memo. A memo still filling up is seldom
  ** right too, but does not churn. */
  unsigned looks, hits, rest;
  int churn;
  /* for this call */
  int subj_ok, ctr_ok;
  /* admission: a subject or counter enters the table the second time it is
  ** missed since the table was last emptied (one bit per hash, 8 KiB each),
  ** so a pass over many subjects seen once does not churn the table */
  uint64_t seen_subj[1024], seen_ctr[1024];
};

enum { MEMO_WINDOW = 512, MEMO_FEW_HITS = 8, MEMO_REST = 4096 };

/* Sets the entry's bit; whether it was set already. */
static int admit(uint64_t *bits, uint32_t h) {
  uint32_t b = (h ^ (h >> 16)) & 65535u;
  uint64_t m = (uint64_t)1 << (b & 63);
  if (bits[b >> 6] & m) return 1;
  bits[b >> 6] |= m;
  return 0;
}

static uint32_t hash(const char *z, int n) {
  uint32_t h = 2166136261u;
  int i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)z[i]) * 16777619u;
  return h;
}

static void clear_subjects(EntMemo *m) {
  unsigned i;
  for (i = 0; m->sb && i < m->nb; i++) {
    while (m->sb[i]) {
      SubjEnt *n = m->sb[i]->next;
      sqlite3_free(m->sb[i]);
      m->sb[i] = n;
    }
  }
  m->nsubj = 0;
  memset(m->seen_subj, 0, sizeof(m->seen_subj));
}

static void clear_counters(EntMemo *m) {
  unsigned i;
  for (i = 0; m->cb && i < m->nb; i++) {
    while (m->cb[i]) {
      CtrEnt *n = m->cb[i]->next;
      sqlite3_free(m->cb[i]);
      m->cb[i] = n;
    }
  }
  m->nctr = 0;
  memset(m->seen_ctr, 0, sizeof(m->seen_ctr));
}

void ent_memo_free(EntConn *c) {
  EntMemo *m = c->memo;
  if (!m) return;
  clear_subjects(m);
  clear_counters(m);
  sqlite3_free(m->sb);
  sqlite3_free(m->cb);
  sqlite3_free(m);
  c->memo = 0;
}

int ent_memo_cap(EntConn *c) {
  return c->memo_off ? 0 : c->memo_cap > 0 ? c->memo_cap : ENT_MEMO_DEFAULT;
}

int ent_memo_set_cap(EntConn *c, int cap) {
  ent_memo_free(c);
  c->memo_off = cap == 0;
  c->memo_cap = cap;
  return SQLITE_OK;
}

/* Created on first use; a failed allocation just leaves the memo off. */
static EntMemo *memo(EntConn *c) {
  EntMemo *m;
  int cap = c->memo_cap > 0 ? c->memo_cap : ENT_MEMO_DEFAULT;
  unsigned nb = 16;
  if (c->memo || c->memo_off) return c->memo;
  while (nb < (unsigned)cap * 2u) nb <<= 1;
  m = sqlite3_malloc(sizeof(*m));
  if (!m) return 0;
  memset(m, 0, sizeof(*m));
  m->cap = cap;
  m->nb = nb;
  m->cepoch = 1;
  m->sb = sqlite3_malloc64(sizeof(SubjEnt *) * nb);
  m->cb = sqlite3_malloc64(sizeof(CtrEnt *) * nb);
  if (!m->sb || !m->cb) {
    sqlite3_free(m->sb);
    sqlite3_free(m->cb);
    sqlite3_free(m);
    return 0;
  }
  memset(m->sb, 0, sizeof(SubjEnt *) * nb);
  memset(m->cb, 0, sizeof(CtrEnt *) * nb);
  c->memo = m;
  return m;
}

/* Reads subjects_generation (which every configuration change sets too).
** Outside a transaction this also starts the read that makes the data
** version current, and the statement stays on its row (the call's read
** transaction) until ent_memo_release(). */
static int read_gens(EntConn *c, EntMemo *m, int pin, EntErr *e) {
  sqlite3_stmt *st = ent_stmt(c, ST_GENS, e);
  int rc, usable;
  int64_t sg;
  if (!st) return e->code;
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_DONE : ent_err_db(e, c->db, rc, "reading ent_meta");
  }
  /* an older or damaged ent_meta: no memo (the SQL path names the problem) */
  usable = sqlite3_column_type(st, 0) == SQLITE_INTEGER;
  sg = sqlite3_column_int64(st, 0);
  sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &m->dv);
  if (pin && usable) {
    m->pinned = 1;
  } else {
    sqlite3_reset(st);
  }
  if (!usable) return SQLITE_DONE;
  if (sg != m->sgen || !m->known || !c->cfg) {
    m->sgen = sg;
    return ent_config_current(c, e);
  }
  return SQLITE_OK;
}

void ent_memo_release(EntConn *c) {
  if (c->memo && c->memo->pinned) {
    c->memo->pinned = 0;
    ent_stmt_reset(c, ST_GENS);
  }
}

int ent_memo_check(EntConn *c, EntErr *e) {
  EntMemo *m = memo(c);
  int txn, rc;
  unsigned dv = 0;
  int64_t ch;
  if (!m) return SQLITE_OK;
  m->subj_ok = m->ctr_ok = 0;
  {
    /* with triggers off on this connection its own writes to ent_subjects
    ** would not move subjects_generation: no memo for it then */
    int triggers = 1;
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, -1, &triggers);
    if (!triggers) {
      m->known = 0;
      return SQLITE_OK;
    }
  }
  if (m->rest || m->looks >= MEMO_WINDOW) {
    int seldom = m->hits * MEMO_FEW_HITS < m->looks;
    if (!m->rest && !(seldom && m->churn)) {
      if (!seldom) m->churn = 0;
      m->looks = m->hits = 0; /* worth it, or filling up: on */
    } else {
      if (!m->rest) m->rest = MEMO_REST;
      m->looks = m->hits = 0;
      /* off: when it comes back it knows nothing (and a write transaction
      ** still open then is rechecked on every call, see recheck above) */
      m->known = m->dirty = m->recheck = 0;
      if (--m->rest) return SQLITE_OK;
    }
  }
  txn = sqlite3_txn_state(c->db, "main");
  ch = sqlite3_total_changes64(c->db);
  if (m->dirty) {
    sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &dv);
    if (txn == SQLITE_TXN_WRITE && dv == m->dirty_dv) {
      m->changes = ch;
      return SQLITE_OK; /* still inside the transaction with its own changes */
    }
    m->dirty = 0;
    m->known = 0;
  }
  if (m->recheck) {
    sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &dv);
    if (txn != SQLITE_TXN_WRITE || dv != m->recheck_dv) m->recheck = 0;
  }
  if (txn != SQLITE_TXN_NONE && m->known && !m->recheck) {
    sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &dv);
    /* one change more is not a subject change: every write the memo cares
    ** about also sets subjects_generation in the same statement, two rows at
    ** least (schema.sql keeps that row from being deleted). It is what an
    ** INSERT INTO usage_events leaves: its own row, counted when it ends. */
    if (dv == m->dv && (ch == m->changes || ch == m->changes + 1)) {
      m->changes = ch;
      m->subj_ok = 1;
      m->ctr_ok = txn != SQLITE_TXN_WRITE;
      return SQLITE_OK;
    }
  }
  {
    int64_t before = m->sgen;
    unsigned dv_before = m->dv;
    int was_known = m->known;
    rc = read_gens(c, m, txn == SQLITE_TXN_NONE, e);
    if (rc == SQLITE_DONE) { /* no subjects_generation: the memo stays off */
      m->known = 0;
      return SQLITE_OK;
    }
    if (rc != SQLITE_OK) return rc;
    m->changes = ch;
    if (m->dv != dv_before || !was_known) m->cepoch++;
    if (txn == SQLITE_TXN_WRITE && was_known && m->sgen != before) {
      /* this transaction may hold its own subject changes */
      m->dirty = 1;
      m->dirty_dv = m->dv;
      m->known = 0;
      return SQLITE_OK;
    }
    if (txn == SQLITE_TXN_WRITE && !was_known) {
      m->recheck = 1;
      m->recheck_dv = m->dv;
    }
    m->known = 1;
    m->subj_ok = 1;
    m->ctr_ok = txn != SQLITE_TXN_WRITE;
  }
  return SQLITE_OK;
}

void ent_memo_own_writes(EntConn *c) {
  EntMemo *m = c->memo;
  /* our counter, ledger and alert writes change no subject row: if the
  ** connection's change count moved by exactly what our statements changed
  ** (no app trigger on our tables did more), the memo stays proven */
  if (m && m->known && !m->dirty && sqlite3_total_changes64(c->db) == m->changes + c->own_changes) {
    m->changes += c->own_changes;
  }
  c->own_changes = 0;
}

void ent_memo_committed(EntConn *c) {
  EntMemo *m = c->memo;
  /* proven at the start of the transaction, and every change in it was our
  ** own counter, ledger and alert rows (ent_memo_own_writes): the committed
  ** database is what the memo knows, so the new data version is proven too.
  ** Counters read at the old version are not carried over (new epoch). */
  if (m && m->known && !m->dirty && sqlite3_total_changes64(c->db) == m->changes &&
      sqlite3_get_autocommit(c->db)) {
    sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &m->dv);
    m->cepoch++;
  }
}

/* ---- subjects ------------------------------------------------------------ */

int ent_memo_subject(EntConn *c, const char *subject, EntRow *out) {
  EntMemo *m = c->memo;
  int n;
  uint32_t h;
  SubjEnt *p;
  if (!m || !m->subj_ok) return 0;
  n = (int)strlen(subject);
  h = hash(subject, n);
  m->looks++;
  for (p = m->sb[h & (m->nb - 1)]; p; p = p->next) {
    if (p->h == h && strcmp(p->key, subject) == 0) {
      if (p->sgen != m->sgen) return 0;
      *out = p->row;
      m->hits++;
      return 1;
    }
  }
  return 0;
}

static char *put_str(char **at, const char *z) {
  char *start = *at;
  size_t n;
  if (!z) return 0;
  n = strlen(z) + 1;
  memcpy(*at, z, n);
  *at += n;
  return start;
}

void ent_memo_put_subject(EntConn *c, const char *subject, const EntRow *row) {
  EntMemo *m = c->memo;
  int found = 0;
  size_t n;
  uint32_t h;
  SubjEnt *p, **pp;
  char *at;
  if (!m || !m->subj_ok || row->bad) return;
  n = strlen(subject);
  h = hash(subject, (int)n);
  for (pp = &m->sb[h & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
    if ((*pp)->h == h && strcmp((*pp)->key, subject) == 0) {
      p = *pp;
      *pp = p->next;
      sqlite3_free(p);
      m->nsubj--;
      found = 1;
      break;
    }
  }
  if (!found && !admit(m->seen_subj, h)) return; /* first miss: remember only that */
  if (m->nsubj >= m->cap) {
    clear_subjects(m);
    m->churn = 1;
  }
  p = sqlite3_malloc64(sizeof(*p) + n + 1 + (row->plan ? strlen(row->plan) + 1 : 0) +
                       (row->status ? strlen(row->status) + 1 : 0) +
                       (row->parent ? strlen(row->parent) + 1 : 0));
  if (!p) return;
  p->h = h;
  p->sgen = m->sgen;
  p->row = *row;
  at = p->key;
  put_str(&at, subject);
  p->row.plan = put_str(&at, row->plan);
  p->row.status = put_str(&at, row->status);
  p->row.parent = put_str(&at, row->parent);
  pp = &m->sb[h & (m->nb - 1)];
  p->next = *pp;
  *pp = p;
  m->nsubj++;
}

/* ---- counters ------------------------------------------------------------ */

static int ctr_key(char *buf, int size, const char *subject, const char *feature,
                   const char *period, const char *start) {
  int a = (int)strlen(subject) + 1, b = (int)strlen(feature) + 1, p = (int)strlen(period) + 1,
      s = (int)strlen(start) + 1;
  if (a + b + p + s > size) return -1;
  memcpy(buf, subject, a);
  memcpy(buf + a, feature, b);
  memcpy(buf + a + b, period, p);
  memcpy(buf + a + b + p, start, s);
  return a + b + p + s;
}

static CtrEnt **ctr_find(EntMemo *m, const char *key, int klen, uint32_t h) {
  CtrEnt **pp;
  for (pp = &m->cb[h & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
    if ((*pp)->h == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0) return pp;
  }
  return pp;
}

int ent_memo_counter(EntConn *c, const char *subject, const char *feature, const char *period,
                     const char *start, EntCounterMemo *out) {
  EntMemo *m = c->memo;
  char key[512];
  int klen;
  uint32_t h;
  CtrEnt **pp;
  if (!m || !m->ctr_ok) return 0;
  if ((klen = ctr_key(key, sizeof(key), subject, feature, period, start)) < 0) return 0;
  h = hash(key, klen);
  pp = ctr_find(m, key, klen, h);
  if (!*pp || (*pp)->epoch != m->cepoch) return 0;
  *out = (*pp)->v;
  return 1;
}

EntCounterMemo *ent_memo_counter_slot(EntConn *c, const char *subject, const char *feature,
                                      const char *period, const char *start) {
  EntMemo *m = c->memo;
  char key[512];
  int klen;
  CtrEnt **pp;
  if (!m || (klen = ctr_key(key, sizeof(key), subject, feature, period, start)) < 0) return 0;
  pp = ctr_find(m, key, klen, hash(key, klen));
  if (!*pp) return 0;
  (*pp)->epoch = 0; /* about to be written: a hint from now on */
  return &(*pp)->v;
}

void ent_memo_put_counter(EntConn *c, const char *subject, const char *feature, const char *period,
                          const char *start, int exact, const EntCounterMemo *v) {
  EntMemo *m = c->memo;
  char key[512];
  int klen;
  uint32_t h;
  CtrEnt **pp, *p;
  if (!m || (exact && !m->ctr_ok)) return;
  if ((klen = ctr_key(key, sizeof(key), subject, feature, period, start)) < 0) return;
  h = hash(key, klen);
  pp = ctr_find(m, key, klen, h);
  if (!*pp) {
    if (!v || !admit(m->seen_ctr, h)) return; /* nothing to forget; or a first miss */
    if (m->nctr >= m->cap) {
      clear_counters(m);
      pp = ctr_find(m, key, klen, h);
    }
    p = sqlite3_malloc64(sizeof(*p) + klen);
    if (!p) return;
    p->h = h;
    p->klen = klen;
    memcpy(p->key, key, klen);
    p->next = 0;
    *pp = p;
    m->nctr++;
  }
  p = *pp;
  if (!v) { /* forget it */
    *pp = p->next;
    sqlite3_free(p);
    m->nctr--;
    return;
  }
  p->v = *v;
  p->epoch = exact ? m->cepoch : 0;
}

/* ---- entitlements_cache([n]) --------------------------------------------- */

static void fn_cache(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  int before = ent_memo_cap(c);
  if (!ent_argc(ctx, argc, 0, 1, "entitlements_cache([size])")) return;
  if (argc == 1) {
    sqlite3_int64 n = sqlite3_value_int64(argv[0]);
    if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER || n < 0 || n > 1000000) {
      sqlite3_result_error(ctx,
                           "entitlements: entitlements_cache: size must be an integer from 0 (off) "
                           "to 1000000 subjects",
                           -1);
      return;
    }
    ent_memo_set_cap(c, (int)n);
  }
  sqlite3_result_int(ctx, before);
}

int ent_register_memo(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {{"entitlements_cache", fn_cache}};
  return ent_register_fns(db, c, fns, 1);
}
