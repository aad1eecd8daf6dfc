#!/usr/bin/tclsh
# sqlite-entitlements from Tcl (Debian: apt-get install libsqlite3-tcl).
#
#   tclsh examples/tcl/quickstart.tcl [DB]      (after make, from the repo root)
#
# Tcl is SQLite's own first language: the sqlite3 package is the binding
# SQLite's test suite is written in. A denial is a Tcl error whose message is
# the extension's; the transaction method rolls back the gated work with it.
package require sqlite3

set here [file dirname [file normalize [info script]]]
set ext [file join $here .. .. dist entitlements]
set path [expr {$argc > 0 ? [lindex $argv 0] : ":memory:"}]

sqlite3 db $path
db enable_load_extension 1
db eval {SELECT load_extension($ext)}
db enable_load_extension 0
db timeout 5000
puts "SQLite [db onecolumn {SELECT sqlite_version()}]"
if {[info exists env(ENT_CLOCK)]} { db eval {SELECT entitlements_clock($env(ENT_CLOCK))} }

db eval {SELECT entitlements_load('{"plans": {
  "free": {"default": true, "features": {"seats_invited": {"limit": 2, "period": "lifetime"}, "audit_log": false}},
  "business": {"rank": 1, "inherits": "free", "features": {"seats_invited": {"limit": 25, "period": "lifetime"}, "audit_log": true}}}}')}
db eval {CREATE TABLE IF NOT EXISTS invites(org TEXT, email TEXT)}

proc invite {org email} {
  db transaction {
    set left [db onecolumn {SELECT consume_quota($org, 'seats_invited', 1, 'invite:' || $email)}]
    db eval {INSERT INTO invites VALUES ($org, $email)}
  }
  return $left
}

foreach email {ann@acme.test bob@acme.test cy@acme.test} {
  if {[catch {invite acme $email} result]} {
    puts "invite $email: denied\n  $result"
  } else {
    puts "invite $email: ok, $result left"
  }
}
puts "invites saved: [db onecolumn {SELECT count(*) FROM invites}]"
puts "audit_log allowed: [db onecolumn {SELECT plan_allows('acme', 'audit_log')}]"
db eval {SELECT subject_set_plan('acme', 'business')}
db eval {SELECT feature, plan, used, remaining FROM usage_summary WHERE subject = 'acme'} r {
  puts "usage: $r(feature) on $r(plan): $r(used) used, $r(remaining) left"
}
db close
