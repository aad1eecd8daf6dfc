#!/usr/bin/python3
"""The example plan sets in sql/plans/, loaded from their files and used end to
end with exact numbers. Prints "plansets: N passed, N failed"."""
import os
import sqlite3
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
passed = failed = 0


def check(got, want, what):
    global passed, failed
    if got == want:
        passed += 1
    else:
        failed += 1
        print(f"FAIL plansets: {what}\n  want {want!r}\n  got  {got!r}")


def db_with(plan_file):
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension("./dist/entitlements")
    db.execute("SELECT entitlements_clock('2026-11-22 10:00:00')")
    with open(plan_file) as f:
        db.execute("SELECT entitlements_load(?)", (f.read(),))
    return db


def one(db, sql, *args):
    return db.execute(sql, args).fetchone()


def error(db, sql, *args):
    try:
        db.execute(sql, args)
        return None
    except sqlite3.Error as e:
        return str(e)


# ---- SaaS ladder: free < starter < pro < enterprise, by inheritance
db = db_with("sql/plans/saas.json")
check(one(db, "SELECT count(*) FROM ent_plans")[0], 4, "saas: four plans")
check(one(db, "SELECT plan_value('anon', 'max_upload_mb'), plan_allows('anon', 'export_formats', 'pdf')"),
      (10, 0), "saas: anonymous users are on free")
db.execute("SELECT subject_start_trial('acme', 'starter')")
check(one(db, "SELECT plan_value('acme', 'max_upload_mb'), plan_allows('acme', 'export_formats', 'pdf'), "
              "plan_allows('acme', 'sso')"), (100, 1, 0), "saas: starter inherits free and overrides")
check(one(db, "SELECT consume_quota('acme', 'projects', 20)")[0], 0, "saas: 20 lifetime projects")
check(error(db, "SELECT consume_quota('acme', 'projects')"),
      "entitlements: quota exceeded: 'projects' for subject 'acme' on plan 'starter': 20 of 20 used in "
      "total, 1 requested; upgrade to 'pro'", "saas: the 21st project suggests pro")
db.execute("SELECT entitlements_clock('2026-12-06 10:00:00')")
check(one(db, "SELECT plan_value('acme', 'max_upload_mb'), quota_remaining('acme', 'projects')"), (10, 0),
      "saas: after the 14-day trial, back on free (projects stay used)")
db.execute("SELECT subject_set_plan('acme', 'pro')")
check(one(db, "SELECT quota_remaining('acme', 'projects'), plan_allows('acme', 'sso'), "
              "plan_allows('acme', 'export_formats', 'svg')"), (None, 1, 1), "saas: pro is unlimited projects")
check(one(db, "SELECT consume_quota('acme', 'images', 5200)")[0], 0, "saas: pro images are soft")
check(one(db, "SELECT overage, cost, status FROM usage_summary WHERE subject = 'acme' AND feature = 'images'"),
      (200, 2.0, "over"), "saas: 200 images over at 0.01")
check(one(db, "SELECT plan_upgrade_for('acme', 'audit_log')")[0], "enterprise", "saas: audit_log is enterprise")
check(one(db, "SELECT rank, quota FROM plan_matrix WHERE plan = 'enterprise' AND feature = 'api_calls'"),
      (3, 600), "saas: enterprise inherits pro's rate limit")
check(db.execute("SELECT feature, threshold FROM ent_alerts WHERE subject = 'acme' ORDER BY id").fetchall(),
      [("projects", 80), ("projects", 100), ("images", 80), ("images", 100)],
      "saas: the default alerts (80, 100) of the projects and images acme used up")
check(one(db, "SELECT consume_quota('free-user', 'images', 16)")[0], 4, "saas: 16 of free's 20 images")
check(db.execute("SELECT threshold FROM ent_alerts WHERE subject = 'free-user'").fetchall(), [(80,)],
      "saas: free's images alert at 80%")
check(one(db, "SELECT entitlements_check()")[0], "ok", "saas: check")
db.close()

# ---- trial < solo < teams: soft limits with caps, per-seat, a pool, admin bypass
db = db_with("sql/plans/solo_teams.json")
check(one(db, "SELECT consume_quota('t1', 'ai_prompts', 50)")[0], 0, "solo_teams: trial 50 prompts a day")
check(one(db, "SELECT try_consume_quota('t1', 'ai_prompts')")[0], 0, "solo_teams: the 51st is denied")
db.execute("SELECT subject_set_plan('s1', 'solo')")
check(one(db, "SELECT consume_quota('s1', 'ai_prompts', 700), try_consume_quota('s1', 'ai_prompts', 51)"),
      (0, 0), "solo_teams: solo is soft up to the cap of 750")
check(one(db, "SELECT overage, status FROM usage_summary WHERE subject = 's1' AND feature = 'ai_prompts'"),
      (200, "over"), "solo_teams: 200 over")
db.execute("INSERT INTO ent_subjects(subject, plan, seats) VALUES ('team1', 'teams', 3)")
db.execute("INSERT INTO ent_subjects(subject, parent) VALUES ('alice', 'team1'), ('bob', 'team1')")
check(one(db, "SELECT quota_remaining('alice', 'ai_prompts')")[0], 6000, "solo_teams: 2000 per seat x 3")
check(one(db, "SELECT consume_quota('alice', 'workspaces', 3), consume_quota('bob', 'workspaces', 2)"), (2, 0),
      "solo_teams: workspaces are pooled on the team")
check(error(db, "SELECT consume_quota('bob', 'workspaces')"),
      "entitlements: quota exceeded: 'workspaces' for subject 'bob' on plan 'teams': 5 of 5 used in total, "
      "1 requested", "solo_teams: the pool is shared")
db.execute("INSERT INTO ent_subjects(subject, plan, bypass) VALUES ('admin', 'trial', 1)")
check(one(db, "SELECT try_consume_quota('admin', 'ai_prompts', 1000), plan_allows('admin', 'share_links')"),
      (1, 1), "solo_teams: admin bypass")
check(one(db, "SELECT threshold FROM ent_alerts WHERE subject = 't1' ORDER BY threshold"), (75,),
      "solo_teams: settings.alerts apply")
check(one(db, "SELECT entitlements_check()")[0], "ok", "solo_teams: check")
db.close()

# ---- pay-as-you-go < pro < team (per seat): tokens metered exactly, rate limits
db = db_with("sql/plans/usage_based.json")
check(one(db, "SELECT record_usage('dev', 'tokens', 1234567)")[0], 0, "usage: payg records tokens")
check(one(db, "SELECT cost FROM usage_summary WHERE subject = 'dev' AND feature = 'tokens'"), (3.703701,),
      "usage: 1,234,567 tokens at 0.000003")
check(one(db, "SELECT count(*) FROM ent_events WHERE subject = 'dev'")[0], 0, "usage: payg tokens keep no ledger")
db.execute("SELECT subject_set_plan('co', 'team')")
db.execute("UPDATE ent_subjects SET seats = 4 WHERE subject = 'co'")
check(one(db, "SELECT record_usage('co', 'tokens', 9000000)")[0], 0, "usage: team records past 8,000,000")
check(one(db, "SELECT quota, overage, cost FROM usage_summary WHERE subject = 'co' AND feature = 'tokens'"),
      (8000000, 1000000, 1.0), "usage: per-seat quota and overage cost")
check(one(db, "SELECT consume_quota('co', 'requests', 50), try_consume_quota('co', 'requests')"), (0, 0),
      "usage: a burst of 50 requests")
check(one(db, "SELECT json_extract(entitlement('co', 'requests'), '$.retry_after')")[0], 0.2,
      "usage: 300 a minute: the next in 0.2 s")
check(one(db, "SELECT plan_value('dev', 'seats_admin'), plan_upgrade_for('dev', 'seats_admin')"),
      (0, "team"), "usage: seats_admin is team only")
check(one(db, "SELECT entitlements_check()")[0], "ok", "usage: check")
db.close()

print(f"plansets: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
