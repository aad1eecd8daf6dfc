#!/usr/bin/python3
"""A small quota-gated web app on sqlite-entitlements, Python standard library only.

    /usr/bin/python3 examples/webapp/app.py [--db FILE] [--port 8000]

then open http://127.0.0.1:8000/. Each "Generate image" click is POST /api/images:
the quota check and the work it gates commit in one SQLite transaction; over the
limit the endpoint answers HTTP 429 with the extension's denial message, the plan
to upgrade to (plan_upgrade_for) and Retry-After (seconds until the period resets).
The usage panel draws one progress bar per metered feature from usage_summary.

Every request opens its own connection (SQLite connections are cheap; WAL lets
readers run beside the one writer). ENT_CLOCK pins the extension's clock, for tests.
"""
import argparse
import html
import json
import os
import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

EXT = str(Path(__file__).resolve().parent.parent.parent / "dist" / "entitlements")
PLANS = {
    "plans": {
        "free": {"rank": 0, "default": True, "features": {
            "images": {"limit": 3, "period": "month"},
            "storage_mb": {"limit": 50, "period": "lifetime"},
            "hd_export": False}},
        "pro": {"rank": 1, "inherits": "free", "features": {
            "images": {"limit": 100, "period": "month"},
            "storage_mb": {"limit": 5000, "period": "lifetime"},
            "hd_export": True}},
    }
}


def connect(path):
    db = sqlite3.connect(path, isolation_level=None, timeout=5)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.enable_load_extension(False)
    if os.environ.get("ENT_CLOCK"):
        db.execute("SELECT entitlements_clock(?)", (os.environ["ENT_CLOCK"],))
    return db


def setup(path):
    db = connect(path)
    db.execute("PRAGMA journal_mode = wal")
    db.execute("CREATE TABLE IF NOT EXISTS images(id INTEGER PRIMARY KEY, owner TEXT, prompt TEXT)")
    db.execute("SELECT entitlements_load(?)", (json.dumps(PLANS),))
    db.close()


def generate_image(db, user, prompt):
    """(status, body, headers): 200 with what is left, or 429 with why not."""
    db.execute("BEGIN IMMEDIATE")
    try:
        left = db.execute("SELECT consume_quota(?, 'images')", (user,)).fetchone()[0]
        db.execute("INSERT INTO images(owner, prompt) VALUES (?, ?)", (user, prompt))
        db.execute("COMMIT")
        return 200, {"ok": True, "left": left}, {}
    except sqlite3.IntegrityError as denial:  # SQLITE_CONSTRAINT_FUNCTION: the plan says no
        db.execute("ROLLBACK")
        upgrade, retry = db.execute(
            "SELECT plan_upgrade_for(?1, 'images'),"
            " json_extract(entitlement(?1, 'images'), '$.period_end')", (user,)).fetchone()
        seconds = db.execute("SELECT max(0, strftime('%s', ?) - strftime('%s', entitlements_clock()))",
                             (retry,)).fetchone()[0] if retry else None
        body = {"ok": False, "error": str(denial), "upgrade": upgrade, "resets_at": retry}
        return 429, body, ({"Retry-After": str(seconds)} if seconds is not None else {})


def usage(db, user):
    cols = ("feature", "plan", "used", "quota", "remaining", "percent", "status", "period_end")
    rows = db.execute(f"SELECT {', '.join(cols)} FROM usage_summary WHERE subject = ? ORDER BY feature",
                      (user,)).fetchall()
    return [dict(zip(cols, r)) for r in rows]


def usage_html(rows):
    out = []
    for r in rows:
        pct = min(100.0, r["percent"] or 0.0) if r["quota"] is not None else 0.0
        label = f"{r['used']} of {r['quota']}" if r["quota"] is not None else f"{r['used']} (unlimited)"
        out.append(
            f'<div class="feature" data-feature="{html.escape(r["feature"])}" data-status="{r["status"]}">'
            f'<span class="name">{html.escape(r["feature"])}</span>'
            f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
            f'aria-valuenow="{pct:.0f}"><div class="fill" style="width: {pct:.1f}%"></div></div>'
            f'<span class="label">{label}</span></div>')
    return "\n".join(out)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Picture Studio</title>
<style>
 body {{ font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; color: #222; }}
 .feature {{ display: grid; grid-template-columns: 8rem 1fr 9rem; gap: .75rem; align-items: center; margin: .5rem 0; }}
 .bar {{ height: .9rem; background: #e5e7eb; border-radius: .45rem; overflow: hidden; }}
 .fill {{ height: 100%; background: #2563eb; }}
 .feature[data-status="exhausted"] .fill {{ background: #dc2626; }}
 #result {{ min-height: 3rem; margin: 1rem 0; }}
 .denied {{ color: #991b1b; }}
 button {{ font: inherit; padding: .4rem .9rem; }}
</style></head>
<body>
<h1>Picture Studio</h1>
<p>Signed in as <b>{user}</b> on the <b id="plan">{plan}</b> plan.</p>
<button id="generate">Generate image</button>
<div id="result" role="status"></div>
<h2>Usage</h2>
<section id="usage">{usage}</section>
<script>
const user = {user_js};
async function refresh() {{
  document.getElementById('usage').innerHTML = await (await fetch('/usage?user=' + encodeURIComponent(user))).text();
}}
document.getElementById('generate').onclick = async () => {{
  const res = await fetch('/api/images?user=' + encodeURIComponent(user), {{method: 'POST', body: 'a cat'}});
  const body = await res.json();
  const out = document.getElementById('result');
  if (res.ok) {{
    out.className = 'ok';
    out.textContent = 'Image generated. ' + body.left + ' left this month.';
  }} else {{
    out.className = 'denied';
    out.textContent = res.status + ': ' + body.error;
    if (body.upgrade) {{
      const b = document.createElement('button');
      b.id = 'upgrade';
      b.textContent = 'Upgrade to ' + body.upgrade;
      b.onclick = async () => {{
        await fetch('/api/plan?user=' + encodeURIComponent(user), {{method: 'POST', body: body.upgrade}});
        document.getElementById('plan').textContent = body.upgrade;
        out.textContent = 'Now on ' + body.upgrade + '.';
        await refresh();
      }};
      out.append(' ', b);
    }}
  }}
  await refresh();
}};
</script>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    db_path = None

    def send(self, status, body, ctype="application/json", headers=None):
        data = (json.dumps(body) if ctype == "application/json" else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype + "; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def user(self):
        return parse_qs(urlparse(self.path).query).get("user", ["demo"])[0]

    def route(self, method):
        path = self.path.split("?")[0]
        db = connect(self.db_path)
        try:
            user = self.user()
            if method == "GET" and path == "/":
                plan = db.execute("SELECT json_extract(entitlement(?, 'images'), '$.plan')", (user,)).fetchone()[0]
                page = PAGE.format(user=html.escape(user), plan=html.escape(plan or ""),
                                   usage=usage_html(usage(db, user)), user_js=json.dumps(user))
                return self.send(200, page, "text/html")
            if method == "GET" and path == "/usage":
                return self.send(200, usage_html(usage(db, user)), "text/html")
            if method == "GET" and path == "/api/usage":
                return self.send(200, usage(db, user))
            if method == "POST" and path == "/api/images":
                n = int(self.headers.get("Content-Length") or 0)
                status, body, headers = generate_image(db, user, self.rfile.read(n).decode())
                return self.send(status, body, headers=headers)
            if method == "POST" and path == "/api/plan":
                n = int(self.headers.get("Content-Length") or 0)
                plan = db.execute("SELECT subject_set_plan(?, ?)",
                                  (user, self.rfile.read(n).decode())).fetchone()[0]
                return self.send(200, {"ok": True, "plan": plan})
            return self.send(404, {"ok": False, "error": "no such page"})
        except sqlite3.Error as e:
            return self.send(400, {"ok": False, "error": str(e)})
        finally:
            db.close()

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="picture-studio.db")
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args()
    setup(args.db)
    Handler.db_path = args.db
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
