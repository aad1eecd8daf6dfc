//! sqlite-entitlements from Rust with rusqlite (Debian's librust-rusqlite-dev,
//! offline, linked with the system SQLite):
//!
//!     make && cd examples/rust && cargo run -q [DB]
//!
//! The same gated work as the Node examples: an export is counted and saved
//! in one transaction; a denial (extended code 1043,
//! SQLITE_CONSTRAINT_FUNCTION) rolls it back with nothing recorded.
use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};
use std::path::Path;

fn export_report(db: &mut Connection, owner: &str, name: &str) -> rusqlite::Result<i64> {
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let key = format!("export:{owner}:{name}");
    let left: i64 = tx.query_row(
        "SELECT consume_quota(?1, 'exports', 1, ?2)",
        params![owner, key],
        |r| r.get(0),
    )?;
    tx.execute("INSERT INTO exports(owner, name) VALUES (?1, ?2)", params![owner, name])?;
    tx.commit()?; // dropped without commit (a denial): rolled back
    Ok(left)
}

fn main() -> rusqlite::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ext = root.join("dist/entitlements"); // SQLite adds .so
    let arg = std::env::args().nth(1);
    let file = arg
        .clone()
        .unwrap_or_else(|| format!("{}/ent-rust-{}.db", std::env::temp_dir().display(), std::process::id()));
    let mut db = Connection::open(&file)?;
    unsafe {
        db.load_extension_enable()?;
        db.load_extension(&ext, None)?;
        db.load_extension_disable()?;
    }
    db.pragma_update(None, "journal_mode", "wal")?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: String = db.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
    println!("SQLite {version}");
    if let Ok(clock) = std::env::var("ENT_CLOCK") {
        db.query_row("SELECT entitlements_clock(?1)", [clock], |_| Ok(()))?;
    }
    let plans = serde_json::json!({"plans": {
        "free": {"default": true, "features": {"exports": {"limit": 2, "period": "month"}, "sso": false}},
        "team": {"rank": 1, "inherits": "free", "features": {"exports": {"limit": 50, "period": "month"}, "sso": true}}
    }});
    db.query_row("SELECT entitlements_load(?1)", [plans.to_string()], |_| Ok(()))?;
    db.execute("CREATE TABLE IF NOT EXISTS exports(id INTEGER PRIMARY KEY, owner TEXT, name TEXT)", [])?;

    for name in ["q1.csv", "q2.csv", "q3.csv"] {
        match export_report(&mut db, "acme", name) {
            Ok(left) => println!("export {name}: ok, {left} left"),
            Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                if e.code == ErrorCode::ConstraintViolation && e.extended_code == 1043 =>
            {
                // a denial, not a bug
                println!("export {name}: denied ({})\n  {msg}", e.extended_code)
            }
            Err(e) => return Err(e),
        }
    }
    let n: i64 = db.query_row("SELECT count(*) FROM exports", [], |r| r.get(0))?;
    println!("exports saved: {n}");
    let sso: i64 = db.query_row("SELECT plan_allows('acme', 'sso')", [], |r| r.get(0))?;
    println!("sso allowed: {sso}");
    db.query_row("SELECT subject_set_plan('acme', 'team')", [], |_| Ok(()))?;
    let mut st = db.prepare("SELECT feature, plan, used, remaining FROM usage_summary WHERE subject = 'acme'")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (f, p, u, rem): (String, String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        println!("usage: {{\"feature\":\"{f}\",\"plan\":\"{p}\",\"used\":{u},\"remaining\":{rem}}}");
    }
    drop(rows);
    drop(st);
    db.close().map_err(|(_, e)| e)?;
    if arg.is_none() {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{file}{s}"));
        }
    }
    Ok(())
}
