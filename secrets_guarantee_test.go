package midas_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gomidas/midas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the README's Secrets section guarantees, exactly: fmt, log/slog and
// encoding/json never show a secret of a Config or request given as the
// value, a pointer, or inside an exported field, slice, map or interface;
// they do show it through an unexported field of the caller's struct, where
// fmt reads the field by reflection and cannot call Format. The second half
// is pinned too, so that the docs stay exact if Go ever changes.
func TestSecretsGuaranteeIsExact(t *testing.T) {
	const token = "ACCESS_TOKEN_abcdef0123456789"
	cfg := midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, AccessToken: midas.StaticToken(token)}
	pay := midas.PayRequest{OpenID: alice, SessionKey: aliceKey, BillNo: "b1", Amount: 1}
	secrets := []string{appKey, token, aliceKey}

	type exported struct {
		Cfg    midas.Config
		CfgPtr *midas.Config
		Pay    midas.PayRequest
		PayPtr *midas.PayRequest
		Any    any
		List   []midas.Config
		ByName map[string]midas.PayRequest
	}
	guaranteed := map[string]any{
		"Config": cfg, "*Config": &cfg, "PayRequest": pay, "*PayRequest": &pay,
		"exported fields": exported{Cfg: cfg, CfgPtr: &cfg, Pay: pay, PayPtr: &pay, Any: cfg,
			List: []midas.Config{cfg}, ByName: map[string]midas.PayRequest{"p": pay}},
		"*exported fields": &exported{Cfg: cfg, Pay: pay},
	}
	for name, v := range guaranteed {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		out = append(out, fmt.Sprint(v), fmt.Sprintln(v))
		data, err := json.Marshal(v)
		require.NoError(t, err, name)
		out = append(out, string(data))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		out = append(out, buf.String())
		for _, s := range out {
			for _, secret := range secrets {
				assert.NotContains(t, s, secret, "%s: %s", name, s)
			}
		}
	}

	// Not guaranteed: an unexported field of the caller's own struct.
	type unexported struct {
		cfg midas.Config
		pay midas.PayRequest
	}
	leak := fmt.Sprintf("%+v", unexported{cfg: cfg, pay: pay})
	assert.True(t, strings.Contains(leak, appKey) && strings.Contains(leak, aliceKey),
		"fmt now masks unexported fields too: make README's Secrets section and the package doc say so: %s", leak)
}
