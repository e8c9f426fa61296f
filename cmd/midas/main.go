// Command midas signs, serves and calls the WeChat Mini Game Midas APIs.
//
//	midas sign     show how a request is signed (why did I get 90011?)
//	midas serve    run a fake Midas server on loopback for tests
//	midas balance | pay | cancel | present   call an API and print the answer as JSON
//
// Run "midas COMMAND -h" for the flags of each.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"

	"github.com/gomidas/midas"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `midas: sign, serve and call the WeChat Mini Game Midas APIs

Usage:
  midas sign [flags] key=value ...    print the sorted string, the hashed string and sig / mp_sig
  midas serve [flags]                 run a fake Midas server on loopback
  midas balance [flags]               getbalance
  midas pay [flags]                   pay (deduct coins)
  midas cancel [flags]                cancelpay (refund a pay)
  midas present [flags]               present (gift coins)

The API commands read MIDAS_APPID, MIDAS_OFFER_ID, MIDAS_APPKEY, MIDAS_ENV
(production or sandbox) and MIDAS_ACCESS_TOKEN or MIDAS_APPSECRET, unless
flags say otherwise. Run "midas COMMAND -h" for a command's flags.
`

// run is the whole command, apart from the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "sign":
		err = runSign(rest, stdout, stderr)
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "balance", "pay", "cancel", "present":
		err = runAPI(ctx, cmd, rest, stdout, stderr, getenv)
	default:
		fmt.Fprintf(stderr, "midas: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "midas "+cmd+": "+explain(err))
	return 1
}

// errUsage marks an error already reported by the flag package.
var errUsage = errors.New("usage")

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// explain puts an error in plain words, with the errcode and its meaning.
func explain(err error) string {
	var apiErr *midas.APIError
	if errors.As(err, &apiErr) {
		meaning := midas.CodeText(apiErr.Code)
		if meaning == "" {
			meaning = "undocumented errcode"
		}
		s := fmt.Sprintf("errcode %d: %s", apiErr.Code, meaning)
		if apiErr.Message != "" {
			s += fmt.Sprintf(" (WeChat says %q)", apiErr.Message)
		}
		if errors.Is(err, midas.ErrOutcomeUnknown) {
			s += "; the outcome is unknown: call again with the same bill_no, or cancel it"
		}
		return s
	}
	return err.Error()
}

func runSign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "the Midas AppKey (required)")
	path := fs.String("path", "", "the path called, e.g. /cgi-bin/midas/sandbox/pay (or use -api and -env)")
	api := fs.String("api", "", "getbalance, pay, cancelpay or present, to build the path with -env")
	env := fs.String("env", "production", "production or sandbox, with -api")
	sessionKey := fs.String("session-key", "", "the player's session_key, to compute mp_sig")
	token := fs.String("access-token", "", "the access_token, to compute mp_sig")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: midas sign -key APPKEY (-path PATH | -api API [-env ENV]) [-session-key K -access-token T] key=value ...

Prints the parameters sorted as they are signed, the string hashed for sig
(and for mp_sig when -session-key is given) with the secret masked, and the
signatures. Pass the body fields as key=value, numbers in decimal; sig,
mp_sig and access_token among them are ignored, as the signer ignores them.

Example (the published worked example):
  midas sign -key zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u -path /cgi-bin/midas/getbalance \
    -session-key V7Q38/i2KXaqrQyl2Yx9Hg== -access-token ACCESSTOKEN \
    openid=odkx20ENSNa2w5y3g_qOkOvBNM1g appid=wx1234567 offer_id=12345678 ts=1507530737 zone_id=1 pf=android

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *key == "" {
		return errors.New("-key is required")
	}
	orgLoc, err := pathOf(*path, *api, *env)
	if err != nil {
		return err
	}
	params := map[string]string{}
	for _, kv := range fs.Args() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("parameter %q is not key=value", kv)
		}
		params[k] = v
	}
	if len(params) == 0 {
		return errors.New("no parameters: pass the body fields as key=value")
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
	if *token == "" {
		return errors.New("-access-token is required with -session-key: mp_sig covers it")
	}
	params["access_token"] = *token
	params["sig"] = sig
	mpSorted := sortedString(params)
	fmt.Fprintf(stdout, "mp sorted:   %s\n", strings.Replace(mpSorted, "access_token="+*token, "access_token="+masked(*token), 1))
	fmt.Fprintf(stdout, "mp hashes:   …%s&session_key=%s\n", suffix, masked(*sessionKey))
	fmt.Fprintf(stdout, "mp_sig:      %s\n", midas.MpSig(params, orgLoc, *sessionKey))
	return nil
}

func pathOf(path, api, env string) (string, error) {
	if path != "" {
		if !strings.HasPrefix(path, "/") {
			return "", fmt.Errorf("-path %q must start with /", path)
		}
		return path, nil
	}
	if api == "" {
		return "", errors.New("-path or -api is required")
	}
	e, err := parseEnv(env)
	if err != nil {
		return "", err
	}
	switch api {
	case midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent:
		return e.Path(api), nil
	}
	return "", fmt.Errorf("-api %q: want getbalance, pay, cancelpay or present", api)
}

func parseEnv(s string) (midas.Env, error) {
	switch strings.ToLower(s) {
	case "", "production", "prod":
		return midas.Production, nil
	case "sandbox":
		return midas.Sandbox, nil
	}
	return 0, fmt.Errorf("environment %q: want production or sandbox", s)
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

// masked hides a secret but shows its length and a short fingerprint, enough
// to tell whether two machines hold the same key.
func masked(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("<%d chars, sha256 %x>", len(s), sum[:4])
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
