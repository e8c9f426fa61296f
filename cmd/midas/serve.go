package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomidas/midas"
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
	var pf pushFlags
	fs.StringVar(&pf.url, "push-url", "", "the game server's push URL (loopback only): enables POST "+buyItemPath)
	fs.StringVar(&pf.token, "push-token", "", "the push URL's Token (required with -push-url)")
	fs.StringVar(&pf.aesKey, "push-aes-key", "", "the push URL's 43-character EncodingAESKey: push in secure mode (default plain mode)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: midas serve [flags]\n\nRuns a fake Midas server (package midastest) until interrupted (Ctrl-C or SIGTERM),\nand prints its URL and credentials as JSON.\n\n"+pushUsage+"\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\n"+exitCodes)
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
	target, err := pf.target(cfg.AppID)
	if err != nil {
		return err
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
	if target != nil {
		var logw io.Writer
		if *verbose {
			logw = stderr
		}
		handler = buyItemHandler(fake, *target, handler, logw)
	}
	if *verbose {
		handler = logRequests(handler, stderr)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String()
	info := map[string]any{
		"url": url, "appid": cfg.AppID, "offer_id": cfg.OfferID, "appkey": cfg.AppKey, "sandbox_appkey": cfg.SandboxAppKey,
		"access_tokens": cfg.AccessTokens, "appsecret": cfg.AppSecret, "players": cfg.Players,
	}
	if target != nil {
		info["push_url"], info["buy_item_url"] = target.URL, url+buyItemPath
	}
	printJSON(stdout, info)
	fmt.Fprintf(stderr, "midas serve: fake Midas listening on %s (Ctrl-C to stop); point a client at it with -base-url %s\n", url, url)
	if target != nil {
		fmt.Fprintf(stderr, "midas serve: POST %s%s buys an item and pushes its delivery to %s\n", url, buyItemPath, target.URL)
	}
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

// buyItemPath is the control endpoint of midas serve -push-url.
const buyItemPath = "/midastest/buyitem"

const pushUsage = `With -push-url it also plays WeChat's side of item purchases (2.0). Each
  POST ` + buyItemPath + ` {"openid":"...","product_id":"...","quantity":1,"price":600,
                           "out_trade_no":"...","env":0,"zone_id":"1","attach":""}
buys an item as the player: it records the order as paid (queryorderinfo sees
it) and pushes the delivery to -push-url, signed with -push-token, the
AppKey of env (0 production, 1 sandbox) and, with -push-aes-key, in secure
mode, retrying on WeChat's schedule compressed to microseconds until a push
is answered {"ErrCode":0}. quantity defaults to 1, price is the unit price in
fen, an empty out_trade_no is made up (starting with '_'). The answer lists
every push and the game server's answer to it: HTTP 200 when delivered, 502
when no push succeeded, 400 for a bad body or an out_trade_no already used.
`

// pushFlags are the -push-* flags: where midas serve pushes deliveries.
type pushFlags struct{ url, token, aesKey string }

// target checks the flags and returns the push target, or nil without
// -push-url. Errors never show the Token or the key.
func (p pushFlags) target(appID string) (*midastest.PushTarget, error) {
	if p.url == "" {
		if p.token != "" || p.aesKey != "" {
			return nil, usagef("-push-token and -push-aes-key need -push-url")
		}
		return nil, nil
	}
	u, err := url.Parse(p.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("-push-url %q: want an absolute http(s) URL", p.url)
	}
	if host := u.Hostname(); host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, usagef("-push-url %q: midas serve pushes to loopback only", p.url)
		}
	}
	if p.token == "" {
		return nil, usagef("-push-url needs -push-token (the push URL's Token)")
	}
	if p.aesKey != "" {
		if key, err := base64.StdEncoding.DecodeString(p.aesKey + "="); len(p.aesKey) != 43 || err != nil || len(key) != 32 {
			return nil, usagef("-push-aes-key: want the 43-character EncodingAESKey (base64 of 32 bytes)")
		}
		if appID == "" {
			return nil, usagef("-push-aes-key: secure mode needs -appid (it ends each message)")
		}
	}
	return &midastest.PushTarget{URL: p.url, Token: p.token, EncodingAESKey: p.aesKey, AppID: appID}, nil
}

// buyItemRequest is the body of POST /midastest/buyitem.
type buyItemRequest struct {
	OpenID     string `json:"openid"`
	ProductID  string `json:"product_id"`
	Quantity   int64  `json:"quantity"`
	Price      int64  `json:"price"`
	OutTradeNo string `json:"out_trade_no"`
	Env        int    `json:"env"`
	ZoneID     string `json:"zone_id"`
	Attach     string `json:"attach"`
}

// buyItemAnswer is the answer of POST /midastest/buyitem.
type buyItemAnswer struct {
	OutTradeNo string       `json:"out_trade_no,omitempty"`
	Delivered  bool         `json:"delivered"`
	Pushes     []pushReport `json:"pushes"`
	Error      string       `json:"error,omitempty"`
}

// pushReport is one push and the game server's answer to it.
type pushReport struct {
	Attempt int    `json:"attempt"`
	Status  int    `json:"status"` // 0 when no answer came
	Answer  string `json:"answer"`
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"` // why no answer came
}

// buyItemHandler serves POST /midastest/buyitem, buying items through fake
// and pushing them to target; every other request goes to next. With logw
// set it logs each push there.
func buyItemHandler(fake *midastest.Server, target midastest.PushTarget, next http.Handler, logw io.Writer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != buyItemPath {
			next.ServeHTTP(w, r)
			return
		}
		reply := func(status int, a buyItemAnswer) {
			if a.Pushes == nil {
				a.Pushes = []pushReport{}
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			printJSON(w, a)
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reply(http.StatusMethodNotAllowed, buyItemAnswer{Error: "POST a JSON purchase"})
			return
		}
		var in buyItemRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			reply(http.StatusBadRequest, buyItemAnswer{Error: "body: " + err.Error()})
			return
		}
		if in.Env != int(midas.Production) && in.Env != int(midas.Sandbox) {
			reply(http.StatusBadRequest, buyItemAnswer{Error: "env must be 0 (production) or 1 (sandbox)"})
			return
		}
		res, err := fake.BuyItem(r.Context(), midastest.ItemPurchase{
			Env: midas.Env(in.Env), OpenID: in.OpenID, OutTradeNo: in.OutTradeNo, ProductID: in.ProductID,
			Quantity: in.Quantity, Price: in.Price, ZoneID: in.ZoneID, Attach: in.Attach,
		}, target)
		if res == nil {
			reply(http.StatusBadRequest, buyItemAnswer{Error: strings.TrimPrefix(err.Error(), "midastest: ")})
			return
		}
		a := buyItemAnswer{OutTradeNo: res.OutTradeNo, Delivered: res.Delivered}
		for _, p := range res.Pushes {
			rep := pushReport{Attempt: p.Attempt, Status: p.Status, Answer: string(p.Answer), Success: p.Success}
			if p.Err != nil {
				rep.Error = p.Err.Error()
			}
			a.Pushes = append(a.Pushes, rep)
			if logw != nil {
				outcome := fmt.Sprintf("%d", p.Status)
				switch {
				case p.Err != nil:
					outcome = "no answer: " + p.Err.Error()
				case p.Success:
					outcome += " success"
				}
				fmt.Fprintf(logw, "midas serve: push %s out_trade_no=%s attempt %d: %s\n", p.Event, p.OutTradeNo, p.Attempt, outcome)
			}
		}
		if err != nil {
			a.Error = strings.TrimPrefix(err.Error(), "midastest: ")
			reply(http.StatusBadGateway, a)
			return
		}
		reply(http.StatusOK, a)
	})
}
