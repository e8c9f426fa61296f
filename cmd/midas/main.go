// Command midas signs, serves and calls the WeChat Mini Game Midas APIs.
//
//	midas sign     show how a request is signed (why did I get 90011?)
//	midas serve    run a fake Midas server on loopback for tests
//	midas balance | pay | cancel | present   call an API and print the answer as JSON
//	midas queryorder   look up a top-up or item order by out_trade_no (2.0)
//
// Run "midas COMMAND -h" for the flags of each.
//
// # Exit codes
//
// The exit code tells a script what happened, so that it never has to read
// the message:
//
//	0  success
//	1  failed with no errcode from WeChat (network, HTTP status, unreadable
//	   answer): the call did not take effect (when it may have, exit 4)
//	2  bad input or usage: a flag, a missing setting, an unexpected argument,
//	   a request field the SDK refuses; nothing was sent
//	3  refused: WeChat answered an errcode (to the call, or to stable_token
//	   for the access_token); the coins did not move
//	4  outcome unknown: the coins may or may not have moved; settle by running
//	   the same command again with -settle (same flags) until it exits 0,
//	   never refund it; an exit 3 is final only from a -settle run begun 10
//	   minutes (midas.LateLandingWindow) after the unknown one
//	5  already applied earlier under this id: pay, present or cancel answered
//	   90012 (1.0 cancel: 90015) for a bill_no (2.0: refund bill_no) used
//	   before; the coins moved then, not now. Never repeat it under a new id;
//	   -settle reads it as the earlier call's success
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
	"strings"
	"syscall"

	"github.com/gomidas/midas"
)

// Exit codes: see the package doc and usage.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitRefused = 3
	exitUnknown = 4
	// exitAlreadyApplied: the id was applied by an earlier call. Never
	// exitRefused: a script that read "the coins did not move" would charge
	// (or refund) again under a new id.
	exitAlreadyApplied = 5
)

func main() {
	// SIGTERM (docker stop, kill, systemd) ends midas serve as Ctrl-C does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

const exitCodes = `Exit codes:
  0  success
  1  failed with no errcode from WeChat (network, HTTP status, unreadable
     answer): the call did not take effect (when it may have, exit 4)
  2  bad input or usage: a flag, a missing setting, an unexpected argument,
     a request field the SDK refuses; nothing was sent
  3  refused: WeChat answered an errcode (to the call, or to stable_token
     for the access_token); the coins did not move
  4  outcome unknown (pay, cancel, present): the coins may or may not have
     moved; run the same command again with -settle (same flags) until it
     exits 0, never refund it; an exit 3 is final only from a -settle run
     begun 10 minutes after the unknown one (a held attempt may land later)
  5  already applied earlier under this id (pay, cancel, present): 90012
     (1.0 cancel: 90015) for a bill_no (2.0: refund bill_no) used before;
     the coins moved then, not now. Never repeat it under a new id; the
     same command with -settle reads it as the earlier call's success
`

const usage = `midas: sign, serve and call the WeChat Mini Game Midas APIs

Usage:
  midas sign [flags] key=value ...    print the sorted string, the hashed string and sig / mp_sig
  midas sign -v2 [flags]              print the bytes hashed and pay_sig / signature (2.0)
  midas serve [flags]                 run a fake Midas server on loopback
  midas balance [flags]               getbalance
  midas pay [flags]                   pay (deduct coins)
  midas cancel [flags]                cancelpay (refund a pay)
  midas present [flags]               present (gift coins)
  midas queryorder [flags]            queryorderinfo (2.0: an order's state by out_trade_no)

The API commands read MIDAS_APPID, MIDAS_OFFER_ID, MIDAS_APPKEY, MIDAS_ENV
(production or sandbox), MIDAS_VERSION (1 or 2), MIDAS_BASE_URL and
MIDAS_ACCESS_TOKEN or MIDAS_APPSECRET, unless flags say otherwise. Run
"midas COMMAND -h" for a command's flags.

` + exitCodes

// run is the whole command, apart from the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage) // a usage error: nothing asked for help
		return exitUsage
	}
	if isHelp(args[0]) || args[0] == "help" {
		if args[0] == "help" && len(args) > 1 && !isHelp(args[1]) {
			args = []string{args[1], "-h"} // "midas help pay" is "midas pay -h"
		} else {
			// Asked-for help is the output: stdout, exit 0, so "midas -h | less" works.
			fmt.Fprint(stdout, usage)
			return exitOK
		}
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "sign":
		err = runSign(rest, stdin, stdout, stderr)
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "balance", "pay", "cancel", "present", "queryorder":
		err = runAPI(ctx, cmd, rest, stdout, stderr, getenv)
	default:
		fmt.Fprintf(stderr, "midas: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	var help *helpError
	if errors.As(err, &help) {
		fmt.Fprint(stdout, help.text)
		return exitOK
	}
	code := exitCode(err)
	if code != exitOK && !errors.Is(err, errReported) {
		fmt.Fprintln(stderr, "midas "+cmd+": "+explain(cmd, err))
	}
	return code
}

// exitCode classifies err. An unknown outcome is checked first: it must never
// read as a refusal or a failure, since the coins may have moved.
func exitCode(err error) int {
	var apiErr *midas.APIError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, midas.ErrOutcomeUnknown):
		return exitUnknown
	case errors.Is(err, errReported), errors.As(err, new(*usageError)), errors.Is(err, midas.ErrInvalidRequest):
		return exitUsage
	case errors.As(err, &apiErr) && apiErr.AlreadyApplied():
		return exitAlreadyApplied
	case errors.As(err, &apiErr):
		return exitRefused
	}
	return exitFailed
}

// errReported marks a usage error the flag package already printed.
var errReported = errors.New("usage error already reported")

// usageError is bad input found by the command itself: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// helpError carries the help a subcommand's -h asked for: run prints it on
// stdout and exits 0 (it matches flag.ErrHelp). Help that follows a bad flag
// stays on stderr with exit 2.
type helpError struct{ text string }

func (e *helpError) Error() string { return "help requested" }
func (e *helpError) Unwrap() error { return flag.ErrHelp }

// parse parses flags; a bad flag has already been reported with the usage.
// What the flag set prints (its Usage writes to fs.Output()) is held until
// the outcome is known: asked-for help goes to stdout, the rest to the
// flag set's own output.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	var buf strings.Builder
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		return &helpError{text: buf.String()}
	}
	io.WriteString(out, buf.String())
	if err != nil {
		return errReported
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments ("--" ends the flags), and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// hints say what an errcode usually means for someone at a terminal.
var hints = map[error]string{
	midas.ErrSigInvalid: "usually the AppKey does not match the environment or the version: sandbox and " +
		"production have different AppKeys (-appkey or MIDAS_APPKEY with -env or MIDAS_ENV), and a 2.0 game's " +
		"AppKey and offer_id do not work on 1.0 paths (-version or MIDAS_VERSION)",
	midas.ErrMpSigInvalid: "the session signature is wrong: -session-key must be the player's current " +
		"session_key, as wx.login gave it",
	midas.ErrSessionExpired: "the player's session has ended: the player must log in again (wx.login) for a new session_key",
	midas.ErrAccessTokenInvalid: "the access_token was rejected: get a new one (-access-token or MIDAS_ACCESS_TOKEN), " +
		"or let midas fetch one with -appsecret or MIDAS_APPSECRET",
	midas.ErrNoPermission: "check that -appid and -offer-id (MIDAS_APPID, MIDAS_OFFER_ID) belong together",
}

// settleHint follows an unknown outcome (exit 4).
var settleHint = fmt.Sprintf("The coins may or may not have moved. Run the same command again with -settle (same flags) "+
	"until it exits 0; never refund it. An exit 3 (refused) is final only from a -settle run begun %v after this one: "+
	"an attempt held inside WeChat may still land before then.", midas.LateLandingWindow)

// alreadyAppliedHint follows the errcode of a call whose id was applied
// earlier (exit 5).
const alreadyAppliedHint = "already applied earlier under this id: the coins moved then, not now. " +
	"Do not repeat it under a new id; run the same command with -settle to read it as the earlier call's success"

// flagOf names where the user sets each field the SDK may refuse.
var flagOf = map[string]string{
	"AppID": "-appid or MIDAS_APPID", "OfferID": "-offer-id or MIDAS_OFFER_ID",
	"AppKey": "-appkey or MIDAS_APPKEY", "Env": "-env or MIDAS_ENV", "Version": "-version or MIDAS_VERSION",
	"AccessToken": "-access-token or MIDAS_ACCESS_TOKEN", "AppSecret": "-appsecret or MIDAS_APPSECRET",
	"WithBaseURL": "-base-url or MIDAS_BASE_URL", "WithMaxRetries": "-retries",
	"OpenID": "-openid", "SessionKey": "-session-key", "ZoneID": "-zone", "PF": "-pf", "UserIP": "-user-ip",
	"BillNo": "-bill-no", "Amount": "-amount", "Count": "-count", "PayItem": "-pay-item", "AppRemark": "-remark",
	"RefundBillNo": "-refund-bill-no", "RechargeCenter": "-recharge-center",
	"OutTradeNo": "-out-trade-no", "Kind": "-kind",
}

// explain puts an error in plain words, once: the command's name is the only
// prefix, and the API and bill_no the SDK put in its messages are said once.
func explain(cmd string, err error) string {
	var unknown *midas.OutcomeUnknownError
	if errors.As(err, &unknown) {
		s := fmt.Sprintf("bill_no %s: outcome unknown after %d attempt(s): %s", unknown.BillNo, unknown.Attempts, cause(unknown.Err))
		return s + "\n" + settleHint
	}
	if errors.Is(err, midas.ErrOutcomeUnknown) {
		return stripPrefixes(err.Error()) + "\n" + settleHint
	}
	var apiErr *midas.APIError
	if errors.As(err, &apiErr) {
		s := ""
		if apiErr.API != apiName(cmd) {
			s = apiErr.API + ": "
		}
		if apiErr.BillNo != "" {
			s += "bill_no " + apiErr.BillNo + ": "
		}
		if apiErr.AlreadyApplied() {
			return s + cause(apiErr) + ": " + alreadyAppliedHint
		}
		return s + cause(apiErr)
	}
	if errors.Is(err, midas.ErrInvalidRequest) {
		return invalidText(err)
	}
	return stripPrefixes(err.Error())
}

// cause describes an attempt's error without the SDK's prefixes.
func cause(err error) string {
	var apiErr *midas.APIError
	if !errors.As(err, &apiErr) {
		return stripPrefixes(err.Error())
	}
	// The meaning is the SDK's, in the version that answered.
	meaning := apiErr.Meaning()
	if meaning == "" {
		meaning = "undocumented errcode"
	}
	var hint string
	for s, h := range hints {
		// An errcode matches one sentinel at most.
		if apiErr.Is(s) {
			hint = h
		}
	}
	s := fmt.Sprintf("errcode %d: %s", apiErr.Code, meaning)
	if apiErr.Message != "" {
		s += fmt.Sprintf(" (WeChat says %q)", apiErr.Message)
	}
	if hint != "" {
		s += ": " + hint
	}
	return s
}

// stripPrefixes removes the "midas: API bill_no=X: " prefixes of the SDK's
// messages, which the command's own prefix already says.
func stripPrefixes(msg string) string {
	out := make([]string, 0, 4)
	for _, part := range strings.Split(msg, "midas: ") {
		api, after, ok := strings.Cut(part, ": ")
		if ok && isAPIPrefix(api) {
			part = after
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return strings.Join(out, "")
}

func isAPIPrefix(s string) bool {
	api, _, _ := strings.Cut(s, " bill_no=")
	switch api {
	case midas.APIGetBalance, midas.APIPay, midas.APICancelPay, midas.APIPresent, midas.APIQueryOrder, midas.APIStableToken:
		return true
	}
	return false
}

// invalidText names the flag or variable that sets each field the SDK
// refused, read from its *midas.InvalidRequestError; NewClient's error
// lists every setting it refused.
func invalidText(err error) string {
	var many interface{ Unwrap() []error }
	if errors.As(err, &many) {
		var problems []string
		for _, e := range many.Unwrap() {
			var ire *midas.InvalidRequestError
			if errors.As(e, &ire) {
				problems = append(problems, fieldText(ire))
			}
		}
		if len(problems) > 0 {
			return "invalid settings: " + strings.Join(problems, "; ")
		}
	}
	var ire *midas.InvalidRequestError
	if errors.As(err, &ire) {
		return fieldText(ire)
	}
	return stripPrefixes(err.Error())
}

// fieldText says "invalid FLAG (Field): reason" when a flag sets the field,
// else "invalid request: Field: reason".
func fieldText(e *midas.InvalidRequestError) string {
	f, known := flagOf[e.Field]
	if !known {
		return "invalid request: " + e.Field + ": " + e.Reason
	}
	return "invalid " + f + " (" + e.Field + "): " + e.Reason
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
