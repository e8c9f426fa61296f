package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

// The handler decodes each document once. These tests hold it to the
// separate decodes it replaced, kept here as the reference: the body read
// for Encrypt, then as the envelope; the payload read tolerantly for its Env
// before the signature check, then strictly after it.

// refEnvelopeShape is the envelope as it was read: every field kept.
type refEnvelopeShape struct {
	ToUserName   string
	FromUserName string
	CreateTime   int64
	MsgType      string
	Event        string
	MiniGame     *miniGame
}

func refEnvelope(msg []byte, plain bool) (*refEnvelopeShape, string) {
	if plain {
		var outer secureBody
		if json.Unmarshal(msg, &outer) == nil && outer.Encrypt != "" {
			return nil, reasonEncryptedPlain
		}
	}
	var env refEnvelopeShape
	if json.Unmarshal(msg, &env) != nil {
		return nil, reasonEnvelopeJSON
	}
	return &env, ""
}

func refPayloadEnv(payload []byte) (int64, error) {
	var pre struct{ Env json.RawMessage }
	if err := json.Unmarshal(payload, &pre); err != nil {
		return 0, errPayloadJSON
	}
	raw := bytes.TrimSpace(pre.Env)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, errPayloadEnv
		}
		raw = []byte(s)
	}
	env, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, errPayloadEnv
	}
	return env, nil
}

// refItem is itemPayload as the strict decode read it: Env an int64.
type refItem struct {
	OpenID        string `json:"OpenId"`
	Env           int64
	OutTradeNo    string
	GoodsInfo     *goodsInfo
	WeChatPayInfo *wechatPayInfo
}

func refStrict(payload []byte, env int64) (refItem, error) {
	var p refItem
	if json.Unmarshal(payload, &p) != nil {
		return p, errPayloadJSON
	}
	if p.Env != env {
		return p, errPayloadMismatch
	}
	return p, nil
}

// checkDecodeOnce compares the one-decode reading of a plain body with the
// reference, and the payload's reading given as payload.
func checkDecodeOnce(t *testing.T, body, payload []byte) {
	t.Helper()
	for _, plain := range []bool{true, false} {
		got, rej := decodeEnvelope(body, plain)
		want, reason := refEnvelope(body, plain)
		gotReason := ""
		if rej != nil {
			gotReason = rej.reason
		}
		if gotReason != reason {
			t.Fatalf("plain=%t body %q: reason %q, want %q", plain, body, gotReason, reason)
		}
		if want != nil && (got.Event != want.Event || got.CreateTime != want.CreateTime ||
			(got.MiniGame == nil) != (want.MiniGame == nil) || got.MiniGame != nil && *got.MiniGame != *want.MiniGame) {
			t.Fatalf("plain=%t body %q: envelope %+v, want %+v", plain, body, got, want)
		}
	}

	var shape itemPayload
	env, strictErr, err := decodePayload(payload, &shape)
	wantEnv, wantErr := refPayloadEnv(payload)
	if env != wantEnv || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
		t.Fatalf("payload %q: Env %d, %v; want %d, %v", payload, env, err, wantEnv, wantErr)
	}
	if err != nil {
		return
	}
	ref, wantStrict := refStrict(payload, env)
	gotStrict := strictEnv(strictErr, &shape.Env, env)
	if !errors.Is(gotStrict, wantStrict) || (gotStrict == nil) != (wantStrict == nil) {
		t.Fatalf("payload %q: strict %v, want %v", payload, gotStrict, wantStrict)
	}
	if gotStrict == nil && (shape.OpenID != ref.OpenID || shape.OutTradeNo != ref.OutTradeNo || shape.Env.strict != ref.Env ||
		(shape.GoodsInfo == nil) != (ref.GoodsInfo == nil) || shape.GoodsInfo != nil && *shape.GoodsInfo != *ref.GoodsInfo) {
		t.Fatalf("payload %q: decoded %+v, want %+v", payload, shape, ref)
	}
}

// decodeOnceCases are the bodies and payloads where one decode could most
// easily differ from two: repeated keys, nulls, wrong types, keys in
// another case.
var decodeOnceCases = []string{
	``, `null`, `[]`, `"x"`, `5`, `true`, `{`, `{}`, `{} x`, ` {"Env":1} `,
	`{"Env":1}`, `{"Env":"1"}`, `{"Env":" 1"}`, `{"Env":""}`, `{"Env":null}`, `{"Env":1.0}`, `{"Env":1e0}`,
	`{"Env":-0}`, `{"Env":9223372036854775808}`, `{"Env":{}}`, `{"Env":[1]}`, `{"Env":true}`,
	`{"Env":1,"Env":null}`, `{"Env":null,"Env":1}`, `{"Env":"1","Env":1}`, `{"Env":1,"Env":"1"}`,
	`{"Env":"x","Env":0}`, `{"env":1}`, `{"ENV":1,"Env":0}`, `{"Env":1,"OpenId":5}`, `{"OpenId":5}`,
	`{"Env":"\u0031"}`, `{"Env":0,"GoodsInfo":{"Quantity":"60"}}`, `{"Env":0,"GoodsInfo":{"Quantity":60}}`,
	`{"Encrypt":"x"}`, `{"Encrypt":""}`, `{"Encrypt":null}`, `{"Encrypt":5}`, `{"Encrypt":5,"Encrypt":"x"}`,
	`{"Encrypt":"x","Encrypt":5}`, `{"Encrypt":"x","Encrypt":null}`, `{"Encrypt":"x","Encrypt":""}`,
	`{"encrypt":"x"}`, `{"ToUserName":5,"Encrypt":"x"}`, `{"CreateTime":"1","Encrypt":"x"}`,
	`{"Encrypt":"\u0000"}`, `{"ToUserName":null,"MsgType":"event"}`, `{"FromUserName":{}}`, `{"MsgType":1}`,
	`{"MsgType":[],"Encrypt":"x"}`, `{"Event":"e","MiniGame":null}`, `{"Event":"e","MiniGame":{"IsMock":1}}`,
	`{"Event":"e","MiniGame":{"Payload":"p","PayEventSig":"s","IsMock":true},"Encrypt":"x"}`,
}

func TestDecodeOnceMatchesSeparateDecodes(t *testing.T) {
	for _, c := range decodeOnceCases {
		checkDecodeOnce(t, []byte(c), []byte(c))
	}
}

// FuzzDecodeOnce holds the one-decode reading to the separate decodes on
// arbitrary bodies and payloads.
func FuzzDecodeOnce(f *testing.F) {
	for _, c := range decodeOnceCases {
		f.Add([]byte(c), []byte(c))
	}
	f.Fuzz(func(t *testing.T, body, payload []byte) {
		checkDecodeOnce(t, body, payload)
	})
}
