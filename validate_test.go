package midas

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CheckBillNoFor applies the rules of the version the client sends with;
// the deprecated CheckBillNo keeps 1.0's.
func TestCheckBillNoFor(t *testing.T) {
	for _, tc := range []struct {
		billNo string
		v1, v2 bool // valid in 1.0, in 2.0
	}{
		{"order_1-a", true, true},
		{"a*b", true, false},
		{"a@b", true, false},
		{"_lead", true, false},
		{"", false, false},
		{"a b", false, false},
		{string(make([]byte, 64)), false, false},
	} {
		for v, want := range map[Version]bool{V1: tc.v1, V2: tc.v2} {
			err := CheckBillNoFor(v, tc.billNo)
			if want {
				assert.NoError(t, err, "%s %q", v, tc.billNo)
				continue
			}
			var ire *InvalidRequestError
			require.ErrorAs(t, err, &ire, "%s %q", v, tc.billNo)
			assert.Equal(t, "BillNo", ire.Field)
			assert.Equal(t, v, ire.Version)
		}
		assert.Equal(t, tc.v1, CheckBillNo(tc.billNo) == nil, "CheckBillNo is 1.0's rule: %q", tc.billNo)
	}
	var ire *InvalidRequestError
	require.ErrorAs(t, CheckBillNoFor(Version(7), "b1"), &ire)
	assert.Equal(t, "Version", ire.Field)
}

// NewStableTokenSource refuses the client options it would ignore, naming
// each, and takes the three it honours.
func TestNewStableTokenSourceRefusesOptionsItIgnores(t *testing.T) {
	for _, o := range []struct {
		name string
		opt  Option
	}{
		{"WithMaxRetries", WithMaxRetries(1)},
		{"WithSettleMaxAttempts", WithSettleMaxAttempts(3)},
		{"WithRetryBackoff", WithRetryBackoff(1, 2)},
		{"WithAttemptTimeout", WithAttemptTimeout(1)},
		{"WithLogger", WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))},
	} {
		_, err := NewStableTokenSource(testAppID, "appSecretAppSecretAppSecret01", WithBaseURL("http://127.0.0.1:1"), o.opt)
		var ire *InvalidRequestError
		require.ErrorAs(t, err, &ire, o.name)
		assert.Equal(t, o.name, ire.Field)
		assert.ErrorIs(t, err, ErrInvalidRequest)
	}
	_, err := NewStableTokenSource(testAppID, "appSecretAppSecretAppSecret01",
		WithBaseURL("http://127.0.0.1:1"), WithClock(fixedClock), WithHTTPClient(&http.Client{}))
	assert.NoError(t, err)
}
