// Package dbtest starts real database servers for this repository's SQL
// tests: PostgreSQL and MariaDB on loopback in a temporary directory, and
// SQLite through a pure-Go driver. It is a module of its own so that the
// drivers it needs never reach the library's go.mod.
//
// Each call returns a new, empty database on a server shared by the test
// process; [Main] stops the servers when the tests end. When a server cannot
// be started the test is skipped with the reason, except under CI=true, where
// it fails: a CI run must never pass by not testing.
//
// The servers come from Debian's packages postgresql and mariadb-server
// (scripts/install-db.sh installs them). PostgreSQL's initdb refuses to run
// as root, so as root the server runs as the postgres user.
package dbtest
