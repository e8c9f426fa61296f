package push_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

func TestConfigHidesSecrets(t *testing.T) {
	cfg := testConfig(true)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, cfg)
		requireNoSecret(t, out)
		out = fmt.Sprintf(verb, &cfg)
		requireNoSecret(t, out)
	}
	require.Contains(t, fmt.Sprintf("%+v", cfg), testAppID)
	require.Contains(t, fmt.Sprintf("%+v", cfg), "REDACTED")
	require.Contains(t, fmt.Sprint(cfg), testAppID)

	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	requireNoSecret(t, string(b))
	require.Contains(t, string(b), testAppID)
	b, err = json.Marshal(map[string]any{"push": &cfg})
	require.NoError(t, err)
	requireNoSecret(t, string(b))
	// Decoding the JSON gives no secret back, so it fails validation rather
	// than running with a wrong one.
	var back push.Config
	require.NoError(t, json.Unmarshal(b[len(`{"push":`):len(b)-1], &back))
	_, err = push.NewHandler(back, push.Handlers{})
	require.Error(t, err)

	var jb, tb bytes.Buffer
	slog.New(slog.NewJSONHandler(&jb, nil)).Info("cfg", "config", cfg, "ptr", &cfg)
	slog.New(slog.NewTextHandler(&tb, nil)).Info("cfg", "config", cfg, slog.Any("any", cfg))
	for _, out := range []string{jb.String(), tb.String()} {
		requireNoSecret(t, out)
		require.Contains(t, out, testAppID)
	}
}

// The handler holds the secrets; printing or logging it shows none.
func TestHandlerHidesSecrets(t *testing.T) {
	h, err := push.NewHandler(testConfig(true), push.Handlers{})
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		requireNoSecret(t, fmt.Sprintf(verb, h))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("h", "handler", h)
	requireNoSecret(t, buf.String())
}

// What Config's doc guarantees, exactly: masked as a value, a pointer and
// inside exported fields; not inside an unexported field of the caller's
// struct, which fmt reads by reflection. If Go ever masks that too, the doc
// must change.
func TestConfigSecretsGuaranteeIsExact(t *testing.T) {
	cfg := testConfig(true)
	type exported struct {
		Cfg    push.Config
		Ptr    *push.Config
		Any    any
		List   []push.Config
		ByName map[string]push.Config
	}
	v := exported{Cfg: cfg, Ptr: &cfg, Any: cfg, List: []push.Config{cfg}, ByName: map[string]push.Config{"k": cfg}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		requireNoSecret(t, fmt.Sprintf(verb, v))
		requireNoSecret(t, fmt.Sprintf(verb, &v))
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	requireNoSecret(t, string(b))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
	requireNoSecret(t, buf.String())

	type unexported struct{ cfg push.Config }
	leak := fmt.Sprintf("%+v", unexported{cfg: cfg})
	require.True(t, strings.Contains(leak, cfg.Token),
		"fmt now masks unexported fields too: update Config's doc: %s", leak)
}
