package dbtest_test

import (
	"testing"

	"github.com/gomidas/midas/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// Each server gives a working, empty, private database per call.
func TestServers(t *testing.T) {
	for name, newDB := range map[string]func(testing.TB) (string, string){
		"postgres": dbtest.Postgres, "mariadb": dbtest.MariaDB, "sqlite": dbtest.SQLite,
	} {
		t.Run(name, func(t *testing.T) {
			driver, dsnA := newDB(t)
			_, dsnB := newDB(t)
			a := dbtest.Open(t, driver, dsnA)
			b := dbtest.Open(t, driver, dsnB)
			if _, err := a.Exec("CREATE TABLE k (id INTEGER PRIMARY KEY, v VARCHAR(16))"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Exec("INSERT INTO k (id, v) VALUES (1, 'x')"); err != nil {
				t.Fatal(err)
			}
			var v string
			if err := a.QueryRow("SELECT v FROM k WHERE id = 1").Scan(&v); err != nil || v != "x" {
				t.Fatalf("read back %q, %v", v, err)
			}
			// The second database is separate: it has no table k.
			if _, err := b.Exec("SELECT v FROM k"); err == nil {
				t.Fatal("two databases share a table")
			}
		})
	}
}
