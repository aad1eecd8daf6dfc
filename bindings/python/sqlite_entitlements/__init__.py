"""sqlite-entitlements: plans, entitlements and usage metering inside SQLite.

    import sqlite3, sqlite_entitlements
    db = sqlite3.connect("app.db")
    sqlite_entitlements.load(db)
    db.execute("SELECT consume_quota('alice', 'images')")

load() works with any connection that has enable_load_extension() and
load_extension(): the standard sqlite3 module (of a Python built with
loadable extensions, such as Debian's /usr/bin/python3) and apsw.
"""
import os

__version__ = "@VERSION@"
SQLITE_MINIMUM = "@SQLITE_MINIMUM@"  # the oldest SQLite the extension loads into


def loadable_path():
    """The compiled extension inside this package, without its file suffix
    (SQLite adds .so, .dylib or .dll itself)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "entitlements")


def load(conn):
    """Load the extension into conn: loading is enabled for this one call and
    disabled again, so SQL run later cannot load other libraries. conn is a
    sqlite3.Connection, or an apsw.Connection (whose methods are spelled
    enableloadextension and loadextension before apsw 3.41)."""
    if hasattr(conn, "enable_load_extension"):
        enable, load_ext = conn.enable_load_extension, conn.load_extension
    else:
        enable, load_ext = conn.enableloadextension, conn.loadextension
    enable(True)
    try:
        load_ext(loadable_path())
    finally:
        enable(False)
