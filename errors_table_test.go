package midas

import (
	"errors"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sentinelName is the Go name of each errcode sentinel, for docs/errors.md and
// the doc comments, which name them.
var sentinelName = map[error]string{
	ErrSystemBusy: "ErrSystemBusy", ErrOrderNotFound: "ErrOrderNotFound", ErrMpSigInvalid: "ErrMpSigInvalid",
	ErrSessionExpired: "ErrSessionExpired", ErrSigInvalid: "ErrSigInvalid", ErrOrderExists: "ErrOrderExists",
	ErrInsufficientBalance: "ErrInsufficientBalance", ErrOrderConfirmed: "ErrOrderConfirmed",
	ErrOrderRefunded: "ErrOrderRefunded", ErrOrderProcessing: "ErrOrderProcessing", ErrNoPermission: "ErrNoPermission",
	ErrInvalidParam: "ErrInvalidParam", ErrAccessTokenInvalid: "ErrAccessTokenInvalid",
}

// codesOf lists the errcodes of table t that match sentinel s, in table
// order, and their meanings.
func codesOf(t errcodeTable, s error) (codes []string, meanings []string) {
	for _, row := range t {
		if row.err == s {
			codes = append(codes, strconv.Itoa(row.code))
			meanings = append(meanings, row.meaning)
		}
	}
	return codes, meanings
}

// The errcode table of docs/errors.md (the README links to it) says, for
// each sentinel, the codes it matches in 1.0 and in 2.0 and what they mean,
// as the tables do: same codes, every table meaning in the meaning column,
// no sentinel missing or extra.
func TestDocsErrcodeTableFollowsTheTables(t *testing.T) {
	data, err := os.ReadFile("docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "| 1.0 errcode | 2.0 errcode | sentinel | meaning |")
	if start < 0 {
		t.Fatal("docs/errors.md has no errcode table with columns 1.0 errcode, 2.0 errcode, sentinel, meaning")
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(text[start:], "\n") {
		if i < 2 {
			continue // header and rule
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 {
			t.Fatalf("short row: %s", line)
		}
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		name := strings.Trim(cells[2], "`")
		var s error
		for e, n := range sentinelName {
			if n == name {
				s = e
			}
		}
		if s == nil {
			t.Errorf("docs/errors.md row for %q, which is no errcode sentinel", name)
			continue
		}
		seen[name] = true
		for col, table := range []errcodeTable{v1Errcodes, v2Errcodes} {
			codes, meanings := codesOf(table, s)
			want := strings.Join(codes, ", ")
			if want == "" {
				want = "—"
			}
			if cells[col] != want {
				t.Errorf("%s: docs/errors.md's %s column says %q, the table %q", name, Version(col), cells[col], want)
			}
			for _, m := range meanings {
				// A row's meaning may say "2.0: " before a text that differs.
				if !strings.Contains(cells[3], m) && !strings.Contains(cells[3], strings.TrimSuffix(m, " (a 1.0 errcode, on no 2.0 page)")) {
					t.Errorf("%s: docs/errors.md's meaning %q lacks the %s table's %q", name, cells[3], Version(col), m)
				}
			}
		}
	}
	for _, n := range sentinelName {
		if !seen[n] {
			t.Errorf("docs/errors.md's errcode table has no row for %s", n)
		}
	}
}

// Each sentinel's doc comment says which errcodes it matches in 1.0 and in
// 2.0, exactly as the tables map them.
func TestSentinelCommentsFollowTheTables(t *testing.T) {
	fset := gotoken.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && vs.Comment != nil {
			comments[vs.Names[0].Name] = vs.Comment.Text()
		}
		return true
	})
	// "1.0: CODES; 2.0: CODES", each code maybe followed by a note in
	// parentheses; the access_token codes are said in the sentinel's own doc.
	notes := regexp.MustCompile(` \([^)]*\)`)
	for s, name := range sentinelName {
		if s == ErrAccessTokenInvalid {
			continue
		}
		var want []string
		for _, v := range []Version{V1, V2} {
			codes, _ := codesOf(errcodesOf(v), s)
			if len(codes) == 0 {
				codes = []string{"none"}
			}
			want = append(want, v.String()+": "+strings.Join(codes, ", "))
		}
		got := notes.ReplaceAllString(strings.TrimSpace(comments[name]), "")
		if got != strings.Join(want, "; ") {
			t.Errorf("%s's comment says %q, the tables %q", name, got, strings.Join(want, "; "))
		}
	}
	codes, _ := codesOf(v1Errcodes, ErrAccessTokenInvalid)
	codes2, _ := codesOf(v2Errcodes, ErrAccessTokenInvalid)
	if strings.Join(codes, ",") != "40001,40014,42001" || strings.Join(codes2, ",") != "40001,40014,42001" {
		t.Errorf("ErrAccessTokenInvalid's doc names 40001, 40014 and 42001 in both versions; tables: %v, %v", codes, codes2)
	}
}

// Every row of both tables is what APIError matches and says; codes outside
// them match nothing and have no meaning.
func TestAPIErrorReadsItsVersionsTable(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		for _, row := range errcodesOf(v) {
			e := &APIError{API: APIPay, Code: row.code, Version: v}
			if !errors.Is(e, row.err) {
				t.Errorf("%s %d does not match %v", v, row.code, row.err)
			}
			if e.Meaning() != row.meaning {
				t.Errorf("%s %d: Meaning %q, table %q", v, row.code, e.Meaning(), row.meaning)
			}
			if !strings.Contains(e.Error(), "("+row.meaning+")") {
				t.Errorf("%s %d: Error %q lacks %q", v, row.code, e.Error(), row.meaning)
			}
			for s := range sentinelName {
				if s != row.err && errors.Is(e, s) {
					t.Errorf("%s %d also matches %v", v, row.code, s)
				}
			}
		}
		e := &APIError{API: APIPay, Code: 12345, Version: v}
		if e.Meaning() != "" {
			t.Errorf("%s 12345 has a meaning: %q", v, e.Meaning())
		}
		for s := range sentinelName {
			if errors.Is(e, s) {
				t.Errorf("%s 12345 matches %v", v, s)
			}
		}
	}
	// A hand-made APIError of no known version reads 1.0's table.
	if e := (&APIError{Code: CodeSessionExpired, Version: Version(9)}); !errors.Is(e, ErrSessionExpired) || e.Meaning() != CodeText(CodeSessionExpired) {
		t.Errorf("Version(9) 90010: Is %v, Meaning %q", errors.Is(e, ErrSessionExpired), e.Meaning())
	}
	if CodeText(CodeSessionExpired) != "player not logged in or session expired" || CodeText(90019) != "" {
		t.Errorf("CodeText reads 1.0's table: %q, %q", CodeText(CodeSessionExpired), CodeText(90019))
	}
}
