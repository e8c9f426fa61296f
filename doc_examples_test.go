package midas_test

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// codeLines is src's non-blank lines with their indentation removed, so a
// block quoted in a doc comment compares equal to the code it was copied
// from whatever its depth.
func codeLines(src string) []string {
	var out []string
	for _, l := range strings.Split(src, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// docCodeBlocks is the indented blocks of a doc comment's text.
func docCodeBlocks(text string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "  "):
			cur = append(cur, l)
		case strings.TrimSpace(l) == "" && len(cur) > 0:
			cur = append(cur, l) // a blank line inside a block
		default:
			flush()
		}
	}
	flush()
	return blocks
}

// containsRun reports whether want occurs in have as consecutive lines.
func containsRun(have, want []string) bool {
	for i := 0; i+len(want) <= len(have); i++ {
		match := true
		for j := range want {
			if have[i+j] != want[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// The package doc shows only code that runs: every code block in it is
// copied, line for line, from an Example file, whose examples go test runs
// and checks. A doc example can then never fail silently, as one that
// left out the 2.0 SessionKey once did.
func TestPackageDocCodeIsCopiedFromExamples(t *testing.T) {
	f, err := parser.ParseFile(gotoken.NewFileSet(), "doc.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	blocks := docCodeBlocks(f.Doc.Text())
	if len(blocks) < 2 {
		t.Fatalf("the package doc has %d code blocks; want the 2.0 client and its spend", len(blocks))
	}
	files, err := filepath.Glob("example*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatal("no example files", err)
	}
	var examples []string
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		examples = append(examples, codeLines(string(data))...)
	}
	for _, b := range blocks {
		if strings.Contains(b, "...") {
			t.Errorf("a doc block has pseudo-code (...):\n%s", b)
		}
		if !containsRun(examples, codeLines(b)) {
			t.Errorf("this doc block is not copied from an Example file (example*_test.go):\n%s", b)
		}
	}
}

func TestContainsRun(t *testing.T) {
	have := codeLines("a\n\tb\n\n c\nd")
	if !containsRun(have, codeLines("b\nc")) || containsRun(have, codeLines("b\nd")) || containsRun(have, codeLines("d\ne")) {
		t.Error("containsRun does not compare runs of lines")
	}
	if got := docCodeBlocks("text\n\tx := 1\n\n\ty := 2\nmore\n\tz\n"); len(got) != 2 {
		t.Errorf("docCodeBlocks found %d blocks, want 2: %q", len(got), got)
	}
}
