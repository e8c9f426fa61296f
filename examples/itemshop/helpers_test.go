package itemshop_test

import (
	"context"
	"testing"

	"github.com/gomidas/midas/dbtest"
	"github.com/gomidas/midas/examples/itemshop"
	"github.com/stretchr/testify/require"
)

// TestMain stops the database servers the tests started.
func TestMain(m *testing.M) { dbtest.Main(m) }

// openStore opens a store on driver/dsn, closed when the test ends.
func openStore(t testing.TB, driver, dsn string) *itemshop.SQLStore {
	t.Helper()
	s, err := itemshop.OpenSQLStore(context.Background(), driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// sqliteStore is a store on a new SQLite file.
func sqliteStore(t testing.TB) *itemshop.SQLStore {
	t.Helper()
	driver, dsn := dbtest.SQLite(t)
	return openStore(t, driver, dsn)
}

// databases are the three databases SQLStore runs on, each giving the
// driver and DSN of a new empty database.
var databases = []struct {
	name string
	open func(testing.TB) (driver, dsn string)
}{
	{"sqlite", dbtest.SQLite},
	{"postgres", dbtest.Postgres},
	{"mariadb", dbtest.MariaDB},
}
