package midas_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gomidas/midas"
)

// The version a user reads is one version: ModuleVersion, the newest
// release in CHANGELOG.md, and the release the README names.
func TestModuleVersionIsTheChangelogsAndREADMEs(t *testing.T) {
	if !regexp.MustCompile(`^v0\.\d+\.\d+$`).MatchString(midas.ModuleVersion) {
		t.Fatalf("ModuleVersion %q is not a v0 semantic version", midas.ModuleVersion)
	}
	changelog, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+)\] - `).FindSubmatch(changelog)
	if m == nil {
		t.Fatal("CHANGELOG.md has no release heading (## [X.Y.Z] - date)")
	}
	if "v"+string(m[1]) != midas.ModuleVersion {
		t.Errorf("CHANGELOG.md's newest release is %s, ModuleVersion %s", m[1], midas.ModuleVersion)
	}
	for _, section := range []string{"### Added", "### Changed"} {
		if !strings.Contains(string(changelog), section) {
			t.Errorf("CHANGELOG.md has no %q section", section)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Release **" + midas.ModuleVersion + "**", "This is release **" + midas.ModuleVersion + "**",
		"go get github.com/gomidas/midas@" + midas.ModuleVersion, "[CHANGELOG.md](CHANGELOG.md)"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
}
