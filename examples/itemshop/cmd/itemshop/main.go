// Command itemshop runs the example game server of package itemshop on
// loopback: POST /order signs an item order, POST /spend buys one with game
// coins, /midas/push takes WeChat's delivery and refund pushes. Orders are
// kept in a database:
//
//	itemshop [-dsn DSN] [-driver sqlite|pgx|mysql]
//
// -dsn defaults to the SQLite file itemshop.db in the working directory;
// postgres://user@host:port/db selects PostgreSQL and
// user:pass@tcp(host:port)/db go-sql-driver/mysql (MySQL or MariaDB).
// -driver overrides the guess. The rest comes from the environment:
//
//	MIDAS_APPID, MIDAS_OFFER_ID, MIDAS_APPKEY   the game (AppKey of MIDAS_ENV)
//	MIDAS_ENV                                   production (default) or sandbox
//	MIDAS_ACCESS_TOKEN                          for QueryOrder (Reconcile)
//	MIDAS_BASE_URL                              optional: a fake such as midas serve
//	MIDAS_PUSH_TOKEN, MIDAS_PUSH_AES_KEY        the push URL's Token and, for
//	                                            secure mode, EncodingAESKey
//	ITEMSHOP_ADDR                               default 127.0.0.1:8080
//	ITEMSHOP_METRICS_ADDR                       optional: serve Prometheus metrics
//	                                            at http://ADDR/metrics
//	ITEMSHOP_TRACES                             optional: "stdout" writes spans
//	                                            to stderr
//
// It pairs with "midas serve -push-url http://127.0.0.1:8080/midas/push
// -push-token T", which plays WeChat's side: see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/examples/itemshop"
	"github.com/gomidas/midas/push"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "itemshop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("itemshop", flag.ContinueOnError)
	dsn := fs.String("dsn", "itemshop.db", "database: an SQLite file, postgres://…, or user:pass@tcp(host:port)/db for MySQL")
	driver := fs.String("driver", "", "sqlite, pgx or mysql (default: guessed from -dsn)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var missing []string
	need := func(name string) string {
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	cfg := midas.Config{AppID: need("MIDAS_APPID"), OfferID: need("MIDAS_OFFER_ID"), AppKey: need("MIDAS_APPKEY"),
		AccessToken: midas.StaticToken(need("MIDAS_ACCESS_TOKEN")), Version: midas.V2}
	pushCfg := push.Config{Token: need("MIDAS_PUSH_TOKEN"), EncodingAESKey: getenv("MIDAS_PUSH_AES_KEY"), AppID: cfg.AppID}
	if len(missing) > 0 {
		return fmt.Errorf("set %s", strings.Join(missing, ", "))
	}
	switch getenv("MIDAS_ENV") {
	case "", "production":
		pushCfg.AppKey = cfg.AppKey
	case "sandbox":
		cfg.Env, pushCfg.SandboxAppKey = midas.Sandbox, cfg.AppKey
	default:
		return errors.New("MIDAS_ENV must be production or sandbox")
	}
	var opts []midas.Option
	if u := getenv("MIDAS_BASE_URL"); u != "" {
		opts = append(opts, midas.WithBaseURL(u))
	}
	tel, err := newTelemetry(getenv)
	if err != nil {
		return err
	}
	defer tel.shutdown(context.Background())
	if tel.obs != nil {
		opts = append(opts, midas.WithObserver(tel.obs))
	}
	client, err := midas.NewClient(cfg, opts...)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store, err := itemshop.OpenSQLStore(ctx, *driver, *dsn)
	if err != nil {
		return err // the drivers mask a DSN's password in their errors
	}
	defer store.Close()
	var pushOpts []push.Option
	if tel.obs != nil {
		pushOpts = append(pushOpts, push.WithObserver(tel.obs))
	}
	shop, err := itemshop.New(itemshop.Config{Midas: client, Push: pushCfg, Logger: logger, Store: store, PushOptions: pushOpts,
		Catalogue:  map[string]int64{"gem_pack_60": 600, "sword": 100},
		CoinPrices: map[string]int64{"sword": 10, "shield": 25}})
	if err != nil {
		return err
	}
	// Pending coin spends are settled now and every minute. Without a
	// session store (this example has none) a 2.0 spend is settled when its
	// player next calls POST /spend: see Server.SettlePending.
	go shop.RunSettler(ctx, time.Minute)
	go func() {
		if err := tel.serveMetrics(ctx); err != nil {
			logger.Error("itemshop: metrics server", slog.Any("error", err))
		}
	}()
	addr := getenv("ITEMSHOP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := newHTTPServer(addr, shop)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	logger.Info("itemshop: listening", slog.String("order", "http://"+addr+itemshop.OrderPath),
		slog.String("push", "http://"+addr+itemshop.PushPath))
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHTTPServer is the shop's server. Every phase of a connection is
// bounded, so a slow or idle client cannot hold a connection and its
// goroutine for as long as it likes: headers within 5 s, the whole request
// (bodies are a few KiB) within 10 s, the answer written within 15 s of
// the request's start (a spend may wait up to its 10 s Pay), and a
// kept-alive connection closed after 60 s idle. WeChat waits 3 s for a push
// answer, so none of these cuts off a genuine push.
func newHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}
