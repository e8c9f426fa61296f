package midas

import (
	"crypto/sha256"
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
	// Sized up front, on the stack for a request's usual dozen fields and
	// under a kilobyte of text: the signature is the only allocation. The
	// fields are sorted as indexes (a byte moved, not a field).
	var fieldArr [24]field
	var order [24]uint8
	fields := fieldArr[:0]
	size := sha256.BlockSize + len("&org_loc=&method=POST") + len(orgLoc) + len(secretName) + len(key)
	for k, v := range params {
		if !contains(skip, k) {
			fields = append(fields, field{key: k, val: v})
			size += len(k) + len(v) + 2
		}
	}
	if len(fields) > len(order) {
		sortFields(fields)
		return signSorted(fields, orgLoc, secretName, key, size)
	}
	// Keys compare by their first 8 bytes as one integer (same order as
	// the strings'); only a tie compares the strings.
	var prefix [24]uint64
	for i, f := range fields {
		prefix[i] = keyPrefix(f.key)
	}
	less := func(a, b uint8) bool {
		if prefix[a] != prefix[b] {
			return prefix[a] < prefix[b]
		}
		return fields[a].key < fields[b].key
	}
	for i := range fields {
		o := uint8(i)
		j := i
		for j > 0 && less(o, order[j-1]) {
			j--
		}
		copy(order[j+1:i+1], order[j:i])
		order[j] = o
	}
	pads := newHMACKey(key)
	var bufArr [1024]byte
	buf := bufArr[:0]
	if size > len(bufArr) {
		buf = make([]byte, 0, size)
	}
	buf = pads.start(buf)
	for n, i := range order[:len(fields)] {
		if n > 0 {
			buf = append(buf, '&')
		}
		buf = append(buf, fields[i].key...)
		buf = append(buf, '=')
		buf = append(buf, fields[i].val...)
	}
	buf = appendSignString(buf, nil, nil, orgLoc, secretName, key)
	sum := pads.sumHex(buf)
	clear(buf) // it held the key
	return sum
}

// keyPrefix is the first 8 bytes of k, big-endian, zero-padded: a smaller
// prefix means a smaller string; equal prefixes say nothing.
func keyPrefix(k string) uint64 {
	var p uint64
	for i := 0; i < 8; i++ {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

// signSorted signs fields already sorted: the path of a map too large for
// signMap's index array.
func signSorted(fields []field, orgLoc, secretName, key string, size int) string {
	pads := newHMACKey(key)
	buf := appendSignString(pads.start(make([]byte, 0, size)), fields, nil, orgLoc, secretName, key)
	sum := pads.sumHex(buf)
	clear(buf)
	return sum
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// appendSignString appends the string that is hashed: fields and extra (each
// sorted by key) merged in key order as k=v joined with '&', then the org_loc,
// method and secret suffix. Merging lets mp_sig reuse the sorted fields of sig
// with access_token and sig slotted in, instead of sorting again.
func appendSignString(buf []byte, fields, extra []field, orgLoc, secretName, secret string) []byte {
	for i, j := 0, 0; i < len(fields) || j < len(extra); {
		var f field
		if j == len(extra) || (i < len(fields) && fields[i].key < extra[j].key) {
			f = fields[i]
			i++
		} else {
			f = extra[j]
			j++
		}
		if i+j > 1 {
			buf = append(buf, '&')
		}
		buf = append(buf, f.key...)
		buf = append(buf, '=')
		buf = append(buf, f.val...)
	}
	buf = append(buf, "&org_loc="...)
	buf = append(buf, orgLoc...)
	buf = append(buf, "&method=POST"...)
	buf = append(buf, secretName...)
	buf = append(buf, secret...)
	return buf
}

// sortFields sorts a short field list by key. Insertion sort: requests have
// at most a couple of dozen fields. Each field is moved once into its slot
// (the ones after it shift), not swapped down step by step.
func sortFields(fs []field) {
	for i := 1; i < len(fs); i++ {
		f := fs[i]
		j := i
		for j > 0 && f.key < fs[j-1].key {
			j--
		}
		if j < i {
			copy(fs[j+1:i+1], fs[j:i])
			fs[j] = f
		}
	}
}

// PaySig computes the virtual payment 2.0 `pay_sig`: HMAC-SHA256 keyed with
// the AppKey of the request's env, over uri + "&" + body, in lowercase hex.
// uri is the bare path ("/wxa/game/pay"), body the exact bytes sent: 2.0 signs
// bytes, not parameters, so a body re-encoded after signing no longer matches.
//
// The same rule signs an item order (uri "requestMidasPaymentGameItem", body
// the signData string) and a delivery push (uri the Event, body the Payload).
func PaySig(uri string, body []byte, appKey string) string {
	pads := newHMACKey(appKey)
	buf := pads.start(make([]byte, 0, sha256.BlockSize+len(uri)+1+len(body)))
	buf = append(buf, uri...)
	buf = append(buf, '&')
	buf = append(buf, body...)
	return pads.sumHex(buf)
}

// SessionSig computes the virtual payment 2.0 `signature`: HMAC-SHA256 keyed
// with the player's session_key as its base64 text (not decoded), over the
// exact body bytes, in lowercase hex.
func SessionSig(body []byte, sessionKey string) string {
	pads := newHMACKey(sessionKey)
	buf := pads.start(make([]byte, 0, sha256.BlockSize+len(body)))
	buf = append(buf, body...)
	return pads.sumHex(buf)
}
