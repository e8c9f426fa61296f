package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	// The drivers of the three databases, registered as "pgx", "mysql" and
	// "sqlite".
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 90 * time.Second

// server is one database server this process started.
type server struct {
	once  sync.Once
	err   error
	dir   string
	port  int
	cmd   *exec.Cmd // mariadbd; nil for PostgreSQL, which pg_ctl runs
	stop  func()
	admin *sql.DB // connection to create databases with
}

var (
	pg, maria server
	dbSeq     atomic.Int64
)

// Main runs the tests and then stops every server this process started.
func Main(m *testing.M) {
	code := m.Run()
	for _, s := range []*server{&pg, &maria} {
		if s.stop != nil {
			s.stop()
		}
	}
	os.Exit(code)
}

// unavailable fails the test under CI=true (a CI run must not pass by not
// testing) and skips it elsewhere.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("dbtest: %s could not be started (CI=true, so this fails): %v", what, err)
	}
	t.Skipf("dbtest: %s could not be started, skipping (install it with scripts/install-db.sh): %v", what, err)
}

// newName returns a database name unique in this process.
func newName() string {
	return fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
}

// Postgres returns the driver name ("pgx") and the DSN of a new, empty
// database on this process's PostgreSQL server, started on first use.
func Postgres(t testing.TB) (driver, dsn string) {
	t.Helper()
	pg.once.Do(func() { pg.err = startPostgres(&pg) })
	if pg.err != nil {
		unavailable(t, "PostgreSQL", pg.err)
	}
	name := newName()
	if _, err := pg.admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("dbtest: create PostgreSQL database: %v", err)
	}
	return "pgx", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// MariaDB returns the driver name ("mysql") and the DSN of a new, empty
// database on this process's MariaDB server, started on first use. The DSN
// sets parseTime=true.
func MariaDB(t testing.TB) (driver, dsn string) {
	t.Helper()
	maria.once.Do(func() { maria.err = startMariaDB(&maria) })
	if maria.err != nil {
		unavailable(t, "MariaDB", maria.err)
	}
	name := newName()
	if _, err := maria.admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("dbtest: create MariaDB database: %v", err)
	}
	return "mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?parseTime=true", maria.port, name)
}

// SQLite returns the driver name ("sqlite") and the DSN of a new database
// file in t.TempDir(), in WAL mode with a busy timeout so that several
// connections can share it.
func SQLite(t testing.TB) (driver, dsn string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), newName()+".db")
	return "sqlite", "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

// Open opens driver/dsn, checks the connection, and closes the pool when the
// test ends.
func Open(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("dbtest: ping %s: %v", driver, err)
	}
	return db
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPing opens driver/dsn and pings until the server answers or the
// process p exits or startTimeout passes.
func waitPing(driver, dsn string, exited <-chan struct{}) (*sql.DB, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return db, nil
		}
		select {
		case <-exited:
			db.Close()
			return nil, fmt.Errorf("server exited before answering: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			db.Close()
			return nil, fmt.Errorf("no answer within %s: %w", startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs a setup command and returns its output in the error.
func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, lastLines(out, 5))
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// postgresBin finds a PostgreSQL program: Debian keeps them under
// /usr/lib/postgresql/<version>/bin, the newest version first; then PATH.
func postgresBin(name string) (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// asPostgresUser makes cmd run as the postgres user when this process is
// root: initdb refuses to run as root.
func asPostgresUser(cmd *exec.Cmd, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return nil
}

func startPostgres(s *server) error {
	initdb, err := postgresBin("initdb")
	if err != nil {
		return fmt.Errorf("initdb not found: %w", err)
	}
	pgctl, err := postgresBin("pg_ctl")
	if err != nil {
		return fmt.Errorf("pg_ctl not found: %w", err)
	}
	if s.dir, err = os.MkdirTemp("", "dbtest-pg-"); err != nil {
		return err
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	if err := asPostgresUser(cmd, s.dir); err != nil {
		return err
	}
	if err := run(cmd); err != nil {
		return err
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		if s.port, err = freePort(); err != nil {
			return err
		}
		// fsync off: a test database need not survive a power cut.
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", s.port, s.dir)
		cmd = exec.Command(pgctl, "-D", data, "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "start")
		if err := asPostgresUser(cmd, s.dir); err != nil {
			return err
		}
		if lastErr = run(cmd); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("%w: %s", lastErr, lastLines(log, 5))
	}
	s.stop = func() {
		stop := exec.Command(pgctl, "-D", data, "-m", "immediate", "stop")
		_ = asPostgresUser(stop, s.dir)
		_ = stop.Run()
		if s.admin != nil {
			s.admin.Close()
		}
		os.RemoveAll(s.dir)
	}
	s.admin, err = waitPing("pgx", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port), nil)
	if err != nil {
		s.stop()
		s.stop = nil
	}
	return err
}

func startMariaDB(s *server) error {
	install, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		if install, err = exec.LookPath("mysql_install_db"); err != nil {
			return fmt.Errorf("mariadb-install-db not found: %w", err)
		}
	}
	daemon, err := exec.LookPath("mariadbd")
	if err != nil {
		if daemon, err = exec.LookPath("mysqld"); err != nil {
			if daemon, err = exec.LookPath("/usr/sbin/mariadbd"); err != nil {
				return fmt.Errorf("mariadbd not found: %w", err)
			}
		}
	}
	if s.dir, err = os.MkdirTemp("", "dbtest-maria-"); err != nil {
		return err
	}
	me, err := user.Current()
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	// --no-defaults: the machine's my.cnf (datadir, socket, bind address)
	// must not leak into a test server.
	cmd := exec.Command(install, "--no-defaults", "--datadir="+data, "--user="+me.Username,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if err := run(cmd); err != nil {
		return err
	}
	if s.port, err = freePort(); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(s.dir, "log"))
	if err != nil {
		return err
	}
	s.cmd = exec.Command(daemon, "--no-defaults", "--datadir="+data, "--user="+me.Username,
		"--port="+strconv.Itoa(s.port), "--bind-address=127.0.0.1",
		"--socket="+filepath.Join(s.dir, "sock"), "--pid-file="+filepath.Join(s.dir, "pid"),
		"--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--max-connections=300",
		"--skip-name-resolve")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	setParentDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); logf.Close(); close(exited) }()
	s.stop = func() {
		if s.admin != nil {
			s.admin.Close()
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(s.dir)
	}
	s.admin, err = waitPing("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/", s.port), exited)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.stop()
		s.stop = nil
		return fmt.Errorf("%w: %s", err, lastLines(log, 5))
	}
	return nil
}
