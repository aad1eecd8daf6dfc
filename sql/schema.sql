-- sqlite-entitlements schema, version 8.
--
-- Compiled into the extension and run by entitlements_init(); every statement
-- is idempotent. Users may read every table and write ent_subjects with plain
-- SQL; the triggers below reject bad rows with the same "entitlements: "
-- messages the functions use. Plans and features are written by
-- entitlements_load(); counters and the ledger by the consumption functions.

CREATE TABLE IF NOT EXISTS ent_meta(
  key   TEXT PRIMARY KEY,
  value ANY
);

-- Feature registry. declared = 1: named in the configuration's "features"
-- section (else its type was inferred from the plans' values).
CREATE TABLE IF NOT EXISTS ent_features(
  feature  TEXT PRIMARY KEY,
  type     TEXT NOT NULL CHECK (type IN ('boolean', 'config', 'metered', 'rate')),
  unit     TEXT,
  declared INTEGER NOT NULL DEFAULT 0,
  position INTEGER NOT NULL DEFAULT 0,
  -- a currency (the configuration's "currencies"): its decimal places; every
  -- amount of it is counted in its smallest unit (decimals 2: hundredths)
  decimals INTEGER,
  -- a feature priced in a currency: {"currency", "rate" or "rates", "per"}
  -- as JSON, rates as exact decimal text
  pricing  TEXT,
  -- "rollover": {"max", "expires_after"} as JSON: unused quota of a period
  -- becomes a grant of category 'rollover' (rollover.c)
  rollover TEXT
);

-- price: exact decimal text (up to 6 places), e.g. '79' or '0.002'.
CREATE TABLE IF NOT EXISTS ent_plans(
  plan       TEXT PRIMARY KEY,
  rank       INTEGER NOT NULL DEFAULT 0,
  price      TEXT,
  currency   TEXT,
  inherits   TEXT,
  trial_days INTEGER,
  is_default INTEGER NOT NULL DEFAULT 0,
  position   INTEGER NOT NULL DEFAULT 0,
  spend_cap  TEXT     -- exact decimal: the most usage past quotas may cost per period
);

-- A plan's own entitlements, before inheritance. spec is the entitlement as
-- written in the configuration; the other columns are it, parsed.
CREATE TABLE IF NOT EXISTS ent_plan_features(
  plan          TEXT NOT NULL,
  feature       TEXT NOT NULL,
  enabled       INTEGER NOT NULL,
  quota         INTEGER,            -- metered: units per period, NULL = unlimited
  period        TEXT,               -- metered: minute ... lifetime; rate: minute, hour, day or seconds
  soft          INTEGER NOT NULL DEFAULT 0,
  cap           INTEGER,            -- soft: absolute maximum per period
  overage_price TEXT,               -- exact decimal text per unit over quota
  per_seat      INTEGER NOT NULL DEFAULT 0,
  value         TEXT,               -- config and boolean: the JSON value
  spec          TEXT NOT NULL,
  position      INTEGER NOT NULL DEFAULT 0,
  burst         INTEGER,            -- rate: tokens at once (quota = limit per period)
  ledger        INTEGER NOT NULL DEFAULT 1, -- metered: 0 keeps counters only (unless a key is given)
  alerts        TEXT,               -- metered: percent thresholds as JSON; NULL: settings.alerts
  pool          INTEGER NOT NULL DEFAULT 0, -- metered: counted on the top-level parent
  PRIMARY KEY (plan, feature)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ent_subjects(
  subject        TEXT PRIMARY KEY,
  plan           TEXT,
  status         TEXT NOT NULL DEFAULT 'active',
  trial_ends_at,                    -- times: text, or unix seconds as numbers;
  grace_ends_at,                    -- no type, so numbers stay numbers
  seats          INTEGER NOT NULL DEFAULT 1,
  parent         TEXT,
  billing_anchor,
  bypass         INTEGER NOT NULL DEFAULT 0,
  metadata       TEXT,
  created_at     TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS ent_subjects_plan ON ent_subjects(plan);
-- Every column a call reads, so that resolving a subject is one probe of
-- this index instead of the primary key's index and then the table: with a
-- million subjects each probe is a few pages the cache may not hold. Written
-- only when a subject row changes.
CREATE INDEX IF NOT EXISTS ent_subjects_lookup ON ent_subjects(subject, plan, status,
  trial_ends_at, grace_ends_at, seats, parent, billing_anchor, bypass);

-- Usage per subject, feature and period. Lifetime counters have
-- period_start '' and period_end NULL. (When each unit was used is in the
-- ledger; a per-row timestamp here would be rewritten on every call.)
-- A rowid table, not WITHOUT ROWID (as it was up to schema 4): SQLite
-- updates a rowid table's row in place, where a WITHOUT ROWID row is deleted
-- and inserted again; every consumption updates one, and make bench measured
-- ~2,800 instructions less per call.
CREATE TABLE IF NOT EXISTS ent_counters(
  subject      TEXT NOT NULL,
  feature      TEXT NOT NULL,
  period       TEXT NOT NULL,
  period_start TEXT NOT NULL,
  period_end   TEXT,
  used         INTEGER NOT NULL DEFAULT 0,
  unlogged     INTEGER NOT NULL DEFAULT 0, -- of used, the units of "ledger": false calls
  from_grants  INTEGER NOT NULL DEFAULT 0, -- of used, the units grants covered
  -- Holds (quota_reserve) taken in this period and not ended, whether or not
  -- expired: while it is 0, as on nearly every counter, a read needs nothing
  -- more; else the live ones are summed from ent_holds. Not part of used: a
  -- hold is not consumption and burns no grant until it is settled.
  held         INTEGER NOT NULL DEFAULT 0,
  -- period_start second: usage_summary reads a subject's counters of the
  -- current periods as one range of this key (period_start from the earliest
  -- current start on), not one lookup per feature; a consumption gives all
  -- four columns, in any order
  PRIMARY KEY (subject, period_start, feature, period)
);

-- Per-subject overrides of a plan's entitlement for one feature, written
-- with plain SQL. Each column replaces the plan's value when not NULL
-- (quota -1: unlimited); they apply to the subject whose own plan applies,
-- until expires_at.
CREATE TABLE IF NOT EXISTS ent_overrides(
  subject    TEXT NOT NULL,
  feature    TEXT NOT NULL,
  enabled    INTEGER,
  quota      INTEGER,
  period     TEXT,
  soft       INTEGER,
  cap        INTEGER,
  per_seat   INTEGER,
  value      TEXT,   -- config features: the value as JSON
  expires_at TEXT,
  PRIMARY KEY (subject, feature)
) WITHOUT ROWID;

-- Credits on top of a plan's quota (grant_quota). They count from starts_at
-- until expires_at (or until voided: grant_void), across periods, and are
-- burned only for what the period's quota does not cover: promotional
-- grants before paid ones, then the lowest priority number, then the
-- soonest expiry (none: last), then the oldest. Rollover grants (a period's
-- unused quota, rollover.c) are burned first, before the period's quota;
-- one per subject, feature and period (starts_at is that period's end).
CREATE TABLE IF NOT EXISTS ent_grants(
  id              INTEGER PRIMARY KEY,
  subject         TEXT NOT NULL,
  feature         TEXT NOT NULL,
  amount          INTEGER NOT NULL,
  remaining       INTEGER NOT NULL,
  priority        INTEGER NOT NULL DEFAULT 0,
  starts_at       TEXT NOT NULL,
  expires_at      TEXT,
  idempotency_key TEXT,
  created_at      TEXT NOT NULL,
  category        TEXT NOT NULL DEFAULT 'paid' CHECK (category IN ('promotional', 'paid', 'rollover')),
  voided_at       TEXT, -- grant_void(): what was left stopped counting then
  void_reason     TEXT
);
CREATE INDEX IF NOT EXISTS ent_grants_subject ON ent_grants(subject, feature);
-- a period's rollover is made once, whichever process gets there first
CREATE UNIQUE INDEX IF NOT EXISTS ent_grants_rollover ON ent_grants(subject, feature, starts_at)
  WHERE category = 'rollover';

-- Threshold crossings: an outbox. A row is written when a consumption takes
-- used across a threshold percent of the quota, once per subject, feature,
-- period and threshold; the app sends it and sets delivered_at.
CREATE TABLE IF NOT EXISTS ent_alerts(
  id           INTEGER PRIMARY KEY,
  at           TEXT NOT NULL,
  subject      TEXT NOT NULL,
  feature      TEXT NOT NULL,
  period_start TEXT NOT NULL,
  threshold    INTEGER NOT NULL,
  used         INTEGER NOT NULL,
  quota        INTEGER NOT NULL,
  delivered_at TEXT,
  period       TEXT,   -- the counter's period: a day and a month starting together are two
  period_end   TEXT    -- NULL for lifetime; usage_purge(…, 'all') removes ended periods' alerts
);
CREATE UNIQUE INDEX IF NOT EXISTS ent_alerts_once_per_period
  ON ent_alerts(subject, feature, period, period_start, threshold);
CREATE INDEX IF NOT EXISTS ent_alerts_outbox ON ent_alerts(id) WHERE delivered_at IS NULL;

-- Rate limits (GCRA): each subject's theoretical arrival time per feature,
-- in unix microseconds.
CREATE TABLE IF NOT EXISTS ent_rates(
  subject TEXT NOT NULL,
  feature TEXT NOT NULL,
  tat     INTEGER NOT NULL,
  PRIMARY KEY (subject, feature)
) WITHOUT ROWID;

-- The ledger. period/period_start name the counter a row counted in, so
-- entitlements_check() can compare each counter with exactly its rows.
-- requested: what a refund asked for when less was used (amount is what it
-- gave back).
CREATE TABLE IF NOT EXISTS ent_events(
  id              INTEGER PRIMARY KEY,
  at              TEXT NOT NULL,
  subject         TEXT NOT NULL,
  feature         TEXT NOT NULL,
  amount          INTEGER NOT NULL,
  kind            TEXT NOT NULL,
  idempotency_key TEXT,
  metadata        TEXT,
  period          TEXT,
  period_start    TEXT,
  requested       INTEGER,
  pool            TEXT, -- pooled features: the subject whose counter it counted in
  hold            TEXT, -- the hold (ent_holds.id) a hold, release, expire or settled row belongs to
  -- a feature priced in a currency: the row right after it (same subject
  -- and time) is the currency's, amount = charged; these keep the price
  -- used, so history is never repriced by a later rate change
  currency        TEXT,    -- the currency it drew from
  charged         INTEGER, -- what it cost, in the currency's smallest unit (rounded up)
  rate            TEXT,    -- the rate used: currency units per unit, '15/1000' when per > 1
  dimension       TEXT     -- the value of the rate's dimension (metadata's "model": 'large')
);
CREATE UNIQUE INDEX IF NOT EXISTS ent_events_key
  ON ent_events(subject, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- No index by subject here on purpose: it would be written at a random place
-- on every consumption (make bench measured +65% per call). An app that reads
-- usage_history or usage_events by subject often can add
--   CREATE INDEX ent_events_subject ON ent_events(subject, at);
-- and SQLite uses it for both.

-- Holds: units reserved by quota_reserve() for work that takes time, counted
-- in their counter's `held` until settled (quota_settle), released
-- (quota_release) or expired. state stays 'held' past expires_at until the
-- next write to the counter records the expiry (reads already leave an
-- expired hold out). counter: whose counter (the pool owner for pooled
-- features); period and period_start: the counter's key (NULL for rate
-- limits, which take tokens at once).
CREATE TABLE IF NOT EXISTS ent_holds(
  id              TEXT PRIMARY KEY,
  subject         TEXT NOT NULL,
  feature         TEXT NOT NULL,
  counter         TEXT NOT NULL,
  period          TEXT,
  period_start    TEXT,
  period_end      TEXT,
  amount          INTEGER NOT NULL,
  state           TEXT NOT NULL DEFAULT 'held'
                  CHECK (state IN ('held', 'settled', 'released', 'expired')),
  created_at      TEXT NOT NULL,
  expires_at      TEXT NOT NULL,
  expires_ms      INTEGER NOT NULL,
  ended_at        TEXT,
  actual          INTEGER, -- settled: the units consumed
  mode            TEXT,    -- settled: reject, cap or overflow
  idempotency_key TEXT,
  metadata        TEXT,
  -- a hold on a feature priced in a currency holds the currency (feature and
  -- amount are the currency's); settling charges the units at this rate
  draws           TEXT,    -- the priced feature
  units           INTEGER, -- its units reserved
  rate            TEXT,    -- as ent_events.rate
  dimension       TEXT
); -- a rowid table: expiries at the same instant are recorded in the order taken
CREATE INDEX IF NOT EXISTS ent_holds_live ON ent_holds(counter, feature, period, period_start,
  expires_ms) WHERE state = 'held';

-- Plain-SQL writes to ent_subjects get the same checks as the functions.
-- Only innocuous built-in functions may appear here, so that the triggers
-- work under PRAGMA trusted_schema = OFF: hence julianday() for times, and a
-- shape check for metadata (json_valid() is not innocuous in SQLite 3.40).
CREATE TRIGGER IF NOT EXISTS ent_subjects_insert BEFORE INSERT ON ent_subjects
BEGIN
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.subject must be non-empty text or an integer')
   WHERE NEW.subject IS NULL OR typeof(NEW.subject) NOT IN ('text', 'integer') OR NEW.subject = '';
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.plan names no plan in ent_plans; load it with entitlements_load() or use an existing plan')
   WHERE NEW.plan IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ent_plans WHERE plan = NEW.plan);
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.status must be one of active, trialing, past_due, canceled, paused')
   WHERE NEW.status IS NULL OR NEW.status NOT IN ('active', 'trialing', 'past_due', 'canceled', 'paused');
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.seats must be an integer >= 1')
   WHERE typeof(NEW.seats) != 'integer' OR NEW.seats < 1;
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.bypass must be 0 or 1')
   WHERE NEW.bypass IS NULL OR NEW.bypass NOT IN (0, 1);
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.parent must differ from subject')
   WHERE NEW.parent IS NOT NULL AND NEW.parent = NEW.subject;
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.trial_ends_at, grace_ends_at and billing_anchor must be NULL, a fixed time (not ''now'') on a real day such as ''2026-11-22 10:00:00'', or unix seconds in years 0000 to 9999')
   WHERE (NEW.trial_ends_at IS NOT NULL AND (typeof(NEW.trial_ends_at) = 'blob' OR (typeof(NEW.trial_ends_at) = 'text' AND (julianday(NEW.trial_ends_at) IS NULL OR lower(trim(NEW.trial_ends_at)) = 'now' OR (NEW.trial_ends_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.trial_ends_at, 1, 10))) IS NOT substr(NEW.trial_ends_at, 1, 10)))) OR (typeof(NEW.trial_ends_at) IN ('integer', 'real') AND (NEW.trial_ends_at < -62167219200 OR NEW.trial_ends_at > 253402300799))))
      OR (NEW.grace_ends_at IS NOT NULL AND (typeof(NEW.grace_ends_at) = 'blob' OR (typeof(NEW.grace_ends_at) = 'text' AND (julianday(NEW.grace_ends_at) IS NULL OR lower(trim(NEW.grace_ends_at)) = 'now' OR (NEW.grace_ends_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.grace_ends_at, 1, 10))) IS NOT substr(NEW.grace_ends_at, 1, 10)))) OR (typeof(NEW.grace_ends_at) IN ('integer', 'real') AND (NEW.grace_ends_at < -62167219200 OR NEW.grace_ends_at > 253402300799))))
      OR (NEW.billing_anchor IS NOT NULL AND (typeof(NEW.billing_anchor) = 'blob' OR (typeof(NEW.billing_anchor) = 'text' AND (julianday(NEW.billing_anchor) IS NULL OR lower(trim(NEW.billing_anchor)) = 'now' OR (NEW.billing_anchor GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.billing_anchor, 1, 10))) IS NOT substr(NEW.billing_anchor, 1, 10)))) OR (typeof(NEW.billing_anchor) IN ('integer', 'real') AND (NEW.billing_anchor < -62167219200 OR NEW.billing_anchor > 253402300799))));
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.metadata must be NULL or a JSON object')
   WHERE NEW.metadata IS NOT NULL AND (typeof(NEW.metadata) != 'text' OR substr(trim(NEW.metadata), 1, 1) != '{' OR substr(trim(NEW.metadata), -1, 1) != '}');
END;

-- The same checks for UPDATE (SQLite has no INSERT OR UPDATE trigger).
CREATE TRIGGER IF NOT EXISTS ent_subjects_update BEFORE UPDATE ON ent_subjects
BEGIN
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.subject must be non-empty text or an integer')
   WHERE NEW.subject IS NULL OR typeof(NEW.subject) NOT IN ('text', 'integer') OR NEW.subject = '';
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.plan names no plan in ent_plans; load it with entitlements_load() or use an existing plan')
   WHERE NEW.plan IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ent_plans WHERE plan = NEW.plan);
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.status must be one of active, trialing, past_due, canceled, paused')
   WHERE NEW.status IS NULL OR NEW.status NOT IN ('active', 'trialing', 'past_due', 'canceled', 'paused');
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.seats must be an integer >= 1')
   WHERE typeof(NEW.seats) != 'integer' OR NEW.seats < 1;
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.bypass must be 0 or 1')
   WHERE NEW.bypass IS NULL OR NEW.bypass NOT IN (0, 1);
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.parent must differ from subject')
   WHERE NEW.parent IS NOT NULL AND NEW.parent = NEW.subject;
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.trial_ends_at, grace_ends_at and billing_anchor must be NULL, a fixed time (not ''now'') on a real day such as ''2026-11-22 10:00:00'', or unix seconds in years 0000 to 9999')
   WHERE (NEW.trial_ends_at IS NOT NULL AND (typeof(NEW.trial_ends_at) = 'blob' OR (typeof(NEW.trial_ends_at) = 'text' AND (julianday(NEW.trial_ends_at) IS NULL OR lower(trim(NEW.trial_ends_at)) = 'now' OR (NEW.trial_ends_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.trial_ends_at, 1, 10))) IS NOT substr(NEW.trial_ends_at, 1, 10)))) OR (typeof(NEW.trial_ends_at) IN ('integer', 'real') AND (NEW.trial_ends_at < -62167219200 OR NEW.trial_ends_at > 253402300799))))
      OR (NEW.grace_ends_at IS NOT NULL AND (typeof(NEW.grace_ends_at) = 'blob' OR (typeof(NEW.grace_ends_at) = 'text' AND (julianday(NEW.grace_ends_at) IS NULL OR lower(trim(NEW.grace_ends_at)) = 'now' OR (NEW.grace_ends_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.grace_ends_at, 1, 10))) IS NOT substr(NEW.grace_ends_at, 1, 10)))) OR (typeof(NEW.grace_ends_at) IN ('integer', 'real') AND (NEW.grace_ends_at < -62167219200 OR NEW.grace_ends_at > 253402300799))))
      OR (NEW.billing_anchor IS NOT NULL AND (typeof(NEW.billing_anchor) = 'blob' OR (typeof(NEW.billing_anchor) = 'text' AND (julianday(NEW.billing_anchor) IS NULL OR lower(trim(NEW.billing_anchor)) = 'now' OR (NEW.billing_anchor GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.billing_anchor, 1, 10))) IS NOT substr(NEW.billing_anchor, 1, 10)))) OR (typeof(NEW.billing_anchor) IN ('integer', 'real') AND (NEW.billing_anchor < -62167219200 OR NEW.billing_anchor > 253402300799))));
  SELECT RAISE(ABORT, 'entitlements: ent_subjects.metadata must be NULL or a JSON object')
   WHERE NEW.metadata IS NOT NULL AND (typeof(NEW.metadata) != 'text' OR substr(trim(NEW.metadata), 1, 1) != '{' OR substr(trim(NEW.metadata), -1, 1) != '}');
END;

-- A plan still in use cannot be deleted with plain SQL either.
CREATE TRIGGER IF NOT EXISTS ent_plans_in_use BEFORE DELETE ON ent_plans
WHEN EXISTS (SELECT 1 FROM ent_subjects WHERE plan = OLD.plan)
BEGIN
  SELECT RAISE(ABORT, 'entitlements: this plan is still used by subjects in ent_subjects; move them to another plan with subject_set_plan() first');
END;

-- Every connection keeps the configuration in memory and reloads it when
-- config_generation changes; any change to these tables, by
-- entitlements_load() or by hand, sets it to a new random 64-bit value. Not
-- value + 1: a rolled-back change and the next change would then both be
-- N + 1, and a connection that saw the rolled-back one would keep it.
INSERT OR IGNORE INTO ent_meta(key, value) VALUES ('config_generation', 0);
CREATE TRIGGER IF NOT EXISTS ent_features_gen_i AFTER INSERT ON ent_features BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_features_gen_u AFTER UPDATE ON ent_features BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_features_gen_d AFTER DELETE ON ent_features BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_plans_gen_i AFTER INSERT ON ent_plans BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_plans_gen_u AFTER UPDATE ON ent_plans BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_plans_gen_d AFTER DELETE ON ent_plans BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_plan_features_gen_i AFTER INSERT ON ent_plan_features BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_plan_features_gen_u AFTER UPDATE ON ent_plan_features BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;
CREATE TRIGGER IF NOT EXISTS ent_plan_features_gen_d AFTER DELETE ON ent_plan_features BEGIN UPDATE ent_meta SET value = random() WHERE key IN ('config_generation', 'subjects_generation'); END;

-- subjects_generation changes, to a new random value, with every change of
-- the configuration (above) and every row of ent_subjects, ent_overrides and
-- ent_grants that is written (a grant's
-- burn-down, which changes only `remaining`, excepted), whoever writes it.
-- A connection keeps the rows it read in memory for as long as this value
-- and its data version show nothing changed (see ext/memo.c). The UPDATEs
-- also count in sqlite3_total_changes() the moment they run; BEFORE, so
-- that they have run when any AFTER trigger of the app, whatever its order,
-- calls the extension about the changed row.
INSERT OR IGNORE INTO ent_meta(key, value) VALUES ('subjects_generation', 0);
CREATE TRIGGER IF NOT EXISTS ent_subjects_gen_i BEFORE INSERT ON ent_subjects BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_subjects_gen_u BEFORE UPDATE ON ent_subjects BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_subjects_gen_d BEFORE DELETE ON ent_subjects BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_overrides_gen_i BEFORE INSERT ON ent_overrides BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_overrides_gen_u BEFORE UPDATE ON ent_overrides BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_overrides_gen_d BEFORE DELETE ON ent_overrides BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_grants_gen_i BEFORE INSERT ON ent_grants BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_grants_gen_u BEFORE UPDATE OF id, subject, feature ON ent_grants BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_grants_gen_d BEFORE DELETE ON ent_grants BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
-- and with any other change to ent_meta (the configuration's generation or
-- the schema version edited by hand, settings, the purge horizon)
CREATE TRIGGER IF NOT EXISTS ent_meta_gen_i AFTER INSERT ON ent_meta WHEN NEW.key != 'subjects_generation' BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_meta_gen_u AFTER UPDATE ON ent_meta WHEN OLD.key != 'subjects_generation' BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
CREATE TRIGGER IF NOT EXISTS ent_meta_gen_d AFTER DELETE ON ent_meta WHEN OLD.key != 'subjects_generation' BEGIN UPDATE ent_meta SET value = random() WHERE key = 'subjects_generation'; UPDATE ent_meta SET value = value WHERE key = 'subjects_generation'; END;
-- Each of these triggers counts two changes in sqlite3_total_changes() the
-- moment it runs (two statements; the configuration's update two rows), so
-- memo.c can tell them from the one change an app statement of its own
-- makes (an INSERT INTO usage_events): inside a transaction, a change count
-- that moved by one since the memo's last proof hides no such write. That
-- holds only while the row exists: it may be set, not deleted or renamed.
CREATE TRIGGER IF NOT EXISTS ent_meta_keep_d BEFORE DELETE ON ent_meta WHEN OLD.key = 'subjects_generation' BEGIN SELECT RAISE(ABORT, 'entitlements: ent_meta''s subjects_generation row cannot be deleted or renamed (connections prove what they remember with it); set its value instead'); END;
CREATE TRIGGER IF NOT EXISTS ent_meta_keep_u BEFORE UPDATE OF key ON ent_meta WHEN OLD.key = 'subjects_generation' AND NEW.key IS NOT 'subjects_generation' BEGIN SELECT RAISE(ABORT, 'entitlements: ent_meta''s subjects_generation row cannot be deleted or renamed (connections prove what they remember with it); set its value instead'); END;

-- Plain-SQL writes to ent_overrides are checked like those to ent_subjects.
-- JSON values are checked by entitlements_json_valid(), which the extension
-- registers as innocuous (SQLite 3.40's json_valid() is not, and would make
-- these triggers fail under trusted_schema = OFF); so writing ent_overrides
-- needs the extension loaded.
CREATE TRIGGER IF NOT EXISTS ent_overrides_insert BEFORE INSERT ON ent_overrides
BEGIN
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.feature names no feature in ent_features')
   WHERE NOT EXISTS (SELECT 1 FROM ent_features WHERE feature = NEW.feature);
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.enabled, soft and per_seat must be NULL, 0 or 1')
   WHERE (NEW.enabled IS NOT NULL AND NEW.enabled NOT IN (0, 1)) OR (NEW.soft IS NOT NULL AND NEW.soft NOT IN (0, 1)) OR (NEW.per_seat IS NOT NULL AND NEW.per_seat NOT IN (0, 1));
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.quota must be NULL, -1 (unlimited) or a whole number >= 0, and cap NULL or >= 0')
   WHERE (NEW.quota IS NOT NULL AND (typeof(NEW.quota) != 'integer' OR NEW.quota < -1)) OR (NEW.cap IS NOT NULL AND (typeof(NEW.cap) != 'integer' OR NEW.cap < 0));
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.period must be NULL or one of minute, hour, day, week, month, year, lifetime')
   WHERE NEW.period IS NOT NULL AND NEW.period NOT IN ('minute', 'hour', 'day', 'week', 'month', 'year', 'lifetime');
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.expires_at must be NULL or a fixed time text on a real day such as 2026-11-22 10:00:00')
   WHERE NEW.expires_at IS NOT NULL AND (typeof(NEW.expires_at) != 'text' OR julianday(NEW.expires_at) IS NULL OR lower(trim(NEW.expires_at)) = 'now'
      OR (NEW.expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.expires_at, 1, 10))) IS NOT substr(NEW.expires_at, 1, 10)));
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.value must be NULL or valid JSON text, such as 500, ''"premium"'' or ''["pdf", "csv"]''')
   WHERE NEW.value IS NOT NULL AND (typeof(NEW.value) != 'text' OR NOT entitlements_json_valid(NEW.value));
END;

-- The same checks for UPDATE.
CREATE TRIGGER IF NOT EXISTS ent_overrides_update BEFORE UPDATE ON ent_overrides
BEGIN
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.feature names no feature in ent_features')
   WHERE NOT EXISTS (SELECT 1 FROM ent_features WHERE feature = NEW.feature);
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.enabled, soft and per_seat must be NULL, 0 or 1')
   WHERE (NEW.enabled IS NOT NULL AND NEW.enabled NOT IN (0, 1)) OR (NEW.soft IS NOT NULL AND NEW.soft NOT IN (0, 1)) OR (NEW.per_seat IS NOT NULL AND NEW.per_seat NOT IN (0, 1));
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.quota must be NULL, -1 (unlimited) or a whole number >= 0, and cap NULL or >= 0')
   WHERE (NEW.quota IS NOT NULL AND (typeof(NEW.quota) != 'integer' OR NEW.quota < -1)) OR (NEW.cap IS NOT NULL AND (typeof(NEW.cap) != 'integer' OR NEW.cap < 0));
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.period must be NULL or one of minute, hour, day, week, month, year, lifetime')
   WHERE NEW.period IS NOT NULL AND NEW.period NOT IN ('minute', 'hour', 'day', 'week', 'month', 'year', 'lifetime');
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.expires_at must be NULL or a fixed time text on a real day such as 2026-11-22 10:00:00')
   WHERE NEW.expires_at IS NOT NULL AND (typeof(NEW.expires_at) != 'text' OR julianday(NEW.expires_at) IS NULL OR lower(trim(NEW.expires_at)) = 'now'
      OR (NEW.expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(julianday(substr(NEW.expires_at, 1, 10))) IS NOT substr(NEW.expires_at, 1, 10)));
  SELECT RAISE(ABORT, 'entitlements: ent_overrides.value must be NULL or valid JSON text, such as 500, ''"premium"'' or ''["pdf", "csv"]''')
   WHERE NEW.value IS NOT NULL AND (typeof(NEW.value) != 'text' OR NOT entitlements_json_valid(NEW.value));
END;
