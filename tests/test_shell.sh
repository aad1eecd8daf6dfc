#!/usr/bin/env bash
# The sqlite3 shell and the build: `make demo`'s script prints exactly
# tests/expected/demo.out; the library exports only its entry point; a wrong
# path gives SQLite's own load error; a version-1 database is migrated; the C
# sources are clang-formatted.
# Prints "shell: N passed, N failed".
cd "$(dirname "$0")/.."
passed=0
failed=0
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL shell: $what"; fi
}

got=$(sqlite3 :memory: < examples/quickstart.sql 2>&1)
check "the quickstart prints tests/expected/demo.out" test "$got" = "$(cat tests/expected/demo.out)"
[ "$got" = "$(cat tests/expected/demo.out)" ] || diff <(echo "$got") tests/expected/demo.out | head -20

exports=$(nm -D --defined-only dist/entitlements.so | awk '$2 == "T" {print $3}')
check "only sqlite3_entitlements_init is exported (got: $exports)" test "$exports" = "sqlite3_entitlements_init"

check "the shell loads it by its short name from dist/" sqlite3 :memory: ".load dist/entitlements" "SELECT entitlements_version()"

check "schema.sql is what the extension creates" bash -c \
  'diff <(sqlite3 :memory: ".load dist/entitlements" "SELECT entitlements_init()" ".schema --nosys" | grep -c "CREATE") <(grep -c "^CREATE" sql/schema.sql)'

# A database made by version 1 (tests/fixtures/schema_v1.sql, as it shipped)
# is migrated in place: its data kept, alerts keyed by period from then on,
# the new triggers in force.
v1=dist/test-tmp/v1.db
rm -f "$v1"
sqlite3 "$v1" < tests/fixtures/schema_v1.sql
sqlite3 "$v1" "INSERT INTO ent_meta(key, value) VALUES ('schema_version', 1);
INSERT INTO ent_alerts(at, subject, feature, period_start, threshold, used, quota) VALUES ('2026-11-22 10:00:00', 'u', 'images', '2026-11-01 00:00:00', 80, 8, 10);
INSERT INTO ent_counters(subject, feature, period, period_start, period_end, used) VALUES ('u', 'images', 'month', '2026-11-01 00:00:00', '2026-12-01 00:00:00', 8);
INSERT INTO ent_events(at, subject, feature, amount, kind, period, period_start) VALUES ('2026-11-22 10:00:00', 'u', 'images', 8, 'consume', 'month', '2026-11-01 00:00:00');"
got=$({ sqlite3 "$v1" ".load dist/entitlements" "SELECT entitlements_clock('2026-11-22 10:00:00')" \
  "SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": {\"images\": {\"limit\": 10}, \"daily\": {\"limit\": 10, \"period\": \"day\"}}}}}')" \
  "SELECT value FROM ent_meta WHERE key = 'schema_version'" \
  "SELECT consume_quota('u', 'images', 1), consume_quota('u', 'daily', 9)" \
  "SELECT threshold, coalesce(period, 'NULL') FROM ent_alerts ORDER BY id" \
  "SELECT entitlements_check()" 2>&1
  sqlite3 "$v1" ".load dist/entitlements" \
    "INSERT INTO ent_subjects(subject, plan, billing_anchor) VALUES ('n', 'free', 'now')" 2>&1; })
want="2026-11-22 10:00:00
1
8
1|1
80|NULL
80|day
ok
Error: stepping, entitlements: ent_subjects.trial_ends_at, grace_ends_at and billing_anchor must be NULL, a fixed time (not 'now') on a real day such as '2026-11-22 10:00:00', or unix seconds in years 0000 to 9999 (19)"
check "a version-1 database is migrated in place (data kept, new triggers)" test "$got" = "$want"
[ "$got" = "$want" ] || diff <(echo "$got") <(echo "$want")

# A database made by version 4 (tests/fixtures/schema_v4.sql, as it shipped):
# ent_counters becomes a rowid table with its rows, and the app's own index
# and trigger on it, and its view over it, still work.
v4=dist/test-tmp/v4.db
rm -f "$v4"
sqlite3 "$v4" < tests/fixtures/schema_v4.sql
sqlite3 "$v4" "INSERT OR REPLACE INTO ent_meta(key, value) VALUES ('schema_version', 4);
INSERT INTO ent_counters(subject, feature, period, period_start, period_end, used) VALUES ('u', 'images', 'month', '2026-11-01 00:00:00', '2026-12-01 00:00:00', 8);
INSERT INTO ent_events(at, subject, feature, amount, kind, period, period_start) VALUES ('2026-11-22 10:00:00', 'u', 'images', 8, 'consume', 'month', '2026-11-01 00:00:00');
CREATE TABLE app_log(what TEXT);
CREATE TRIGGER app_counter AFTER UPDATE ON ent_counters BEGIN INSERT INTO app_log VALUES ('used ' || NEW.used); END;
CREATE INDEX app_by_used ON ent_counters(used);
CREATE VIEW app_usage AS SELECT subject, sum(used) AS total FROM ent_counters GROUP BY subject;"
got=$(sqlite3 "$v4" ".load dist/entitlements" "SELECT entitlements_clock('2026-11-22 10:00:00')" \
  "SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": {\"images\": {\"limit\": 10}}}}}')" \
  "SELECT value FROM ent_meta WHERE key = 'schema_version'" \
  "SELECT consume_quota('u', 'images', 1)" \
  "SELECT rowid, subject, used FROM ent_counters" \
  "SELECT * FROM app_log" "SELECT * FROM app_usage" \
  "SELECT name FROM sqlite_master WHERE name LIKE 'app_%' OR name LIKE 'ent_counters%' ORDER BY name" \
  "SELECT entitlements_check()" "PRAGMA integrity_check" 2>&1)
want="2026-11-22 10:00:00
1
8
1
1|u|9
used 9
u|9
app_by_used
app_counter
app_log
app_usage
ent_counters
ok
ok"
check "a version-4 database is migrated in place (rowid counters, the app's index, trigger and view kept)" test "$got" = "$want"
[ "$got" = "$want" ] || diff <(echo "$got") <(echo "$want")

# A database made by version 5 (tests/fixtures/schema_v5.sql, as it shipped)
# gains holds in place: the ledger's hold column, the counters' held and
# hold_expiry, ent_holds; its rows kept. Until then, functions refuse it with
# a message that says how to migrate.
v5=dist/test-tmp/v5.db
rm -f "$v5"
sqlite3 "$v5" < tests/fixtures/schema_v5.sql
sqlite3 "$v5" "INSERT OR REPLACE INTO ent_meta(key, value) VALUES ('schema_version', 5);
INSERT INTO ent_counters(subject, feature, period, period_start, period_end, used) VALUES ('u', 'images', 'month', '2026-11-01 00:00:00', '2026-12-01 00:00:00', 8);
INSERT INTO ent_events(at, subject, feature, amount, kind, period, period_start) VALUES ('2026-11-22 10:00:00', 'u', 'images', 8, 'consume', 'month', '2026-11-01 00:00:00');"
refused=$(sqlite3 "$v5" ".load dist/entitlements" "SELECT plan_allows('u', 'images')" 2>&1)
check "a version-5 database is refused, saying how to migrate it" test "$refused" = "Error: stepping, entitlements: this database has entitlements schema version 5, older than version 8 that this extension (0.1.0) uses; run SELECT entitlements_init() once (or entitlements_load(...)) to migrate it in place"
got=$(sqlite3 "$v5" ".load dist/entitlements" "SELECT entitlements_clock('2026-11-22 10:00:00')" \
  "SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": {\"images\": {\"limit\": 10}}}}}')" \
  "SELECT value FROM ent_meta WHERE key = 'schema_version'" \
  "SELECT quota_reserve('u', 'images', 2, 60) IS NOT NULL, quota_remaining('u', 'images')" \
  "SELECT subject, used, held FROM ent_counters" "SELECT kind, amount FROM ent_events ORDER BY id" \
  "SELECT entitlements_check()" "PRAGMA integrity_check" 2>&1)
want="2026-11-22 10:00:00
1
8
1|0
u|8|2
consume|8
hold|2
ok
ok"
check "a version-5 database is migrated in place (holds added, rows kept)" test "$got" = "$want"
[ "$got" = "$want" ] || diff <(echo "$got") <(echo "$want")

# A database made by version 6 (tests/fixtures/schema_v6.sql, as it shipped)
# gains currencies in place: ent_features' decimals and pricing, the ledger's
# currency, charged, rate and dimension, the holds' draws, units, rate and
# dimension; a live hold taken under version 6 still settles.
v6=dist/test-tmp/v6.db
rm -f "$v6"
sqlite3 "$v6" < tests/fixtures/schema_v6.sql
sqlite3 "$v6" "INSERT OR REPLACE INTO ent_meta(key, value) VALUES ('schema_version', 6);
INSERT INTO ent_counters(subject, feature, period, period_start, period_end, used, held) VALUES ('u', 'images', 'month', '2026-11-01 00:00:00', '2026-12-01 00:00:00', 8, 2);
INSERT INTO ent_events(at, subject, feature, amount, kind, period, period_start) VALUES ('2026-11-22 10:00:00', 'u', 'images', 8, 'consume', 'month', '2026-11-01 00:00:00');
INSERT INTO ent_events(at, subject, feature, amount, kind, period, period_start, hold) VALUES ('2026-11-22 10:00:00', 'u', 'images', 2, 'hold', 'month', '2026-11-01 00:00:00', 'hold_0000000000000001');
INSERT INTO ent_holds(id, subject, feature, counter, period, period_start, period_end, amount, created_at, expires_at, expires_ms) VALUES ('hold_0000000000000001', 'u', 'images', 'u', 'month', '2026-11-01 00:00:00', '2026-12-01 00:00:00', 2, '2026-11-22 10:00:00', '2026-11-22 11:00:00', 1795345200000);"
refused=$(sqlite3 "$v6" ".load dist/entitlements" "SELECT plan_allows('u', 'images')" 2>&1)
check "a version-6 database is refused, saying how to migrate it" test "$refused" = "Error: stepping, entitlements: this database has entitlements schema version 6, older than version 8 that this extension (0.1.0) uses; run SELECT entitlements_init() once (or entitlements_load(...)) to migrate it in place"
got=$(sqlite3 "$v6" ".load dist/entitlements" "SELECT entitlements_clock('2026-11-22 10:30:00')" \
  "SELECT entitlements_load('{\"currencies\": {\"credits\": {}}, \"features\": {\"chat\": {\"type\": \"metered\", \"currency\": \"credits\", \"rate\": \"2\"}}, \"plans\": {\"free\": {\"default\": true, \"features\": {\"images\": {\"limit\": 10}, \"credits\": {\"limit\": 100}}}}}')" \
  "SELECT value FROM ent_meta WHERE key = 'schema_version'" \
  "SELECT quota_settle('hold_0000000000000001', 1), consume_quota('u', 'chat', 3)" \
  "SELECT subject, feature, used, held FROM ent_counters ORDER BY feature" \
  "SELECT kind, feature, amount, coalesce(charged, '-') FROM ent_events ORDER BY id" \
  "SELECT entitlements_check()" "PRAGMA integrity_check" 2>&1)
want="2026-11-22 10:30:00
1
8
1|94
u|chat|3|0
u|credits|6|0
u|images|9|0
consume|images|8|-
hold|images|2|-
release|images|2|-
consume|images|1|-
consume|chat|3|6
consume|credits|6|-
ok
ok"
check "a version-6 database is migrated in place (currencies added, a live hold settles, rows kept)" test "$got" = "$want"
[ "$got" = "$want" ] || diff <(echo "$got") <(echo "$want")

# A database made by version 7 (tests/fixtures/schema_v7.sql, as it shipped):
# ent_grants is rebuilt so that its category takes 'rollover', with its rows
# (ids kept, a voided one too) and the app's own index and trigger on it.
v7=dist/test-tmp/v7.db
rm -f "$v7"
sqlite3 "$v7" < tests/fixtures/schema_v7.sql
sqlite3 "$v7" "INSERT OR REPLACE INTO ent_meta(key, value) VALUES ('schema_version', 7);
INSERT INTO ent_counters(subject, feature, period, period_start, period_end, used) VALUES ('u', 'api', 'month', '2026-10-01 00:00:00', '2026-11-01 00:00:00', 4);
INSERT INTO ent_events(at, subject, feature, amount, kind, period, period_start) VALUES ('2026-10-05 10:00:00', 'u', 'api', 4, 'consume', 'month', '2026-10-01 00:00:00');
INSERT INTO ent_grants(id, subject, feature, amount, remaining, starts_at, created_at, category) VALUES (7, 'u', 'api', 5, 5, '2026-10-05 10:00:00', '2026-10-05 10:00:00', 'promotional');
INSERT INTO ent_grants(id, subject, feature, amount, remaining, starts_at, created_at, voided_at) VALUES (9, 'u', 'api', 3, 3, '2026-10-05 10:00:00', '2026-10-05 10:00:00', '2026-10-06 00:00:00');
CREATE INDEX app_grants_by_category ON ent_grants(category);
CREATE TABLE app_log(n INTEGER);
CREATE TRIGGER app_grant_made AFTER INSERT ON ent_grants BEGIN INSERT INTO app_log VALUES (NEW.id); END;"
refused=$(sqlite3 "$v7" ".load dist/entitlements" "SELECT plan_allows('u', 'api')" 2>&1)
check "a version-7 database is refused, saying how to migrate it" test "$refused" = "Error: stepping, entitlements: this database has entitlements schema version 7, older than version 8 that this extension (0.1.0) uses; run SELECT entitlements_init() once (or entitlements_load(...)) to migrate it in place"
got=$(sqlite3 "$v7" ".load dist/entitlements" "SELECT entitlements_clock('2026-11-03 10:00:00')" \
  "SELECT entitlements_load('{\"features\": {\"api\": {\"type\": \"metered\", \"rollover\": {\"max\": 2}}}, \"plans\": {\"free\": {\"default\": true, \"features\": {\"api\": {\"limit\": 10}}}}}')" \
  "SELECT value FROM ent_meta WHERE key = 'schema_version'" \
  "SELECT consume_quota('u', 'api', 1)" \
  "SELECT id, amount, remaining, category, coalesce(voided_at, '-') FROM ent_grants ORDER BY id" \
  "SELECT n FROM app_log" \
  "SELECT name FROM sqlite_master WHERE tbl_name = 'ent_grants' AND type IN ('index', 'trigger') ORDER BY name" \
  "SELECT entitlements_check()" "PRAGMA integrity_check" 2>&1)
want="2026-11-03 10:00:00
1
8
16
7|5|5|promotional|-
9|3|3|paid|2026-10-06 00:00:00
10|2|1|rollover|-
10
app_grant_made
app_grants_by_category
ent_grants_gen_d
ent_grants_gen_i
ent_grants_gen_u
ent_grants_rollover
ent_grants_subject
ok
ok"
check "a version-7 database is migrated in place (ent_grants rebuilt for rollover: rows, ids, the app's index and trigger kept)" test "$got" = "$want"
[ "$got" = "$want" ] || diff <(echo "$got") <(echo "$want")

# Holds across processes, as an app runs them: one process reserves before a
# long job; another sees the units held; a retry with the job's key from a
# third (Python) gets the same hold and settles it.
hp=dist/test-tmp/holds.db
rm -f "$hp" "$hp-wal" "$hp-shm"
sqlite3 "$hp" ".load dist/entitlements" "PRAGMA journal_mode = wal" \
  "SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": {\"renders\": {\"limit\": 10}}}}}')" >/dev/null
hold=$(sqlite3 "$hp" ".load dist/entitlements" "SELECT quota_reserve('acme', 'renders', 6, 600, 'job:7')")
got=$(sqlite3 "$hp" ".load dist/entitlements" "SELECT quota_remaining('acme', 'renders'), try_consume_quota('acme', 'renders', 5)" "SELECT held FROM usage_summary WHERE subject = 'acme'"
  /usr/bin/python3 - "$hp" "$hold" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.enable_load_extension(True)
db.load_extension("./dist/entitlements")
again = db.execute("SELECT quota_reserve('acme', 'renders', 6, 600, 'job:7')").fetchone()[0]
print(again == sys.argv[2], db.execute("SELECT quota_settle(?, 4)", (again,)).fetchone()[0])
print(db.execute("SELECT used, held, remaining FROM usage_summary WHERE subject = 'acme'").fetchone())
print(db.execute("SELECT entitlements_check()").fetchone()[0])
PY
)
want="4|0
6
True 6
(4, 0, 6)
ok"
check "a hold taken in one process counts in another, and a third settles it by its key" test "$got" = "$want"
[ "$got" = "$want" ] || diff <(echo "$got") <(echo "$want")

if command -v clang-format >/dev/null 2>&1; then
  unformatted=""
  for f in ext/*.c ext/*.h tests/*.c tests/c/*.[ch] tests/bench/*.c tests/fuzz/*.[ch] examples/embed/*.c; do
    clang-format "$f" | cmp -s - "$f" || unformatted="$unformatted $f"
  done
  check "C sources are clang-formatted (make format):$unformatted" test -z "$unformatted"
fi
echo "shell: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
