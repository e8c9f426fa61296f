package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gomidas/midas"
)

const signUsage = `Usage: midas sign -key APPKEY (-path PATH | -api API [-env ENV]) [-session-key K -access-token T] key=value ...
       midas sign -v2 -key APPKEY (-uri URI | -api API) [-session-key K] [-body BODY | < body.json]

1.0 (the default) prints the parameters sorted as they are signed, the
string hashed for sig (and for mp_sig when -session-key is given) with the
secrets masked, and the signatures. Pass the body fields as key=value,
numbers in decimal; sig, mp_sig and access_token among them are ignored, as
the signer ignores them. Flags may come before or after them.

2.0 (-v2) signs bytes, not parameters: pay_sig is HMAC-SHA256 keyed with the
AppKey of the body's env over URI&BODY, and signature (with -session-key) is
HMAC-SHA256 keyed with the session_key over BODY. The body is taken exactly as
given (-body, or stdin when -body is absent): the bytes hashed are printed,
and they must be the bytes sent.

Example (the published 1.0 worked example):
  midas sign -key zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u -path /cgi-bin/midas/getbalance \
    -session-key V7Q38/i2KXaqrQyl2Yx9Hg== -access-token ACCESSTOKEN \
    openid=odkx20ENSNa2w5y3g_qOkOvBNM1g appid=wx1234567 offer_id=12345678 ts=1507530737 zone_id=1 pf=android

Example (the official 2.0 getbalance vector):
  midas sign -v2 -key 12345 -uri /wxa/game/getbalance -session-key 9hAb/NEYUlkaMBEsmFgzig== \
    -body '{"offer_id": "12345678", "openid": "oUrsfxxxxxxxxxx", "ts": 1668136271, "zone_id": "1", "env": 0}'

Flags:
`

func runSign(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "the Midas AppKey (required)")
	path := fs.String("path", "", "1.0: the path called, e.g. /cgi-bin/midas/sandbox/pay (or use -api and -env)")
	api := fs.String("api", "", "getbalance, pay, cancelpay or present (2.0 also queryorderinfo), to build the path")
	env := fs.String("env", "production", "1.0: production or sandbox, with -api")
	sessionKey := fs.String("session-key", "", "the player's session_key, to compute mp_sig (1.0) or signature (2.0)")
	token := fs.String("access-token", "", "1.0: the access_token, to compute mp_sig")
	v2 := fs.Bool("v2", false, "sign for virtual payment 2.0 (/wxa/game): pay_sig and signature over the body bytes")
	uri := fs.String("uri", "", "2.0: the path called, e.g. /wxa/game/pay (or use -api)")
	body := fs.String("body", "", "2.0: the exact request body; read from stdin when absent")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), signUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\n"+exitCodes)
	}
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *key == "" {
		return usagef("-key is required: the Midas AppKey (of the environment signed for)")
	}
	if *v2 {
		for _, name := range []string{"path", "env", "access-token"} {
			if flagSet(fs, name) {
				return usagef("-%s is for 1.0 and has no place with -v2 (%s)", name, v2Why(name))
			}
		}
		if len(positional) > 0 {
			return usagef("with -v2 the body is signed as bytes: pass it with -body or on stdin, not as key=value (got %q)", positional)
		}
		return signV2(fs, *key, *uri, *api, *sessionKey, *body, stdin, stdout, stderr)
	}
	for _, name := range []string{"uri", "body"} {
		if flagSet(fs, name) {
			return usagef("-%s is for 2.0: add -v2, or use -path and key=value arguments for 1.0", name)
		}
	}
	orgLoc, err := pathOf(*path, *api, *env)
	if err != nil {
		return err
	}
	params := map[string]string{}
	for _, kv := range positional {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("parameter %q is not key=value", kv)
		}
		if old, dup := params[k]; dup {
			return usagef("parameter %s given twice (%q and %q): a body has each field once", k, old, v)
		}
		params[k] = v
	}
	if len(params) == 0 {
		return usagef("no parameters: pass the body fields as key=value")
	}
	if *sessionKey != "" && *token == "" {
		return usagef("-access-token is required with -session-key: mp_sig covers it")
	}
	for _, k := range []string{"sig", "mp_sig", "access_token"} {
		delete(params, k)
	}
	suffix := "&org_loc=" + orgLoc + "&method=POST"
	sorted := sortedString(params)
	sig := midas.Sig(params, orgLoc, *key)
	fmt.Fprintf(stdout, "sorted:      %s\n", sorted)
	fmt.Fprintf(stdout, "sig hashes:  %s%s&secret=%s\n", sorted, suffix, masked(*key))
	fmt.Fprintf(stdout, "sig:         %s\n", sig)
	if *sessionKey == "" {
		return nil
	}
	params["access_token"] = *token
	params["sig"] = sig
	mpSorted := sortedString(params)
	fmt.Fprintf(stdout, "mp sorted:   %s\n", strings.Replace(mpSorted, "access_token="+*token, "access_token="+masked(*token), 1))
	fmt.Fprintf(stdout, "mp hashes:   …%s&session_key=%s\n", suffix, masked(*sessionKey))
	fmt.Fprintf(stdout, "mp_sig:      %s\n", midas.MpSig(params, orgLoc, *sessionKey))
	return nil
}

func v2Why(flagName string) string {
	switch flagName {
	case "path":
		return "use -uri"
	case "env":
		return "2.0 has no sandbox path: the environment is the body's env field, and -key must be that environment's AppKey"
	}
	return "2.0 does not sign the access_token"
}

// signV2 prints the bytes hashed for pay_sig and signature, and both.
func signV2(fs *flag.FlagSet, key, uri, api, sessionKey, body string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch {
	case uri != "" && api != "":
		return usagef("give -uri or -api, not both")
	case uri == "" && api == "":
		return usagef("-uri or -api is required with -v2, e.g. -uri /wxa/game/pay")
	case api != "":
		switch api {
		case midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent, "queryorderinfo":
			uri = "/wxa/game/" + api
		default:
			return usagef("-api %q: want getbalance, pay, cancelpay, present or queryorderinfo", api)
		}
	}
	data := []byte(body)
	if !flagSet(fs, "body") {
		if f, ok := stdin.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				return usagef("no body: pass it with -body or on stdin (midas sign -v2 ... < body.json)")
			}
		}
		var err error
		if data, err = io.ReadAll(stdin); err != nil {
			return fmt.Errorf("reading the body from stdin: %w", err)
		}
	}
	if len(data) == 0 {
		return usagef("the body is empty: pass it with -body or on stdin")
	}
	if bytes.HasSuffix(data, []byte("\n")) {
		fmt.Fprintln(stderr, "midas sign: note: the body ends with a newline, which is signed as part of it; "+
			"a client that sends no newline needs the body without it (use -body, or printf rather than echo)")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		fmt.Fprintf(stderr, "midas sign: note: the body is not a JSON object (%v); it is signed as given\n", err)
	}
	fmt.Fprintf(stdout, "body:              %d bytes, signed exactly as given\n", len(data))
	if env, ok := fields["env"]; ok {
		name := map[string]string{"0": "production", "1": "sandbox"}[string(env)]
		if name == "" {
			name = "unknown: want 0 or 1"
		}
		fmt.Fprintf(stdout, "env:               %s (%s): -key must be this environment's AppKey\n", env, name)
	}
	if bytes.ContainsAny(data, "\r\n\t") {
		fmt.Fprintf(stdout, "body (Go quoted):  %s\n", strconv.Quote(string(data)))
	}
	fmt.Fprintf(stdout, "pay_sig hashes:    %s&%s\n", uri, data)
	fmt.Fprintf(stdout, "pay_sig key:       %s (the AppKey)\n", masked(key))
	fmt.Fprintf(stdout, "pay_sig:           %s\n", midas.PaySig(uri, data, key))
	if sessionKey == "" {
		return nil
	}
	fmt.Fprintf(stdout, "signature hashes:  %s\n", data)
	fmt.Fprintf(stdout, "signature key:     %s (the session_key as its base64 text)\n", masked(sessionKey))
	fmt.Fprintf(stdout, "signature:         %s\n", midas.SessionSig(data, sessionKey))
	return nil
}

func pathOf(path, api, env string) (string, error) {
	if path != "" && api != "" {
		return "", usagef("give -path or -api, not both: -api builds the path from -env")
	}
	if path != "" {
		if !strings.HasPrefix(path, "/") {
			return "", usagef("-path %q must start with /", path)
		}
		return path, nil
	}
	if api == "" {
		return "", usagef("-path or -api is required")
	}
	e, err := parseEnv(env)
	if err != nil {
		return "", usagef("-env: %v", err)
	}
	switch api {
	case midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent:
		return midas.V1Path(e, api), nil
	}
	return "", usagef("-api %q: want getbalance, pay, cancelpay or present", api)
}

func parseEnv(s string) (midas.Env, error) {
	switch strings.ToLower(s) {
	case "", "production", "prod":
		return midas.Production, nil
	case "sandbox":
		return midas.Sandbox, nil
	}
	return 0, fmt.Errorf("%q: want production or sandbox", s)
}

func parseVersion(s string) (midas.Version, error) {
	switch strings.ToLower(s) {
	case "", "1", "1.0", "v1":
		return midas.V1, nil
	case "2", "2.0", "v2":
		return midas.V2, nil
	}
	return 0, fmt.Errorf("%q: want 1 or 2", s)
}

func sortedString(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + params[k]
	}
	return strings.Join(parts, "&")
}
