package midas

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The answer decoder gives what json.Unmarshal gives: the same fields and
// the same error, on every input.
func checkDecodeAnswer(t *testing.T, data []byte) {
	t.Helper()
	var got, want apiResponse
	gotErr := decodeAnswer(data, &got)
	wantErr := json.Unmarshal(data, &want)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: error %v, encoding/json %v", data, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decoded %+v, encoding/json %+v", data, got, want)
	}
}

// decodeAnswerCases are answers where a hand-written decoder most easily
// parts from encoding/json.
var decodeAnswerCases = []string{
	payAnswer, payAnswerV2, okAnswer,
	`{"errcode":90013,"errmsg":"balance not enough"}`, `{"errcode":0,"errmsg":"余额不足"}`,
	`{"errcode":0,"errmsg":"\u4f59"}`, `{"errcode":0,"errmsg":12}`, `{"errcode":0,"errmsg":1.5}`, `{"errcode":0,"errmsg":true}`,
	`{"errcode":0,"errmsg":null}`, `{"errcode":null}`, `{"errcode":"0"}`, `{"errcode":0.0}`, `{"errcode":-0}`, `{"errcode":01}`,
	`{"errcode":1e2}`, `{"errcode":99999999999999999999}`, `{"errcode":0,"errcode":1}`, `{"errcode":0,"errcode":null}`,
	`{"ErrCode":5}`, `{"errcode":0,"ERRCODE":5}`, `{"errcode":0,"balance":1,"Balance":2}`, `{"errcode":0,"bill_no":"a\"b"}`,
	`{"errcode":0,"bill_no":"\xff"}`, `{"errcode":0,"bill_no":"a` + "\x01" + `"}`, `{"errcode":0,"bill_no":1}`, `{"errcode":0,"bill_no":null}`,
	`{"errcode":0,"first_save":1}`, `{"errcode":0,"first_save":2}`, `{"errcode":0,"first_save":0}`, `{"errcode":0,"first_save":3}`,
	`{"errcode":0,"first_save":true}`, `{"errcode":0,"first_save":false}`, `{"errcode":0,"first_save":null}`, `{"errcode":0,"first_save":"1"}`,
	`{"errcode":0,"first_save":1.0}`, `{"errcode":0,"first_save":true,"first_save":null}`,
	`{"errcode":0,"balance":null}`, `{"errcode":0,"balance":"1"}`, `{"errcode":0,"balance":1e3}`, `{"errcode":0,"balance":-5}`,
	`{"errcode":0,"balance":9223372036854775808}`, `{"errcode":0,"other":{"a":[1,2]}}`, `{"errcode":0,"other":[1]}`,
	`{"errcode":0,"other":"x","other":"y"}`, `{"errcode":0,"other":tru}`, `{"errcode":0,"other":nul}`, `{"errcode":0,"other":truex}`,
	`{"errcode":0}x`, `{"errcode":0}}`, `{"errcode":0}]`, ` {"errcode":0} `, `{"errcode":0,}`, `{,}`, `{}`, `[]`, `null`, `0`, `""`, ``,
	`{"errcode":0 "balance":1}`, `{"errcode" 0}`, `{"errcode":}`, `{"errcode":-}`, `{"errcode":--1}`, `{"\u0065rrcode":0}`,
	`{"errcode":0,"ſum_save":1}`, `{"errcode":0,"sum_ſave":1}`, `{"errcode":0,"K":1}`, "{\"errcode\":0,\n\t\"balance\":\r 1}",
	`{"errcode":0,"used_present_amount":3,"used_gen_balance":4}`, `{"errcode":0,"pay_state":2,"out_trade_no":"o"}`,
	`{"errcode":0,"alreadyProcessed":true}`, `{"errcode":0,"v2Answer":{}}`, `{"errcode":0,"PresentBalance":1}`,
}

func TestDecodeAnswerMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeAnswerCases {
		checkDecodeAnswer(t, []byte(c))
	}
}

// The common answers take the fast path: every field of apiResponse is one
// it reads, and the usual answers are read without encoding/json.
func TestDecodeAnswerReadsCommonAnswersItself(t *testing.T) {
	ft := flatTableOf(reflect.TypeOf(apiResponse{}))
	if ft == nil {
		t.Fatal("apiResponse has a field the flat decoder cannot read: every answer goes through encoding/json")
	}
	for _, a := range []string{payAnswer, payAnswerV2, okAnswer, `{"errcode":90013,"errmsg":"余额不足"}`} {
		var r apiResponse
		if !decodeFlat([]byte(a), &r) {
			t.Errorf("%s: not read by the flat decoder", a)
		}
	}
}

// FuzzDecodeAnswer holds decodeAnswer to json.Unmarshal, seeded with the
// cases above and FuzzDecodeResponse's corpus.
func FuzzDecodeAnswer(f *testing.F) {
	for _, c := range decodeAnswerCases {
		f.Add([]byte(c))
	}
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecodeResponse/*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if q, ok := strings.CutPrefix(line, "[]byte("); ok {
				body, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				if err != nil {
					f.Fatalf("%s: %v", name, err)
				}
				f.Add([]byte(body))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAnswer(t, data)
	})
}

func BenchmarkDecodeAnswer(b *testing.B) {
	for _, fast := range []bool{true, false} {
		name := "flat"
		if !fast {
			name = "encoding-json"
		}
		b.Run(name, func(b *testing.B) {
			data := []byte(payAnswer)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var r apiResponse
				var err error
				if fast {
					err = decodeAnswer(data, &r)
				} else {
					err = json.Unmarshal(data, &r)
				}
				if err != nil || !r.Balance.ok {
					b.Fatal(err)
				}
			}
		})
	}
}
