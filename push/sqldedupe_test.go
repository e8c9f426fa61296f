package push_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

// The schema of each dialect, for the default table and a named one. The
// statements run against real servers in the dbtest module.
func TestSQLDeduperSchema(t *testing.T) {
	db := new(sql.DB) // never used: NewSQLDeduper and Schema do not touch the database
	for _, d := range []push.Dialect{push.PostgreSQL, push.MySQL, push.SQLite} {
		t.Run(d.String(), func(t *testing.T) {
			dd, err := push.NewSQLDeduper(db, d)
			require.NoError(t, err)
			schema := strings.Join(dd.Schema(), ";\n")
			require.Contains(t, schema, "CREATE TABLE IF NOT EXISTS push_dedup (")
			require.Contains(t, schema, "push_dedup_expires_at")
			require.Contains(t, schema, "PRIMARY KEY")
			if d == push.MySQL {
				require.Contains(t, schema, "dedup_key  VARBINARY(128)") // byte-exact keys
			} else {
				require.Contains(t, schema, "dedup_key  VARCHAR(128)")
			}
			named, err := push.NewSQLDeduper(db, d, push.WithTable("game_push_keys"))
			require.NoError(t, err)
			require.Equal(t, strings.ReplaceAll(schema, "push_dedup", "game_push_keys"), strings.Join(named.Schema(), ";\n"))
		})
	}
	_, err := push.NewSQLDeduper(db, push.Dialect(0))
	require.ErrorContains(t, err, "Dialect(0)")
	_, err = push.NewSQLDeduper(db, push.SQLite, push.WithTable("1abc"))
	require.Error(t, err)
	_, err = push.NewSQLDeduper(db, push.SQLite, push.WithDoneTTL(push.MinDoneTTL-1))
	require.Error(t, err)
}
