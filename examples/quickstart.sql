-- sqlite-entitlements quickstart: run from the repository root with
--   sqlite3 :memory: < examples/quickstart.sql      (or: make demo)
.load ./dist/entitlements
.mode box --wrap 150
SELECT entitlements_clock('2026-11-22 10:00:00') AS pinned_clock;   -- tests pin time; apps don't
SELECT entitlements_load('{"plans": {
  "free": {"rank": 0, "default": true,
           "features": {"images": {"limit": 3, "period": "month"}, "git_export": false, "max_file_mb": 10}},
  "pro":  {"rank": 1, "inherits": "free",
           "features": {"images": {"limit": 100, "period": "month"}, "git_export": true}}}}') AS plans_loaded;
SELECT plan_allows('alice', 'git_export') AS git_export, plan_allows('alice', 'max_file_mb', 25) AS upload_25mb;
SELECT consume_quota('alice', 'images', 3) AS images_left;
SELECT try_consume_quota('alice', 'images') AS granted;      -- 0: denied, nothing recorded
SELECT json_extract(entitlement('alice', 'images'), '$.reason') AS why_not;
SELECT subject_set_plan('alice', 'pro') AS new_plan;
SELECT feature, plan, used, quota, remaining, status FROM usage_summary WHERE subject = 'alice';
