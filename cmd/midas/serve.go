package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomidas/midas/midastest"
)

// Defaults of midas serve: the published worked example's values, so that
// its signatures verify against the fake.
const (
	defaultAppID      = "wx1234567"
	defaultOfferID    = "12345678"
	defaultAppKey     = "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u"
	defaultSandboxKey = "sandbox0AppKey0for0midas0serve00"
	defaultToken      = "ACCESSTOKEN"
	defaultAppSecret  = "midas-serve-app-secret"
	defaultOpenID     = "odkx20ENSNa2w5y3g_qOkOvBNM1g"
	defaultSession    = "V7Q38/i2KXaqrQyl2Yx9Hg=="
)

// playerFlags collects -player openid:session_key:balance[:gifted[:zone]].
type playerFlags []midastest.Player

func (p *playerFlags) String() string { return fmt.Sprint(len(*p), " players") }

func (p *playerFlags) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 3 || len(parts) > 5 {
		return errors.New("want openid:session_key:balance[:gifted[:zone]]")
	}
	pl := midastest.Player{OpenID: parts[0], SessionKey: parts[1]}
	var err error
	if pl.Balance, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
		return fmt.Errorf("balance %q: %v", parts[2], err)
	}
	if len(parts) > 3 {
		if pl.GenBalance, err = strconv.ParseInt(parts[3], 10, 64); err != nil {
			return fmt.Errorf("gifted %q: %v", parts[3], err)
		}
	}
	if len(parts) > 4 {
		pl.ZoneID = parts[4]
	}
	// Refuse a player the client could not call for (a session_key that is
	// not base64 of 16 bytes, a trailing newline), as the fake would.
	if err := pl.Validate(); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "midastest: "))
	}
	*p = append(*p, pl)
	return nil
}

// serveFile is the -config JSON file of midas serve.
type serveFile struct {
	AppID         string             `json:"appid"`
	OfferID       string             `json:"offer_id"`
	AppKey        string             `json:"appkey"`
	SandboxAppKey string             `json:"sandbox_appkey"`
	AccessTokens  []string           `json:"access_tokens"`
	AppSecret     string             `json:"appsecret"`
	RequireMpSig  bool               `json:"require_mp_sig"`
	Players       []midastest.Player `json:"players"`
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	configFile := fs.String("config", "", "JSON file with appid, offer_id, appkey, sandbox_appkey, access_tokens, appsecret, require_mp_sig and players")
	cfg := midastest.Config{AppID: defaultAppID, OfferID: defaultOfferID, AppKey: defaultAppKey, SandboxAppKey: defaultSandboxKey, AppSecret: defaultAppSecret}
	fs.StringVar(&cfg.AppID, "appid", cfg.AppID, "appid")
	fs.StringVar(&cfg.OfferID, "offer-id", cfg.OfferID, "offer_id")
	fs.StringVar(&cfg.AppKey, "appkey", cfg.AppKey, "production AppKey")
	fs.StringVar(&cfg.SandboxAppKey, "sandbox-appkey", cfg.SandboxAppKey, "sandbox AppKey")
	fs.StringVar(&cfg.AppSecret, "appsecret", cfg.AppSecret, "AppSecret for /cgi-bin/stable_token")
	token := fs.String("token", defaultToken, "a valid access_token")
	fs.BoolVar(&cfg.RequireMpSig, "require-mp-sig", false, "answer 90009 to requests without mp_sig")
	replay := fs.Bool("replay", false, "answer a repeated bill_no with identical parameters with the first answer, instead of 90012")
	verbose := fs.Bool("v", false, "log each request to stderr: method, path, status, errcode, openid, bill_no, duration (never the access_token)")
	var players playerFlags
	fs.Var(&players, "player", "a player as openid:session_key:balance[:gifted[:zone]] (repeatable; default: the worked example's player with 1000 coins)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: midas serve [flags]\n\nRuns a fake Midas server (package midastest) until interrupted (Ctrl-C or SIGTERM),\nand prints its URL and credentials as JSON.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+exitCodes)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q: midas serve takes only flags", fs.Args())
	}
	cfg.AccessTokens = []string{*token}
	if *replay {
		cfg.Repeat = midastest.RepeatReplays
	}
	cfg.Players = players
	if *configFile != "" {
		if err := loadServeFile(*configFile, &cfg); err != nil {
			return err
		}
	}
	if len(cfg.Players) == 0 {
		cfg.Players = []midastest.Player{{OpenID: defaultOpenID, SessionKey: defaultSession, Balance: 1000}}
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "midastest: "))
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usagef("-addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("-addr %q: the fake listens on loopback only", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fake := midastest.New(cfg)
	var handler http.Handler = fake
	if *verbose {
		handler = logRequests(fake, stderr)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String()
	printJSON(stdout, map[string]any{
		"url": url, "appid": cfg.AppID, "offer_id": cfg.OfferID, "appkey": cfg.AppKey, "sandbox_appkey": cfg.SandboxAppKey,
		"access_tokens": cfg.AccessTokens, "appsecret": cfg.AppSecret, "players": cfg.Players,
	})
	fmt.Fprintf(stderr, "midas serve: fake Midas listening on %s (Ctrl-C to stop); point a client at it with -base-url %s\n", url, url)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		fmt.Fprintln(stderr, "midas serve: stopped")
		return nil
	}
}

// logRequests logs each request to w, one line each. The query string, which
// carries the access_token, is never logged.
func logRequests(h http.Handler, w io.Writer) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var in struct {
			OpenID string          `json:"openid"`
			BillNo json.RawMessage `json:"bill_no"`
		}
		_ = json.Unmarshal(body, &in)
		rec := &recorder{ResponseWriter: rw, status: http.StatusOK}
		outcome := ""
		defer func() {
			p := recover()
			if p != nil {
				outcome = "dropped without an answer"
			} else {
				outcome = fmt.Sprintf("%d", rec.status)
				var out struct {
					Errcode *int `json:"errcode"`
				}
				if json.Unmarshal(rec.body.Bytes(), &out) == nil && out.Errcode != nil {
					outcome += fmt.Sprintf(" errcode=%d", *out.Errcode)
				}
			}
			line := fmt.Sprintf("midas serve: %s %s %s %s", start.Format("15:04:05.000"), r.Method, r.URL.Path, outcome)
			if in.OpenID != "" {
				line += " openid=" + in.OpenID
			}
			if len(in.BillNo) > 0 {
				line += " bill_no=" + strings.Trim(string(in.BillNo), `"`)
			}
			line += " " + time.Since(start).Round(time.Microsecond).String()
			mu.Lock()
			fmt.Fprintln(w, line)
			mu.Unlock()
			if p != nil {
				panic(p)
			}
		}()
		h.ServeHTTP(rec, r)
	})
}

// recorder keeps the status and the start of the body of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if room := 4096 - r.body.Len(); room > 0 {
		r.body.Write(b[:min(len(b), room)])
	}
	return r.ResponseWriter.Write(b)
}

// Flush keeps a delayed answer's headers flowing, as the fake may flush.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func loadServeFile(name string, cfg *midastest.Config) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return usagef("-config: %v", err)
	}
	var f serveFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return usagef("-config %s: %v", name, err)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.AppID, f.AppID)
	set(&cfg.OfferID, f.OfferID)
	set(&cfg.AppKey, f.AppKey)
	set(&cfg.SandboxAppKey, f.SandboxAppKey)
	set(&cfg.AppSecret, f.AppSecret)
	if len(f.AccessTokens) > 0 {
		cfg.AccessTokens = f.AccessTokens
	}
	cfg.RequireMpSig = cfg.RequireMpSig || f.RequireMpSig
	cfg.Players = append(cfg.Players, f.Players...)
	return nil
}
