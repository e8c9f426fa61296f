package midas_test

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A Go block of README.md or a page of docs/: its text, the line its fence is on, and the
// harness a fragment names in the comment line above the fence
// (<!-- harness: NAME -->).
type goBlock struct {
	line    int
	harness string
	code    string
}

var harnessComment = regexp.MustCompile(`^<!-- harness: ([a-z]+) -->$`)

// readmeGoBlocks returns the ```go blocks of text, the file name, in order.
func readmeGoBlocks(t *testing.T, name, text string) []goBlock {
	t.Helper()
	var blocks []goBlock
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		b := goBlock{line: i + 1}
		if i > 0 {
			if m := harnessComment.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				b.harness = m[1]
			}
		}
		var code []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			code = append(code, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: a go block that never ends", name, b.line)
		}
		b.code = strings.Join(code, "\n") + "\n"
		blocks = append(blocks, b)
	}
	return blocks
}

// allDocs are the README and every page of docs/, README first.
func allDocs(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"README.md"}
	for _, p := range pages {
		names = append(names, filepath.ToSlash(p))
	}
	return names
}

// compiledDocs are the files whose Go blocks are built: allDocs but
// docs/observability.md, whose one block is an otelmidas fragment, and
// otelmidas is a module of its own that this module's go.mod does not
// require. That block is otelmidas's ExampleNew, line for line
// (otelmidas's TestObservabilityDocBlockIsTheExample).
func compiledDocs(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, name := range allDocs(t) {
		if name != "docs/observability.md" {
			names = append(names, name)
		}
	}
	return names
}

// docBlock is a Go block and the file it is in.
type docBlock struct {
	file string
	goBlock
}

// docsGoBlocks returns the Go blocks of the named files, in order.
func docsGoBlocks(t *testing.T, names []string) []docBlock {
	t.Helper()
	var all []docBlock
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range readmeGoBlocks(t, name, string(data)) {
			all = append(all, docBlock{name, b})
		}
	}
	return all
}

// packageClause finds a block's package name, if it is a whole file.
var packageClause = regexp.MustCompile(`(?m)^package ([a-z_]+)$`)

// harnesses are what a README fragment may run inside: a function whose
// parameters are the names the README says a fragment of that kind may
// use. The imports are those fragments use; each is referred to once so
// that a fragment need not use them all.
var harnesses = map[string]string{
	// "client": code inside a function of a game's backend that has a
	// client and its config, a request, and the credentials and bytes the
	// signing fragments name.
	"client": `func _(ctx context.Context, c *midas.Client, cfg midas.Config, req midas.PayRequest,
	appID, appSecret, appKey, sessionKey, accessToken string, params map[string]string, body []byte) {
%s}
`,
}

const harnessImports = `import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/gomidas/midas"
)

var (
	_ = context.Background
	_ = json.Marshal
	_ = errors.Is
	_ = fmt.Sprint
	_ = log.Print
	_ = http.NewRequest
	_ = time.Second
	_ = midas.NewClient
)
`

// scratchModule makes a module in a temp dir that requires this one
// through a replace directive, with this module's go.sum, so go resolves
// every requirement from the module cache: no network.
func scratchModule(t *testing.T) string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := fmt.Sprintf(`module example.com/newgame

go 1.22

require (
	github.com/gomidas/midas v0.0.0
	github.com/jarcoal/httpmock v1.4.2
	github.com/stretchr/testify v1.12.1
)

replace github.com/gomidas/midas => %s
`, root)
	write(t, filepath.Join(dir, "go.mod"), gomod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "go.sum"), string(sum))
	return dir
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// goCmd runs the go command in dir offline: the module proxy is off, and
// the module and build caches are the ones this test process uses, which
// hold everything this module's go.mod needs (CI runs go mod download).
func goCmd(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("the go command is not on PATH: ", err)
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	modCache, err := exec.Command(goBin, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(),
		"GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "GOSUMDB=off",
		"GOFLAGS="+modFlags(os.Getenv("GOFLAGS")),
		"GOMODCACHE="+strings.TrimSpace(string(modCache)))
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	return out.String(), err
}

// modFlags is goflags with -mod=mod in place of any -mod setting: the
// scratch module has no vendor directory and writes its own go.sum lines.
func modFlags(goflags string) string {
	flags := []string{"-mod=mod"}
	for _, f := range strings.Fields(goflags) {
		if !strings.HasPrefix(f, "-mod=") {
			flags = append(flags, f)
		}
	}
	return strings.Join(flags, " ")
}

// Every Go block in the README and docs/ compiles: a whole file as it is
// (a program is built, a test file is run), a fragment inside the harness
// it names. No pseudo-code: a block with "..." fails.
func TestREADMEAndDocsGoSnippetsCompile(t *testing.T) {
	blocks := docsGoBlocks(t, compiledDocs(t))
	perFile := map[string]int{}
	for _, b := range blocks {
		perFile[b.file]++
	}
	// The README's programs, tests and fragments, and the fragments of the
	// reference pages: a file that lost its blocks would pass vacuously.
	for name, least := range map[string]int{"README.md": 5, "docs/retries.md": 2, "docs/signing.md": 2, "docs/production.md": 2} {
		if perFile[name] < least {
			t.Errorf("%s has %d go blocks, fewer than the %d this test expects", name, perFile[name], least)
		}
	}
	dir := scratchModule(t)
	where := map[string]string{} // package dir -> file:line
	for i, b := range blocks {
		at := fmt.Sprintf("%s:%d", b.file, b.line)
		if strings.Contains(b.code, "...") {
			t.Errorf("%s: pseudo-code (...) in a go block", at)
		}
		pkgDir := filepath.Join(dir, fmt.Sprintf("snippet%03d", i))
		where[filepath.Base(pkgDir)] = at
		switch m := packageClause.FindStringSubmatch(b.code); {
		case m != nil && b.harness != "":
			t.Errorf("%s: a whole file names a harness", at)
		case m != nil && !gofmted(b.code):
			t.Errorf("%s: a whole file that gofmt would change", at)
		case m != nil && strings.HasSuffix(m[1], "_test"):
			write(t, filepath.Join(pkgDir, "readme_test.go"), b.code)
		case m != nil:
			write(t, filepath.Join(pkgDir, "main.go"), b.code)
		case b.harness == "":
			t.Errorf("%s: a fragment without <!-- harness: NAME --> on the line above its fence", at)
		case harnesses[b.harness] == "":
			t.Errorf("%s: unknown harness %q", at, b.harness)
		default:
			src := "package snippet\n\n" + harnessImports + "\n" + fmt.Sprintf(harnesses[b.harness], b.code)
			write(t, filepath.Join(pkgDir, "snippet.go"), src)
		}
	}
	if t.Failed() {
		return
	}
	// vet type-checks every package, test files included; test then runs
	// the README's tests.
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		if out, err := goCmd(t, dir, nil, args...); err != nil {
			t.Errorf("go %s in a module of the docs' go blocks: %v\n%s", strings.Join(args, " "), err, withDocLines(out, where))
		}
	}
}

// gofmted reports whether gofmt leaves src as it is.
func gofmted(src string) bool {
	out, err := format.Source([]byte(src))
	return err == nil && string(out) == src
}

// withDocLines notes, after each snippetNNN in the go command's output,
// the file and line that block starts on.
func withDocLines(out string, where map[string]string) string {
	return regexp.MustCompile(`snippet\d{3}`).ReplaceAllStringFunc(out, func(s string) string {
		return fmt.Sprintf("%s (%s)", s, where[s])
	})
}

// newcomerFake stands midastest in for api.weixin.qq.com in the newcomer's
// module: a client made without WithHTTPClient sends through
// http.DefaultTransport once it is replaced, so the README program runs
// unchanged. It knows the program's player (100 coins) and one paid item
// order; NEWCOMER_LOSE_PAY=1 makes every answer to the first pay's attempts
// get lost after the pay was applied.
const newcomerFake = `package main

import (
	"net/http"
	"os"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
)

type respond func(*http.Request) (*http.Response, error)

func (f respond) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func init() {
	fake := midastest.New(midastest.Config{
		OfferID: "1450000001", AppKey: "newcomer-production-appkey", SandboxAppKey: os.Getenv("MIDAS_APPKEY"),
		AccessTokens: []string{os.Getenv("MIDAS_ACCESS_TOKEN")},
		Players:      []midastest.Player{{OpenID: "odkx20ENSNa2w5y3g_qOkOvBNM1g", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==", Balance: 100}},
	})
	fake.AddOrderInfo(midas.Sandbox, midastest.OrderInfo{OpenID: "odkx20ENSNa2w5y3g_qOkOvBNM1g",
		OutTradeNo: "item-20261201-0001", BizID: midastest.BizItem, ProductID: "gem_pack_60",
		Paid: true, Delivered: true, PaidAt: time.Now()})
	if os.Getenv("NEWCOMER_LOSE_PAY") == "1" {
		fake.Inject(midastest.Fault{API: midas.APIPay, Drop: true, Applied: true, Times: 1 + midas.DefaultMaxRetries})
	}
	http.DefaultTransport = respond(fake.Respond)
}
`

// A new 2.0 game copies the README's first program into a module of its
// own and runs it: it must work as printed, against midastest, with no
// network beyond the module cache. Once as written, once with every answer
// to the pay lost (the settle path).
func TestNewcomerRunsTheREADMEv2Program(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeGoBlocks(t, "README.md", string(data))
	if len(blocks) == 0 {
		t.Fatal("README.md has no go block")
	}
	prog := blocks[0].code
	for _, want := range []string{"package main", "Version:     midas.V2,", "SessionKey:", "errors.Is(err, midas.ErrOutcomeUnknown)",
		"c.SettlePay(", "RefundBillNo:", "c.QueryOrder("} {
		if !strings.Contains(prog, want) {
			t.Errorf("README.md:%d: the first go block is to be the complete 2.0 program, and lacks %q", blocks[0].line, want)
		}
	}
	if t.Failed() {
		return
	}
	dir := scratchModule(t)
	write(t, filepath.Join(dir, "main.go"), prog)
	write(t, filepath.Join(dir, "zz_fake.go"), newcomerFake)
	secrets := []string{"MIDAS_APPKEY=newcomer-sandbox-appkey", "MIDAS_ACCESS_TOKEN=newcomer-access-token"}
	for _, tc := range []struct {
		name, env, want string
	}{
		{"as written", "NEWCOMER_LOSE_PAY=0", "paid 60 coins; deliver the order\nbalance: 40\n" +
			"returned 20 coins\norder item-20261201-0001: paid true, delivered true\n"},
		// The settle's answer (90012: applied earlier) carries no balance,
		// and the program prints none.
		{"pay answers lost", "NEWCOMER_LOSE_PAY=1", "paid 60 coins; deliver the order\n" +
			"returned 20 coins\norder item-20261201-0001: paid true, delivered true\n"},
	} {
		out, err := goCmd(t, dir, append(secrets, tc.env), "run", ".")
		if err != nil {
			t.Errorf("%s: go run: %v\n%s", tc.name, err, out)
			continue
		}
		if out != tc.want {
			t.Errorf("%s: the README's 2.0 program printed\n%s\nwant\n%s", tc.name, out, tc.want)
		}
	}
}

// headingAnchor is the anchor GitHub gives a Markdown heading.
func headingAnchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// markdownAnchors returns the anchors of the headings of a Markdown file,
// outside fenced blocks (a "# comment" in a shell block is no heading).
func markdownAnchors(text string) map[string]bool {
	heading := regexp.MustCompile(`^#{1,6} (.+)$`)
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if h := heading.FindStringSubmatch(line); h != nil && !fenced {
			anchors[headingAnchor(h[1])] = true
		}
	}
	return anchors
}

// Every link of the README, the CHANGELOG and every page of docs/ reaches
// something: an #anchor a heading of that file, a relative path a file of
// the repository, and path#anchor a heading of that Markdown file. The
// reference moved from the README to docs/, so a link in either direction
// is checked at both ends.
func TestREADMEAndDocsLinksResolve(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	pages := allDocs(t)[1:]
	if len(pages) < 6 {
		t.Fatalf("docs/ has %d pages; the reference alone has errors, retries, cli, signing, production, migrating", len(pages))
	}
	for _, name := range append([]string{"README.md", "CHANGELOG.md"}, pages...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		anchors := markdownAnchors(string(data))
		links := link.FindAllStringSubmatch(string(data), -1)
		for _, l := range links {
			target := l[1]
			file, anchor, _ := strings.Cut(target, "#")
			switch {
			case strings.HasPrefix(target, "http://"), strings.HasPrefix(target, "https://"):
			case file == "":
				if !anchors[anchor] {
					t.Errorf("%s: link to %s, which no heading of it has", name, target)
				}
			default:
				path := filepath.Join(filepath.Dir(name), file)
				other, err := os.ReadFile(path)
				if err != nil {
					if _, serr := os.Stat(path); serr != nil {
						t.Errorf("%s: link to %s: %v", name, target, serr)
					}
					continue // a directory
				}
				if anchor != "" && !markdownAnchors(string(other))[anchor] {
					t.Errorf("%s: link to %s, which no heading of %s has", name, target, path)
				}
			}
		}
		if name == "README.md" && len(links) < 10 {
			t.Errorf("README.md has %d links; its table of contents alone has more", len(links))
		}
	}
	if !markdownAnchors("# a\n```sh\n# b\n```\n")["a"] || markdownAnchors("# a\n```sh\n# b\n```\n")["b"] {
		t.Error("markdownAnchors reads a comment in a fenced block as a heading, or misses a heading")
	}
	if got := headingAnchor("A 2.0 game, start to finish"); got != "a-20-game-start-to-finish" {
		t.Errorf("headingAnchor = %q", got)
	}
	if got := headingAnchor("The `midas` command"); got != "the-midas-command" {
		t.Errorf("headingAnchor = %q", got)
	}
}

var (
	coinCall = regexp.MustCompile(`\.(Pay|Present|CancelPay)\(`)
	errCheck = regexp.MustCompile(`errors\.(Is|As)\(err, [^)]*\)|err [!=]= nil|NoError\(t, err\)`)
)

// unknownNotFirst lists the calls in src that move coins (Pay, Present,
// CancelPay) whose error is first checked for something other than
// midas.ErrOutcomeUnknown: the coins may have moved, and the check that
// comes first decides what the code does.
func unknownNotFirst(src string) []string {
	var bad []string
	for _, loc := range coinCall.FindAllStringIndex(src, -1) {
		rest := src[loc[1]:]
		first := errCheck.FindString(rest)
		if first != "errors.Is(err, midas.ErrOutcomeUnknown)" {
			line := strings.Count(src[:loc[0]], "\n") + 1
			bad = append(bad, fmt.Sprintf("line %d: %s, then %q first", line, src[loc[0]:loc[1]], first))
		}
	}
	return bad
}

// Code a reader copies from the README or docs/ is safe as it stands: every call that moves coins
// checks ErrOutcomeUnknown before anything else (tests against canned or
// fake answers aside), and a push handler that holds the sandbox AppKey
// checks Env, so a production server never delivers a sandbox order.
func TestREADMEAndDocsSnippetsAreSafeToCopy(t *testing.T) {
	coinBlocks := 0
	for _, b := range docsGoBlocks(t, allDocs(t)) {
		if m := packageClause.FindStringSubmatch(b.code); m != nil && strings.HasSuffix(m[1], "_test") {
			continue
		}
		if coinCall.MatchString(b.code) {
			coinBlocks++
		}
		for _, bad := range unknownNotFirst(b.code) {
			t.Errorf("%s:%d: block %s", b.file, b.line, bad)
		}
		if strings.Contains(b.code, "push.Config{") && strings.Contains(b.code, "SandboxAppKey") &&
			!strings.Contains(b.code, "Env != midas.Production") {
			t.Errorf("%s:%d: a push handler with SandboxAppKey and no Env check delivers sandbox orders", b.file, b.line)
		}
	}
	if coinBlocks < 3 {
		t.Errorf("only %d blocks of the README and docs/ move coins; the 2.0 and 1.0 programs and the settle snippet do", coinBlocks)
	}
	if got := unknownNotFirst("p, err := c.Pay(ctx, r)\nif err != nil {}\nif errors.Is(err, midas.ErrOutcomeUnknown) {}"); len(got) != 1 {
		t.Errorf("unknownNotFirst missed an err != nil before the unknown check: %v", got)
	}
}

// The same for the Example functions go doc shows.
func TestExamplesCheckTheUnknownOutcomeFirst(t *testing.T) {
	files, err := filepath.Glob("example*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range unknownNotFirst(string(data)) {
			t.Errorf("%s: %s", name, bad)
		}
	}
}
