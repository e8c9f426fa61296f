package otelmidas_test

import (
	"log"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/otelmidas"
	"github.com/gomidas/midas/push"
)

// One Observer for a process's clients, token source and push handler.
func ExampleNew() {
	var (
		appID, appSecret string
		cfg              midas.Config
		pushCfg          push.Config
		handlers         push.Handlers
	)
	obs, err := otelmidas.New() // global providers; or otelmidas.WithTracerProvider / WithMeterProvider
	if err != nil {
		log.Fatal(err)
	}
	tokens, err := midas.NewStableTokenSource(appID, appSecret, midas.WithObserver(obs))
	if err != nil {
		log.Fatal(err)
	}
	client, err := midas.NewClient(cfg, midas.WithObserver(obs))
	if err != nil {
		log.Fatal(err)
	}
	pushes, err := push.NewHandler(pushCfg, handlers, push.WithObserver(obs))
	if err != nil {
		log.Fatal(err)
	}
	_, _, _ = tokens, client, pushes
}

// The Go block of docs/observability.md is ExampleNew's, line for line,
// so it compiles as the example does.
func TestObservabilityDocBlockIsTheExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(example)
	body = body[strings.Index(body, "func ExampleNew() {"):]
	body = body[:strings.Index(body, "\n}\n")]
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) != 1 {
		t.Fatalf("docs/observability.md has %d go blocks, want the one this test checks", len(blocks))
	}
	at := 0
	for _, line := range strings.Split(strings.TrimSpace(blocks[0][1]), "\n") {
		i := strings.Index(body[at:], "\t"+line+"\n") // one tab deeper in the function
		if i < 0 {
			t.Errorf("docs/observability.md line %q is not the next line of ExampleNew", line)
			continue
		}
		at += i + len(line)
	}
}
