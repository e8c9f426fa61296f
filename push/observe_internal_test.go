package push

import (
	"os"
	"regexp"
	"testing"
)

// Every rejection reason the handler can give maps to its own Reject*
// word, never to RejectOther: a new reason must be added to rejectReason.
func TestEveryRejectionHasAReason(t *testing.T) {
	src, err := os.ReadFile("handler.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:reject|unread)\(ans\w+, (?:fmt\.Sprintf\()?"([^"]+)"|reason: "([^"]+)"`)
	found := re.FindAllStringSubmatch(string(src), -1)
	if len(found) < 20 {
		t.Fatalf("found only %d rejection reasons in handler.go: has the way they are written changed?", len(found))
	}
	for _, m := range found {
		reason := m[1] + m[2]
		if reason == "URL check: no echostr" { // a GET, which is not observed
			continue
		}
		if got := rejectReason(&rejection{reason: reason}); got == RejectOther {
			t.Errorf("rejection %q maps to %q", reason, got)
		}
	}
}
