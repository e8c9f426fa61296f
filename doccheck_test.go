package midas_test

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	gotoken "go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gomidas/midas"
)

// TestEveryExportedIdentifierIsDocumented fails on an exported identifier
// that go doc would show without a comment, in every library package of the
// module (commands and examples aside): types, functions, methods of exported
// types, constants and variables (a group doc covers its group), fields of
// exported structs and methods of exported interfaces.
func TestEveryExportedIdentifierIsDocumented(t *testing.T) {
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" ||
			path == "cmd" || path == "examples" || path == "scripts") {
			return filepath.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	var checked []string
	for _, dir := range dirs {
		bp, err := build.ImportDir(dir, 0)
		if err != nil || bp.Name == "main" || len(bp.GoFiles) == 0 {
			continue
		}
		fset := gotoken.NewFileSet()
		var files []*ast.File
		for _, name := range bp.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		importPath := "github.com/gomidas/midas"
		if dir != "." {
			importPath += "/" + filepath.ToSlash(dir)
		}
		p, err := doc.NewFromFiles(fset, files, importPath)
		if err != nil {
			t.Fatal(err)
		}
		checked = append(checked, p.ImportPath)
		missing = append(missing, undocumented(p)...)
	}
	if len(checked) == 0 {
		t.Fatal("no package checked")
	}
	t.Logf("checked %s", strings.Join(checked, ", "))
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("%d exported identifiers have no doc comment:\n\t%s", len(missing), strings.Join(missing, "\n\t"))
	}
}

// undocumented lists the exported identifiers of p that have no comment, as
// pkg.Name, pkg.Type.Method or pkg.Type.Field.
func undocumented(p *doc.Package) []string {
	var out []string
	add := func(name string) { out = append(out, p.Name+"."+name) }
	if strings.TrimSpace(p.Doc) == "" {
		add("(package doc)")
	}
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			if strings.TrimSpace(v.Doc) != "" {
				continue // a group doc covers the group
			}
			for _, spec := range v.Decl.Specs {
				vs := spec.(*ast.ValueSpec)
				if hasText(vs.Doc) || hasText(vs.Comment) {
					continue
				}
				for _, n := range vs.Names {
					if n.IsExported() {
						add(n.Name)
					}
				}
			}
		}
	}
	funcs := func(prefix string, fs []*doc.Func) {
		for _, f := range fs {
			if strings.TrimSpace(f.Doc) == "" {
				add(prefix + f.Name)
			}
		}
	}
	values(p.Consts)
	values(p.Vars)
	funcs("", p.Funcs)
	for _, typ := range p.Types {
		if strings.TrimSpace(typ.Doc) == "" {
			add(typ.Name)
		}
		values(typ.Consts)
		values(typ.Vars)
		funcs("", typ.Funcs)
		funcs(typ.Name+".", typ.Methods)
		for _, spec := range typ.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != typ.Name {
				continue
			}
			var list *ast.FieldList
			switch tt := ts.Type.(type) {
			case *ast.StructType:
				list = tt.Fields
			case *ast.InterfaceType:
				list = tt.Methods
			}
			if list == nil {
				continue
			}
			for _, field := range list.List {
				if len(field.Names) == 0 || hasText(field.Doc) || hasText(field.Comment) {
					continue // embedded, or documented
				}
				for _, n := range field.Names {
					if n.IsExported() {
						add(typ.Name + "." + n.Name)
					}
				}
			}
		}
	}
	return out
}

func hasText(g *ast.CommentGroup) bool { return g != nil && strings.TrimSpace(g.Text()) != "" }

// The checker itself: it must see what it is meant to see.
func TestUndocumentedFinds(t *testing.T) {
	const src = `// Package p is documented.
package p

// Documented is.
type Documented struct {
	A int // a
	// B is.
	B, C int
	D int
	e int
}

type Bare int

func (Bare) String() string { return "" }

// Group doc covers both.
const (
	X = 1
	Y = 2
)

const (
	Z Bare = 3 // z
	W Bare = 4
)

var V = 1

// F is.
func F() {}

func G() {}

// I is.
type I interface {
	M()
	// N is.
	N()
}
`
	fset := gotoken.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	p, err := doc.NewFromFiles(fset, []*ast.File{f}, "example.com/p")
	if err != nil {
		t.Fatal(err)
	}
	got := undocumented(p)
	sort.Strings(got)
	want := []string{"p.Bare", "p.Bare.String", "p.Documented.D", "p.G", "p.I.M", "p.V", "p.W"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("undocumented = %v, want %v", got, want)
	}
}

// An unknown outcome is settled, never refunded: no doc, message or example
// may send users to CancelPay to resolve one (the refund can find nothing
// while the pay is still on its way, and then the pay lands).
func TestDocsNeverAdviseRefundingAnUnknownOutcome(t *testing.T) {
	advice := []string{"or refund it", "or refund a pay", "refund a pay with", "then means it never happened", "cancelpay; 90000"}
	pages, err := filepath.Glob("docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("docs/*.md: %v, %d pages", err, len(pages))
	}
	for _, path := range append([]string{"README.md", "doc.go", "pay.go", "present.go", "cancel.go", "errors.go",
		"cmd/midas/main.go", "examples/httpmock/shop.go", "examples/quickstart/main.go"}, pages...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ToLower(strings.Join(strings.Fields(string(data)), " "))
		text = strings.ReplaceAll(text, "// ", "")
		for _, a := range advice {
			if i := strings.Index(text, a); i >= 0 {
				t.Errorf("%s advises refunding an unknown outcome: %q", path, text[max(0, i-80):min(len(text), i+80)])
			}
		}
	}
	msg := (&midas.OutcomeUnknownError{API: midas.APIPay, BillNo: "b1", Attempts: 3, Err: io.ErrUnexpectedEOF}).Error()
	if !strings.Contains(msg, "never with a refund") {
		t.Errorf("the error does not say never to refund: %s", msg)
	}
}
