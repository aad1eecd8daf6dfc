// sqlite-entitlements from Go with mattn/go-sqlite3 (Debian's
// golang-github-mattn-go-sqlite3-dev, built offline in GOPATH mode against
// the system SQLite):
//
//	make && GOPATH=/usr/share/gocode GO111MODULE=off go run -tags libsqlite3 examples/go/main.go [DB]
//
// The driver loads the extension into every connection it opens (the
// Extensions field). The same gated work as the Node examples: an export is
// counted and saved in one transaction; a denial (extended code 1043,
// SQLITE_CONSTRAINT_FUNCTION) rolls it back with nothing recorded.
package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	sqlite3 "github.com/mattn/go-sqlite3"
)

func main() {
	ext, _ := filepath.Abs("dist/entitlements") // SQLite adds .so
	sql.Register("sqlite3_entitlements", &sqlite3.SQLiteDriver{Extensions: []string{ext}})
	file := filepath.Join(os.TempDir(), fmt.Sprintf("ent-go-%d.db", os.Getpid()))
	if len(os.Args) > 1 {
		file = os.Args[1]
	} else {
		defer func() {
			for _, s := range []string{"", "-wal", "-shm"} {
				os.Remove(file + s)
			}
		}()
	}
	db, err := sql.Open("sqlite3_entitlements", file+"?_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate")
	check(err)
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: the pinned clock below is per connection

	var version string
	check(db.QueryRow("SELECT sqlite_version()").Scan(&version))
	fmt.Println("SQLite", version)
	if clock := os.Getenv("ENT_CLOCK"); clock != "" {
		_, err = db.Exec("SELECT entitlements_clock(?)", clock)
		check(err)
	}
	plans, _ := json.Marshal(map[string]any{"plans": map[string]any{
		"free": map[string]any{"default": true, "features": map[string]any{"exports": map[string]any{"limit": 2, "period": "month"}, "sso": false}},
		"team": map[string]any{"rank": 1, "inherits": "free", "features": map[string]any{"exports": map[string]any{"limit": 50, "period": "month"}, "sso": true}},
	}})
	_, err = db.Exec("SELECT entitlements_load(?)", string(plans))
	check(err)
	_, err = db.Exec("CREATE TABLE IF NOT EXISTS exports(id INTEGER PRIMARY KEY, owner TEXT, name TEXT)")
	check(err)

	for _, name := range []string{"q1.csv", "q2.csv", "q3.csv"} {
		left, err := exportReport(db, "acme", name)
		var e sqlite3.Error
		switch {
		case err == nil:
			fmt.Printf("export %s: ok, %d left\n", name, left)
		case errors.As(err, &e) && e.ExtendedCode == 1043: // a denial, not a bug
			fmt.Printf("export %s: denied (%d)\n  %s\n", name, int(e.ExtendedCode), e.Error())
		default:
			check(err)
		}
	}
	var n, sso int
	check(db.QueryRow("SELECT count(*) FROM exports").Scan(&n))
	fmt.Println("exports saved:", n)
	check(db.QueryRow("SELECT plan_allows('acme', 'sso')").Scan(&sso))
	fmt.Println("sso allowed:", sso)
	_, err = db.Exec("SELECT subject_set_plan('acme', 'team')")
	check(err)
	rows, err := db.Query("SELECT feature, plan, used, remaining FROM usage_summary WHERE subject = 'acme'")
	check(err)
	defer rows.Close()
	for rows.Next() {
		var f, p string
		var u, r int
		check(rows.Scan(&f, &p, &u, &r))
		fmt.Printf("usage: {\"feature\":%q,\"plan\":%q,\"used\":%d,\"remaining\":%d}\n", f, p, u, r)
	}
}

// exportReport counts the export and saves it in one transaction.
func exportReport(db *sql.DB, owner, name string) (int, error) {
	tx, err := db.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // a no-op after Commit
	var left int
	if err = tx.QueryRow("SELECT consume_quota(?, ?, 1, ?)", owner, "exports", "export:"+owner+":"+name).Scan(&left); err != nil {
		return 0, err
	}
	if _, err = tx.Exec("INSERT INTO exports(owner, name) VALUES (?, ?)", owner, name); err != nil {
		return 0, err
	}
	return left, tx.Commit()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
