package midas

import (
	"context"
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

// Each problem NewClient lists is an *InvalidRequestError a program can read
// without parsing the message; the message is their "Field: Reason" list.
func TestNewClientProblemsAreStructured(t *testing.T) {
	_, err := NewClient(Config{AppID: "wx 1", AppKey: testAppKey, Version: V2, AccessToken: StaticToken(testToken)}, WithMaxRetries(-1))
	require.ErrorIs(t, err, ErrInvalidRequest)
	multi, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "%T has no Unwrap() []error", err)
	var got []InvalidRequestError
	for _, e := range multi.Unwrap() {
		ire, ok := e.(*InvalidRequestError)
		require.True(t, ok, "%T", e)
		assert.ErrorIs(t, ire, ErrInvalidRequest)
		got = append(got, *ire)
	}
	assert.Equal(t, []InvalidRequestError{
		{Field: "AppID", Version: V2, Reason: "character ' ' not allowed (want 0-9 A-Z a-z _ -)"},
		{Field: "OfferID", Version: V2, Reason: "required"},
		{Field: "WithMaxRetries", Version: V2, Reason: "want 0 to 20, got -1"},
	}, got)

	// An option's problem alone is one *InvalidRequestError.
	_, err = NewClient(Config{AppID: testAppID, OfferID: testOfferID, AppKey: testAppKey, AccessToken: StaticToken(testToken)}, WithMaxRetries(99))
	var ire *InvalidRequestError
	require.ErrorAs(t, err, &ire)
	assert.Equal(t, InvalidRequestError{Field: "WithMaxRetries", Version: V1, Reason: "want 0 to 20, got 99"}, *ire)
	assert.EqualError(t, err, "midas: invalid request: WithMaxRetries: want 0 to 20, got 99")
}

// A request's bad field is an *InvalidRequestError naming the field and the
// version whose rules refused it, with the message it has always had.
func TestRequestProblemsAreStructured(t *testing.T) {
	v1c, err := NewClient(Config{AppID: testAppID, OfferID: testOfferID, AppKey: testAppKey, AccessToken: StaticToken(testToken)})
	require.NoError(t, err)
	v2c := v2Client(t, testOfferID, testAppKey, Sandbox)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		want InvalidRequestError
	}{
		{"1.0 bill_no", func() error {
			_, err := v1c.Pay(ctx, PayRequest{OpenID: "p1", BillNo: "a b", Amount: 1})
			return err
		}, InvalidRequestError{Field: "BillNo", Version: V1, Reason: "character ' ' not allowed (want 0-9 A-Z a-z _ - * @)"}},
		{"2.0 bill_no", func() error {
			_, err := v2c.Pay(ctx, PayRequest{OpenID: "p1", SessionKey: testSessionKey, BillNo: "a*b", Amount: 1})
			return err
		}, InvalidRequestError{Field: "BillNo", Version: V2, Reason: "character '*' not allowed in virtual payment 2.0 (want 0-9 A-Z a-z _ -)"}},
		{"2.0 shared check", func() error {
			_, err := v2c.GetBalance(ctx, BalanceRequest{OpenID: "p 1", SessionKey: testSessionKey})
			return err
		}, InvalidRequestError{Field: "OpenID", Version: V2, Reason: "character ' ' not allowed (want 0-9 A-Z a-z _ -)"}},
		{"1.0 has no queryorderinfo", func() error {
			_, err := v1c.QueryOrder(ctx, QueryOrderRequest{OpenID: "p1", OutTradeNo: "o1", Kind: CoinOrder})
			return err
		}, InvalidRequestError{Field: "QueryOrder", Version: V1, Reason: "not an API of virtual payment 1.0 (queryorderinfo is 2.0 only)"}},
		{"CheckOutTradeNo", func() error { return CheckOutTradeNo("_x", false) },
			InvalidRequestError{Field: "OutTradeNo", Version: V2, Reason: "must not start with '_' (the platform's own ids do)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ire *InvalidRequestError
			require.ErrorAs(t, err, &ire)
			assert.Equal(t, tc.want, *ire)
			assert.ErrorIs(t, err, ErrInvalidRequest)
			assert.EqualError(t, err, "midas: invalid request: "+tc.want.Field+": "+tc.want.Reason)
		})
	}
}
