package midas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// Names of the body fields that carry or feed the signatures.
const (
	keySig         = "sig"
	keyMpSig       = "mp_sig"
	keyAccessToken = "access_token"
)

// Sig computes the Midas `sig` of a request: the parameters sorted by name in
// byte order, joined as k=v with '&' (raw values, no URL-encoding), followed by
// "&org_loc=ORGLOC&method=POST&secret=APPKEY", HMAC-SHA256 keyed with appKey,
// in lowercase hex.
//
// params are the body fields as sent, integers in plain decimal. Keys named
// sig, mp_sig and access_token are ignored, so a whole received body may be
// passed as it is. orgLoc is the path actually called (the sandbox path for a
// sandbox call).
func Sig(params map[string]string, orgLoc, appKey string) string {
	return signMap(params, orgLoc, "&secret=", appKey, keySig, keyMpSig, keyAccessToken)
}

// MpSig computes the WeChat `mp_sig` of a request: like [Sig], over the same
// parameters plus access_token and sig, followed by
// "&org_loc=ORGLOC&method=POST&session_key=SESSIONKEY", HMAC-SHA256 keyed with
// the player's session_key (the base64 text as it is, not decoded).
//
// A key named mp_sig is ignored.
func MpSig(params map[string]string, orgLoc, sessionKey string) string {
	return signMap(params, orgLoc, "&session_key=", sessionKey, keyMpSig)
}

func signMap(params map[string]string, orgLoc, secretName, key string, skip ...string) string {
	fields := make([]field, 0, len(params))
	for k, v := range params {
		if !contains(skip, k) {
			fields = append(fields, field{key: k, val: v})
		}
	}
	sortFields(fields)
	msg := appendSignString(nil, fields, nil, orgLoc, secretName, key)
	return hmacHex(hmac.New(sha256.New, []byte(key)), msg)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// field is one body parameter. num marks values sent as JSON numbers; they
// are signed in the same decimal text either way.
type field struct {
	key, val string
	num      bool
}

// appendSignString appends the string that is hashed: fields and extra (each
// sorted by key) merged in key order as k=v joined with '&', then the org_loc,
// method and secret suffix. Merging lets mp_sig reuse the sorted fields of sig
// with access_token and sig slotted in, instead of sorting again.
func appendSignString(buf []byte, fields, extra []field, orgLoc, secretName, secret string) []byte {
	first := true
	put := func(f field) {
		if !first {
			buf = append(buf, '&')
		}
		first = false
		buf = append(buf, f.key...)
		buf = append(buf, '=')
		buf = append(buf, f.val...)
	}
	i, j := 0, 0
	for i < len(fields) || j < len(extra) {
		if j == len(extra) || (i < len(fields) && fields[i].key < extra[j].key) {
			put(fields[i])
			i++
		} else {
			put(extra[j])
			j++
		}
	}
	buf = append(buf, "&org_loc="...)
	buf = append(buf, orgLoc...)
	buf = append(buf, "&method=POST"...)
	buf = append(buf, secretName...)
	buf = append(buf, secret...)
	return buf
}

// hmacHex returns the lowercase hex HMAC of msg under the keyed hash h, which
// it resets first so that a pooled keyed hash can be reused.
func hmacHex(h hash.Hash, msg []byte) string {
	h.Reset()
	h.Write(msg)
	var sum [sha256.Size]byte
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], h.Sum(sum[:0]))
	return string(out[:])
}

// sortFields sorts a short field list by key. Insertion sort: requests have at
// most a dozen fields, already nearly in order.
func sortFields(fs []field) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].key < fs[j-1].key; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}
