#!/usr/bin/python3
"""Python (Debian's /usr/bin/python3, standard sqlite3 module): the quickstart
runs and prints exactly what the README shows; denials are IntegrityError with
SQLITE_CONSTRAINT_FUNCTION, misuse is OperationalError with SQLITE_ERROR; a
second process sees committed usage. Prints "python: N passed, N failed"."""
import os
import sqlite3
import subprocess
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL python: {what}\n{detail}")


DB = "dist/test-tmp/python.db"
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(DB + suffix):
        os.remove(DB + suffix)

out = subprocess.run([sys.executable, "examples/quickstart.py", DB], capture_output=True, text=True)
want = """job 1 -> images left: 2
job 2 -> images left: 1
job 3 -> images left: 0
retry of job 3 counts nothing -> images left: 0
denied: entitlements: quota exceeded: 'images' for subject 'alice' on plan 'free': 3 of 3 used this month, 1 requested; resets {reset}; upgrade to 'pro'
git_export allowed: 0
usage: ('images', 'pro', 3, 97, 'ok')
"""
import datetime
now = datetime.datetime.now(datetime.timezone.utc)
reset = (datetime.datetime(now.year + (now.month == 12), now.month % 12 + 1, 1)).strftime("%Y-%m-%d %H:%M:%S")
want = want.replace("{reset}", reset)
check(out.returncode == 0 and out.stdout == want, "examples/quickstart.py prints the README's output",
      f"--- want\n{want}--- got (exit {out.returncode})\n{out.stdout}{out.stderr}")

# a second process sees what the first committed, from the same file
db = sqlite3.connect(DB, isolation_level=None)
db.enable_load_extension(True)
db.load_extension("./dist/entitlements")
row = db.execute("SELECT used, remaining FROM usage_summary WHERE subject = 'alice'").fetchone()
check(row == (3, 97), "another process reads the committed usage", repr(row))
check(db.execute("SELECT entitlements_check()").fetchone()[0] == "ok", "counters equal the ledger")

db.execute("SELECT entitlements_clock('2026-11-22 10:00:00')")
db.execute("SELECT consume_quota('bob', 'images', 3)")
try:
    db.execute("SELECT consume_quota('bob', 'images')")
    check(False, "a denial raises")
except sqlite3.IntegrityError as e:
    check(str(e) == "entitlements: quota exceeded: 'images' for subject 'bob' on plan 'free': "
          "3 of 3 used this month, 1 requested; resets 2026-12-01 00:00:00; upgrade to 'pro'",
          "the denial message", str(e))
    check(getattr(e, "sqlite_errorcode", 1043) == 1043, "the denial is SQLITE_CONSTRAINT_FUNCTION (1043)",
          str(getattr(e, "sqlite_errorcode", None)))
try:
    db.execute("SELECT consume_quota('bob', 'images', -1)")
    check(False, "a negative amount raises")
except sqlite3.OperationalError as e:
    check(str(e).startswith("entitlements: consume_quota: amount must be >= 0, got -1"), "misuse message", str(e))
    check(getattr(e, "sqlite_errorcode", 1) == 1, "misuse is SQLITE_ERROR", str(getattr(e, "sqlite_errorcode", None)))
check(db.execute("SELECT count(*) FROM ent_events WHERE subject = 'bob'").fetchone()[0] == 1,
      "the refused calls recorded nothing")

# bound parameters of every Python type that maps to an amount
check(db.execute("SELECT try_consume_quota('carol', 'images', ?)", (2,)).fetchone()[0] == 1, "int amount")
check(db.execute("SELECT try_consume_quota('carol', 'images', ?)", (1.0,)).fetchone()[0] == 1, "whole float amount")
db.close()

# Two copies of the library in one process (an app and a plugin each
# shipping one): closing the connection that loaded one copy unloads it, and
# the other copy's JSON work must go on (the loadable build installs no
# process-wide cJSON hooks that would point into the unloaded copy).
script = r"""
import shutil, sqlite3, sys
shutil.copy("dist/entitlements.so", sys.argv[1] + "/entitlements.so")
a = sqlite3.connect(":memory:"); a.enable_load_extension(True); a.load_extension(sys.argv[1] + "/entitlements")
b = sqlite3.connect(":memory:"); b.enable_load_extension(True); b.load_extension("dist/entitlements")
for db in (a, b):
    db.execute("SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": {\"n\": {\"x\": 1}}}}}')")
b.close()
print(a.execute("SELECT plan_value('u', 'n'), entitlements_config() IS NOT NULL").fetchone())
a.execute("SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true}}}', 'replace')")
a.close()
print("closed")
"""
copy_dir = "dist/test-tmp/copy"
os.makedirs(copy_dir, exist_ok=True)
out = subprocess.run([sys.executable, "-c", script, copy_dir], capture_output=True, text=True)
check(out.returncode == 0 and out.stdout == "('{\"x\":1}', 1)\nclosed\n",
      "a second copy of the library keeps working after the first is unloaded",
      f"rc {out.returncode}: {out.stdout}{out.stderr}")
# In autocommit a call takes only main's write lock: with another database
# attached (and write-locked by another connection) it still succeeds, where
# BEGIN IMMEDIATE (which the call uses when nothing is attached) would wait.
for f in ("dist/test-tmp/lock-main.db", "dist/test-tmp/lock-aux.db"):
    if os.path.exists(f):
        os.remove(f)
m = sqlite3.connect("dist/test-tmp/lock-main.db", isolation_level=None, timeout=0)
m.enable_load_extension(True)
m.load_extension("dist/entitlements")
m.execute("SELECT entitlements_load('{\"plans\": {\"free\": {\"default\": true, \"features\": {\"images\": {\"limit\": 100}}}}}')")
h = sqlite3.connect("dist/test-tmp/lock-main.db", isolation_level=None, timeout=0)
h.execute("ATTACH 'dist/test-tmp/lock-aux.db' AS aux")
h.execute("CREATE TABLE IF NOT EXISTS aux.t(x)")
h.execute("BEGIN")
h.execute("INSERT INTO aux.t VALUES (1)")
m.execute("ATTACH 'dist/test-tmp/lock-aux.db' AS aux")
try:
    got = m.execute("SELECT consume_quota('a', 'images', 1)").fetchone()[0]
except sqlite3.Error as e:
    got = str(e)
check(got == 99, "a call with a write-locked database attached takes only main's lock", repr(got))
m.execute("DETACH aux")
check(m.execute("SELECT consume_quota('a', 'images', 1)").fetchone()[0] == 98,
      "and with nothing attached (BEGIN IMMEDIATE) it commits")
h.execute("ROLLBACK")
check(sqlite3.connect("dist/test-tmp/lock-main.db").execute(
    "SELECT used FROM ent_counters WHERE subject = 'a'").fetchone()[0] == 2,
    "both calls are committed")
h.close()
m.close()
print(f"python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
