package midastest_test

import (
	"testing"

	"github.com/gomidas/midas/midastest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A session_key the client would refuse cannot be configured: Validate says
// which player (never the key), and New, NewServer and AddPlayer panic with
// that.
func TestSessionKeyValidation(t *testing.T) {
	bad := map[string]string{
		"7 bytes":       "c2Vzc2lvbg==",
		"15 bytes":      "Ym9iLXNlc3Npb24ta2V5",
		"17 bytes":      "Ym9iLXNlc3Npb24ta2V5ISE=",
		"unpadded":      "V7Q38/i2KXaqrQyl2Yx9Hg",
		"URL alphabet":  "V7Q38_i2KXaqrQyl2Yx9Hg==",
		"stray bits":    "V7Q38/i2KXaqrQyl2Yx9Hh==",
		"not base64":    "not a session key at all!",
		"newline in it": "V7Q38/i2KXaqrQyl2Yx9H\ng=",
		"leading space": " V7Q38/i2KXaqrQyl2Yx9Hg=",
	}
	for name, key := range bad {
		t.Run(name, func(t *testing.T) {
			cfg := fakeConfig()
			cfg.Players = append(cfg.Players, midastest.Player{OpenID: "carol", SessionKey: key})
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), `"carol"`)
			assert.NotContains(t, err.Error(), key, "the key is a secret")
			assert.PanicsWithError(t, err.Error(), func() { midastest.New(cfg) })
			assert.PanicsWithError(t, err.Error(), func() { midastest.NewServer(cfg).Close() })

			srv := midastest.New(fakeConfig())
			assert.PanicsWithError(t, err.Error(), func() { srv.AddPlayer(midastest.Player{OpenID: "carol", SessionKey: key}) })
			assert.Error(t, srv.SetSessionKey(alice, key))
		})
	}

	assert.NoError(t, fakeConfig().Validate())
	ok := fakeConfig()
	ok.Players = append(ok.Players, midastest.Player{OpenID: "never-logged-in"})
	assert.NoError(t, ok.Validate(), "no session_key is a player who never logged in")

	ctl := fakeConfig()
	ctl.Players = append(ctl.Players, midastest.Player{OpenID: "dave", SessionKey: aliceKey, ZoneID: "1\n"})
	assert.ErrorContains(t, ctl.Validate(), `"dave"`)
	noID := fakeConfig()
	noID.Players = append(noID.Players, midastest.Player{SessionKey: aliceKey})
	assert.Error(t, noID.Validate())

	srv := midastest.New(fakeConfig())
	assert.ErrorContains(t, srv.SetSessionKey("stranger", aliceKey), "stranger")
}
