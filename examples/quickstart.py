#!/usr/bin/python3
"""sqlite-entitlements from Python's standard sqlite3 module.

Run from the repository root after `make`:  /usr/bin/python3 examples/quickstart.py [DB]
(Debian's Python can load extensions; a Python built without
--enable-loadable-sqlite-extensions cannot.)
"""
import sqlite3
import sys
import tempfile

path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mktemp(suffix=".db")
db = sqlite3.connect(path, isolation_level=None)  # we manage transactions ourselves
db.enable_load_extension(True)
db.load_extension("./dist/entitlements")
db.enable_load_extension(False)
db.execute("PRAGMA journal_mode = wal")
db.execute("PRAGMA busy_timeout = 5000")

db.execute("""SELECT entitlements_load('{"plans": {
  "free": {"default": true, "features": {"images": {"limit": 3}, "git_export": false}},
  "pro":  {"rank": 1, "inherits": "free", "features": {"images": {"limit": 100}, "git_export": true}}}}')""")

def generate_image(user, job_id):
    """Gate the work and count it in one transaction: no race, no double count."""
    db.execute("BEGIN IMMEDIATE")
    try:
        left = db.execute("SELECT consume_quota(?, 'images', 1, ?)", (user, f"job:{job_id}")).fetchone()[0]
        # ... do the work and write its rows here, in the same transaction ...
        db.execute("COMMIT")
        return left
    except sqlite3.IntegrityError as denial:  # SQLITE_CONSTRAINT_FUNCTION: over quota
        db.execute("ROLLBACK")
        raise

for job in range(1, 4):
    print("job", job, "-> images left:", generate_image("alice", job))
print("retry of job 3 counts nothing -> images left:", generate_image("alice", 3))
try:
    generate_image("alice", 4)
except sqlite3.IntegrityError as e:
    print("denied:", e)
print("git_export allowed:", db.execute("SELECT plan_allows('alice', 'git_export')").fetchone()[0])
db.execute("SELECT subject_set_plan('alice', 'pro')")
for row in db.execute("SELECT feature, plan, used, remaining, status FROM usage_summary WHERE subject = 'alice'"):
    print("usage:", row)
db.close()
