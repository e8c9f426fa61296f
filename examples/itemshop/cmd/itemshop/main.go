// Command itemshop runs the example game server of package itemshop on
// loopback: POST /order signs an item order, /midas/push takes WeChat's
// delivery pushes. It is configured from the environment:
//
//	MIDAS_APPID, MIDAS_OFFER_ID, MIDAS_APPKEY   the game (AppKey of MIDAS_ENV)
//	MIDAS_ENV                                   production (default) or sandbox
//	MIDAS_ACCESS_TOKEN                          for QueryOrder (Reconcile)
//	MIDAS_BASE_URL                              optional: a fake such as midas serve
//	MIDAS_PUSH_TOKEN, MIDAS_PUSH_AES_KEY        the push URL's Token and, for
//	                                            secure mode, EncodingAESKey
//	ITEMSHOP_ADDR                               default 127.0.0.1:8080
//
// It pairs with "midas serve -push-url http://127.0.0.1:8080/midas/push
// -push-token T", which plays WeChat's side: see README.md.
package main

import (
	"context"
	"errors"
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
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "itemshop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
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
	client, err := midas.NewClient(cfg, opts...)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	shop, err := itemshop.New(itemshop.Config{Midas: client, Push: pushCfg, Logger: logger,
		Catalogue: map[string]int64{"gem_pack_60": 600, "sword": 100}})
	if err != nil {
		return err
	}
	addr := getenv("ITEMSHOP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{Addr: addr, Handler: shop, ReadHeaderTimeout: 5 * time.Second}
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
