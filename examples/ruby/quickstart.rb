# sqlite-entitlements from Ruby (Debian's ruby-sqlite3, the sqlite3 gem).
#
#   make && ruby examples/ruby/quickstart.rb [DB]
#
# The same gated work as the Node examples: an export is counted and saved in
# one transaction; a denial raises SQLite3::ConstraintException and the
# transaction rolls back with nothing recorded.
require 'json'
require 'sqlite3'
require 'tmpdir'

ext = File.expand_path('../../dist/entitlements', __dir__) # SQLite adds .so
file = ARGV[0] || File.join(Dir.tmpdir, "ent-ruby-#{Process.pid}.db")
db = SQLite3::Database.new(file)
db.enable_load_extension(true)
db.load_extension(ext)
db.enable_load_extension(false)
db.execute('PRAGMA journal_mode = wal')
db.busy_timeout = 5000
puts "SQLite #{db.get_first_value('SELECT sqlite_version()')}"
db.get_first_value('SELECT entitlements_clock(?)', ENV['ENT_CLOCK']) if ENV['ENT_CLOCK']
db.get_first_value('SELECT entitlements_load(?)', JSON.generate(
  plans: {
    free: { default: true, features: { exports: { limit: 2, period: 'month' }, sso: false } },
    team: { rank: 1, inherits: 'free', features: { exports: { limit: 50, period: 'month' }, sso: true } }
  }
))
db.execute('CREATE TABLE IF NOT EXISTS exports(id INTEGER PRIMARY KEY, owner TEXT, name TEXT)')

def export_report(db, owner, name)
  left = nil
  db.transaction(:immediate) do # rolled back if the block raises
    left = db.get_first_value('SELECT consume_quota(?, ?, 1, ?)', owner, 'exports', "export:#{owner}:#{name}")
    db.execute('INSERT INTO exports(owner, name) VALUES (?, ?)', [owner, name])
  end
  left
end

%w[q1.csv q2.csv q3.csv].each do |name|
  puts "export #{name}: ok, #{export_report(db, 'acme', name)} left"
rescue SQLite3::ConstraintException => e # a denial, not a bug
  puts "export #{name}: denied (#{e.class})\n  #{e.message}"
end
puts "exports saved: #{db.get_first_value('SELECT count(*) FROM exports')}"
puts "sso allowed: #{db.get_first_value("SELECT plan_allows('acme', 'sso')")}"
db.get_first_value("SELECT subject_set_plan('acme', 'team')")
db.execute("SELECT feature, plan, used, remaining FROM usage_summary WHERE subject = 'acme'") do |f, p, u, r|
  puts "usage: #{JSON.generate(feature: f, plan: p, used: u, remaining: r)}"
end
db.close
['', '-wal', '-shm'].each { |s| File.delete(file + s) if !ARGV[0] && File.exist?(file + s) }
