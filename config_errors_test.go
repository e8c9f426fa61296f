package midas

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// NewClient names every missing or invalid setting at once, by its Go name.
func TestNewClientListsEveryProblemByGoName(t *testing.T) {
	_, err := NewClient(Config{})
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.EqualError(t, err, "midas: invalid Config: AppID: required; OfferID: required; AppKey: required; "+
		"AccessToken: required (a TokenSource, such as StaticToken or NewStableTokenSource)")

	_, err = NewClient(Config{AppID: "wx 1", OfferID: "", AppKey: "key\n" + testAppKey, Env: 7, Version: 9, AccessToken: StaticToken("")})
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.EqualError(t, err, "midas: invalid Config: AppID: character ' ' not allowed (want 0-9 A-Z a-z _ -); "+
		"OfferID: required; AppKey: contains a space or control character; Env: must be Production or Sandbox, got 7; "+
		"Version: must be V1 or V2, got 9; AccessToken: StaticToken is empty")
	assert.NotContains(t, err.Error(), testAppKey)
	for _, wire := range []string{"appid:", "offer_id"} {
		assert.NotContains(t, err.Error(), wire, "Go names only, never wire names")
	}

	// An option's problem comes with the Config's.
	_, err = NewClient(Config{AppKey: testAppKey, OfferID: testOfferID, AccessToken: StaticToken(testToken)}, WithMaxRetries(-1))
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.EqualError(t, err, "midas: invalid Config: AppID: required; WithMaxRetries: want 0 to 20, got -1")
}
