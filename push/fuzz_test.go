package push_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

// delivered records what handlers were called with.
type delivered struct {
	mu     sync.Mutex
	events []string
	envs   []midas.Env
}

func (d *delivered) add(event string, env midas.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, event)
	d.envs = append(d.envs, env)
	return nil
}

func (d *delivered) handlers() push.Handlers {
	return push.Handlers{
		ItemDelivered:  func(_ context.Context, x *push.ItemDelivery) error { return d.add(x.Event, x.Env) },
		CoinsDelivered: func(_ context.Context, x *push.CoinDelivery) error { return d.add(x.Event, x.Env) },
		Refunded:       func(_ context.Context, x *push.Refund) error { return d.add(x.Event, x.Env) },
	}
}

// signedWith reports whether body's PayEventSig is the signature of its
// Event and Payload under key: the tests' oracle, apart from the package's
// parser.
func signedWith(body []byte, key string) bool {
	var env struct {
		Event    string
		MiniGame *struct{ Payload, PayEventSig string }
	}
	if json.Unmarshal(body, &env) != nil || env.MiniGame == nil {
		return false
	}
	return midas.PaySig(env.Event, []byte(env.MiniGame.Payload), key) == env.MiniGame.PayEventSig
}

// FuzzParsePush feeds arbitrary push bodies, correctly transported (valid
// URL signature; in secure mode encrypted and with a valid msg_signature),
// through the handler in plain and secure mode. It must never panic, must
// always answer JSON whose ErrCode is 0 exactly on HTTP 200, and may call a
// handler only for a known event whose PayEventSig is right for the key of
// the delivered Env. Both modes must agree.
func FuzzParsePush(f *testing.F) {
	f.Add([]byte(`{"Event":"minigame_game_pay_goods_deliver_notify","MiniGame":{"Payload":"{\"Env\":0}","PayEventSig":""}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 16<<10 { // encrypted, it must stay under the body limit
			return
		}
		var codes [2]int
		var calls [2]int
		for i, secure := range []bool{false, true} {
			var d delivered
			s := newSender(t, secure, d.handlers())
			rec := s.post(body)
			r := decodeReply(t, rec)
			require.Equal(t, rec.Code == http.StatusOK, r.ErrCode == 0, "status %d answer %s", rec.Code, rec.Body.String())
			for j, ev := range d.events {
				known := ev == push.EventGamePayGoodsDeliver || ev == push.EventH5GoodsDeliver || ev == push.EventDeliverH5PayProducts ||
					ev == push.EventCoinDeliverCompleted || ev == push.EventRechargeCenterCoinDeliverCompleted || ev == push.EventPayRefundSucc
				require.True(t, known, "handler called for event %q", ev)
				key := testAppKey
				if d.envs[j] == midas.Sandbox {
					key = testSandboxKey
				} else {
					require.Equal(t, midas.Production, d.envs[j])
				}
				require.True(t, signedWith(body, key), "handler called for a body not signed with the key of its env")
			}
			require.LessOrEqual(t, len(d.events), 1)
			codes[i], calls[i] = rec.Code, len(d.events)
		}
		require.Equal(t, codes[0], codes[1], "plain and secure mode disagree")
		require.Equal(t, calls[0], calls[1], "plain and secure mode disagree")
	})
}

// FuzzDecrypt: Decrypt never panics, and what it returns fits in the input.
func FuzzDecrypt(f *testing.F) {
	f.Fuzz(func(t *testing.T, enc string) {
		msg, appID, err := push.Decrypt(testAESKey, enc)
		if err != nil {
			require.ErrorIs(t, err, push.ErrDecrypt)
			return
		}
		require.LessOrEqual(t, len(msg)+len(appID)+20, len(enc))
	})
}

// The signed seeds of FuzzParsePush still deliver with the test keys, so the
// fuzzer starts from bodies that reach the handlers.
func TestFuzzSeedsSigned(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParsePush/signed_*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		require.Len(t, lines, 2)
		lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
		body, err := strconv.Unquote(lit)
		require.NoError(t, err)
		var d delivered
		requireSuccess(t, newSender(t, false, d.handlers()).post([]byte(body)))
		require.Len(t, d.events, 1, file)
	}
}
