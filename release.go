package midas

// ModuleVersion is the release of github.com/gomidas/midas this source is,
// as tagged in the repository (CHANGELOG.md lists what each release
// changed). Before v1.0.0 a minor release (v0.x.0) may change exported API
// and is described under "Changed" and "Removed" in CHANGELOG.md; a patch
// release (v0.x.y) only fixes. What the SDK sends on the wire and the money
// contract (a bill_no moves coins at most once; an unknown outcome is
// reported as ErrOutcomeUnknown and matches no other sentinel) never change
// without a major version.
const ModuleVersion = "v0.3.0"
