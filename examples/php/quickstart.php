<?php
// sqlite-entitlements from PHP (Debian's php-sqlite3). PHP loads SQLite
// extensions only from the directory set in sqlite3.extension_dir:
//
//   make && php -d sqlite3.extension_dir="$PWD/dist" examples/php/quickstart.php [DB]
//
// (an absolute directory: PHP refuses a library whose real path lies outside it)
//
// The same gated work as the Node examples: an export is counted and saved in
// one transaction; a denial (extended code 1043, SQLITE_CONSTRAINT_FUNCTION)
// rolls it back with nothing recorded.
$file = $argv[1] ?? sys_get_temp_dir() . '/ent-php-' . getmypid() . '.db';
$db = new SQLite3($file);
$db->enableExceptions(true);
$db->loadExtension('entitlements.so');
$db->exec('PRAGMA journal_mode = wal');
$db->busyTimeout(5000);

// The first column of the first row. (Only for statements that return
// rows: PHP runs a statement again when asked for a row it has not got.)
function one(SQLite3 $db, string $sql, array $args = []) {
    $st = $db->prepare($sql);
    foreach ($args as $i => $v) $st->bindValue($i + 1, $v);
    $row = $st->execute()->fetchArray(SQLITE3_NUM);
    $st->close();
    return $row[0];
}

function run(SQLite3 $db, string $sql, array $args = []): void {
    $st = $db->prepare($sql);
    foreach ($args as $i => $v) $st->bindValue($i + 1, $v);
    $st->execute();
    $st->close();
}

echo 'SQLite ', one($db, 'SELECT sqlite_version()'), "\n";
if (getenv('ENT_CLOCK')) one($db, 'SELECT entitlements_clock(?)', [getenv('ENT_CLOCK')]);
one($db, 'SELECT entitlements_load(?)', [json_encode(['plans' => [
    'free' => ['default' => true, 'features' => ['exports' => ['limit' => 2, 'period' => 'month'], 'sso' => false]],
    'team' => ['rank' => 1, 'inherits' => 'free', 'features' => ['exports' => ['limit' => 50, 'period' => 'month'], 'sso' => true]],
]])]);
$db->exec('CREATE TABLE IF NOT EXISTS exports(id INTEGER PRIMARY KEY, owner TEXT, name TEXT)');

function export_report(SQLite3 $db, string $owner, string $name) {
    $db->exec('BEGIN IMMEDIATE');
    try {
        $left = one($db, 'SELECT consume_quota(?, ?, 1, ?)', [$owner, 'exports', "export:$owner:$name"]);
        run($db, 'INSERT INTO exports(owner, name) VALUES (?, ?)', [$owner, $name]);
        $db->exec('COMMIT');
        return $left;
    } catch (Exception $e) {
        $code = $db->lastExtendedErrorCode(); // before ROLLBACK replaces them
        $message = $db->lastErrorMsg();
        $db->exec('ROLLBACK');
        throw new Exception($message, $code);
    }
}

foreach (['q1.csv', 'q2.csv', 'q3.csv'] as $name) {
    try {
        $left = export_report($db, 'acme', $name);
        echo "export $name: ok, $left left\n";
    } catch (Exception $e) {
        if ($e->getCode() !== 1043) throw $e; // a denial, not a bug
        echo "export $name: denied (", $e->getCode(), ")\n  ", $e->getMessage(), "\n";
    }
}
echo 'exports saved: ', one($db, 'SELECT count(*) FROM exports'), "\n";
echo 'sso allowed: ', one($db, "SELECT plan_allows('acme', 'sso')"), "\n";
one($db, "SELECT subject_set_plan('acme', 'team')");
$r = $db->query("SELECT feature, plan, used, remaining FROM usage_summary WHERE subject = 'acme'");
while ($row = $r->fetchArray(SQLITE3_ASSOC)) echo 'usage: ', json_encode($row), "\n";
$db->close();
if (!isset($argv[1])) foreach (['', '-wal', '-shm'] as $s) @unlink($file . $s);
