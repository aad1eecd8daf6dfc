"""The installed Python package (make wheel; pip install the wheel): load the
extension with sqlite_entitlements.load() and gate work in one transaction.

    python examples/python/package.py          (any Python 3 with the wheel)
"""
import sqlite3
import tempfile

import sqlite_entitlements

db = sqlite3.connect(tempfile.mktemp(suffix=".db"), isolation_level=None)
sqlite_entitlements.load(db)
print("version:", db.execute("SELECT entitlements_version()").fetchone()[0],
      "(package", sqlite_entitlements.__version__ + ")")
db.execute("SELECT entitlements_clock('2026-11-22 10:00:00')")
db.execute("""SELECT entitlements_load('{"plans": {"free": {"default": true,
              "features": {"exports": {"limit": 2}}}}}')""")

def export(user, job):
    db.execute("BEGIN IMMEDIATE")
    try:
        left = db.execute("SELECT consume_quota(?, 'exports', 1, ?)", (user, job)).fetchone()[0]
        db.execute("COMMIT")  # ... with the export's own rows, in this transaction
        return f"ok, {left} left"
    except sqlite3.IntegrityError as denial:
        db.execute("ROLLBACK")
        return f"denied: {denial}"

for job in ("a", "b", "b", "c"):
    print(f"export {job}:", export("u1", job))
try:
    db.execute("SELECT load_extension('/tmp/anything')")
except sqlite3.OperationalError as e:
    print("loading after load():", e)
