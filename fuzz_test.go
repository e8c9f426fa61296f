package midas

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

// The decoder never panics, and never turns an answer without errcode 0 into
// a success.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, []byte(`{"errcode":0,"errmsg":"ok","bill_no":"b","balance":1,"used_gen_amt":2}`))
	f.Add(200, []byte(`{"errcode":90013,"errmsg":"balance not enough"}`))
	f.Add(200, []byte(`{"errcode":0,"first_save":2,"errmsg":0}`))
	f.Add(502, []byte(`bad gateway`))
	f.Add(200, []byte(`{"balance":1}`))
	f.Add(200, []byte(`{"errcode":0,"balance":1e3}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body))}
		var out apiResponse
		err := checkResponse(resp, APIPay, "b", V1, &out)
		if err == nil {
			if status < 200 || status > 299 || out.ErrCode == nil || *out.ErrCode != 0 {
				t.Fatalf("success from status %d body %q", status, body)
			}
			return
		}
		var apiErr *APIError
		var httpErr *HTTPError
		if !errors.As(err, &apiErr) && !errors.As(err, &httpErr) && !errors.Is(err, ErrMalformedResponse) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
