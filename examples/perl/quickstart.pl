#!/usr/bin/perl
# sqlite-entitlements from Perl (Debian's libdbd-sqlite3-perl, DBD::SQLite).
#
#   make && perl examples/perl/quickstart.pl [DB]
#
# The same gated work as the Node examples: an export is counted and saved in
# one transaction; a denial (extended code 1043, SQLITE_CONSTRAINT_FUNCTION)
# rolls it back with nothing recorded.
use strict;
use warnings;
use DBI;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use JSON::PP;

my $ext = File::Spec->rel2abs(dirname(__FILE__) . '/../../dist/entitlements.so');
my $file = $ARGV[0] // tempdir(CLEANUP => 1) . '/ent-perl.db';
my $dbh = DBI->connect("dbi:SQLite:dbname=$file", '', '',
    { RaiseError => 1, PrintError => 0, AutoCommit => 1, sqlite_extended_result_codes => 1 });
$dbh->sqlite_enable_load_extension(1);
$dbh->sqlite_load_extension($ext);
$dbh->sqlite_enable_load_extension(0);
$dbh->do('PRAGMA journal_mode = wal');
$dbh->sqlite_busy_timeout(5000);
print 'SQLite ', $dbh->selectrow_array('SELECT sqlite_version()'), "\n";
$dbh->selectrow_array('SELECT entitlements_clock(?)', undef, $ENV{ENT_CLOCK}) if $ENV{ENT_CLOCK};
my $json = JSON::PP->new->canonical;
$dbh->selectrow_array('SELECT entitlements_load(?)', undef, $json->encode({ plans => {
    free => { default => JSON::PP::true, features => { exports => { limit => 2, period => 'month' }, sso => JSON::PP::false } },
    team => { rank => 1, inherits => 'free', features => { exports => { limit => 50, period => 'month' }, sso => JSON::PP::true } },
} }));
$dbh->do('CREATE TABLE IF NOT EXISTS exports(id INTEGER PRIMARY KEY, owner TEXT, name TEXT)');

sub export_report {
    my ($owner, $name) = @_;
    $dbh->do('BEGIN IMMEDIATE');
    my $left = eval {
        my ($l) = $dbh->selectrow_array('SELECT consume_quota(?, ?, 1, ?)', undef,
            $owner, 'exports', "export:$owner:$name");
        $dbh->do('INSERT INTO exports(owner, name) VALUES (?, ?)', undef, $owner, $name);
        $dbh->do('COMMIT');
        $l;
    };
    return $left unless $@;
    my ($code, $message) = ($dbh->err, $dbh->errstr); # before ROLLBACK replaces them
    $dbh->do('ROLLBACK');
    die { code => $code, message => $message };
}

for my $name (qw(q1.csv q2.csv q3.csv)) {
    my $left = eval { export_report('acme', $name) };
    if (my $e = $@) {
        die $e unless ref $e && $e->{code} == 1043; # a denial, not a bug
        print "export $name: denied ($e->{code})\n  $e->{message}\n";
    } else {
        print "export $name: ok, $left left\n";
    }
}
print 'exports saved: ', $dbh->selectrow_array('SELECT count(*) FROM exports'), "\n";
print 'sso allowed: ', $dbh->selectrow_array("SELECT plan_allows('acme', 'sso')"), "\n";
$dbh->selectrow_array("SELECT subject_set_plan('acme', 'team')");
my $rows = $dbh->selectall_arrayref(
    "SELECT feature, plan, used, remaining FROM usage_summary WHERE subject = 'acme'");
for my $r (@$rows) {
    printf "usage: {\"feature\":\"%s\",\"plan\":\"%s\",\"used\":%d,\"remaining\":%d}\n", @$r;
}
$dbh->disconnect;
