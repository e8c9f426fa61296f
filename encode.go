package midas

// The bytes on the wire: request bodies and signData as compact JSON, and
// the HMAC-SHA256 that signs them in both versions.

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// appendOptional appends an optional field only when set: empty optional
// fields are neither sent nor signed.
func appendOptional(fs []field, key, val string) []field {
	if val == "" {
		return fs
	}
	return append(fs, field{key: key, val: val})
}

// appendObject appends fs as a compact JSON object, members in order: the
// bodies of both versions and an item order's signData.
func appendObject(b []byte, fs []field) []byte {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMember(b, f)
	}
	return append(b, '}')
}

func appendMember(b []byte, f field) []byte {
	b = append(b, '"')
	b = append(b, f.key...)
	b = append(b, '"', ':')
	if f.num {
		return append(b, f.val...)
	}
	return appendJSONString(b, f.val)
}

// bodySize is an upper bound of the body's length, so it is built in one
// allocation.
func bodySize(fs []field) int {
	n := 160 // braces, and the sig and mp_sig members
	for _, f := range fs {
		n += len(f.key) + 4 + 6*len(f.val) + 2
	}
	return n
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < ' ':
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// hmacKey is an HMAC-SHA256 key (RFC 2104) as its inner and outer pads.
// HMAC is computed straight from sha256.Sum256, which needs no hash object:
// the message is written after the inner pad in the caller's buffer, so
// signing allocates nothing but the hex string.
type hmacKey struct{ ipad, opad [sha256.BlockSize]byte }

func newHMACKey(key string) hmacKey {
	var k [sha256.BlockSize]byte
	if len(key) > len(k) {
		sum := sha256.Sum256([]byte(key))
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	var h hmacKey
	for i, b := range k {
		h.ipad[i] = b ^ 0x36
		h.opad[i] = b ^ 0x5c
	}
	return h
}

// start begins a message in buf: the inner pad, to which the message is
// appended.
func (h *hmacKey) start(buf []byte) []byte { return append(buf[:0], h.ipad[:]...) }

// sumHex finishes the HMAC of buf (the inner pad and the message) in
// lowercase hex.
func (h *hmacKey) sumHex(buf []byte) string {
	var out [2 * sha256.Size]byte
	return string(h.appendSumHex(out[:0], buf))
}

// appendSumHex appends the HMAC of buf (the inner pad and the message) to
// dst in lowercase hex.
func (h *hmacKey) appendSumHex(dst, buf []byte) []byte {
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], h.opad[:])
	inner := sha256.Sum256(buf)
	copy(outer[sha256.BlockSize:], inner[:])
	sum := sha256.Sum256(outer[:])
	return hex.AppendEncode(dst, sum[:])
}

// appKey is a client's AppKey, ready to sign with: its HMAC pads, made once,
// and buffers for the strings signed with it. Both dialects share it.
type appKey struct {
	key  string
	pads hmacKey
	bufs sync.Pool
}

func newAppKey(key string) *appKey {
	k := &appKey{key: key, pads: newHMACKey(key)}
	k.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return k
}

// buf takes a buffer for a signed string; put wipes it (it held key pads
// or a secret) and returns it.
func (k *appKey) buf() *[]byte { return k.bufs.Get().(*[]byte) }

func (k *appKey) put(bp *[]byte, buf []byte) {
	clear(buf)
	*bp = buf[:0]
	k.bufs.Put(bp)
}

// field is one body parameter. num marks values sent as JSON numbers; they
// are signed in the same decimal text either way.
type field struct {
	key, val string
	num      bool
}
