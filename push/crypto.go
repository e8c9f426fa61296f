package push

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"sort"
)

// URLSignature computes a WeChat push signature: the strings token,
// timestamp, nonce and extra sorted in byte order, concatenated, hashed with
// SHA1, in lowercase hex. With no extra it is the query's signature; with the
// body's Encrypt as extra it is the secure-mode msg_signature.
func URLSignature(token, timestamp, nonce string, extra ...string) string {
	parts := make([]string, 0, 3+len(extra))
	parts = append(parts, token, timestamp, nonce)
	parts = append(parts, extra...)
	sort.Strings(parts)
	h := sha1.New()
	for _, p := range parts {
		io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// equalHex compares a computed lowercase hex signature with a received one in
// constant time (for a given length). An empty received signature never
// matches.
func equalHex(want, got string) bool {
	if got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// Secure-mode messages are padded to a multiple of 32 bytes (PKCS#7 with
// K = 32), and start with 16 random bytes and a 4-byte length.
const (
	padBlock   = 32
	randomLen  = 16
	headerLen  = randomLen + 4
	maxMessage = 1 << 30
)

var (
	// ErrDecrypt reports a secure-mode Encrypt that does not decrypt to a
	// well-formed message: bad base64, bad length, bad padding or bad
	// message length.
	ErrDecrypt = errors.New("push: cannot decrypt message")
)

// Decrypt decrypts a secure-mode Encrypt value with the EncodingAESKey and
// returns the message and the appid that trails it. The caller must check
// that appID is its own. It does not check msg_signature; verify that first
// (see [URLSignature]).
func Decrypt(encodingAESKey, encrypted string) (msg []byte, appID string, err error) {
	key, err := decodeAESKey(encodingAESKey)
	if err != nil {
		return nil, "", err
	}
	return decrypt(key, encrypted)
}

func decrypt(key []byte, encrypted string) (msg []byte, appID string, err error) {
	ct, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, "", ErrDecrypt
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", ErrDecrypt
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:aes.BlockSize]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > padBlock || pad > len(pt) {
		return nil, "", ErrDecrypt
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, "", ErrDecrypt
		}
	}
	pt = pt[:len(pt)-pad]
	if len(pt) < headerLen {
		return nil, "", ErrDecrypt
	}
	n := binary.BigEndian.Uint32(pt[randomLen:headerLen])
	if uint64(n) > uint64(len(pt)-headerLen) {
		return nil, "", ErrDecrypt
	}
	end := headerLen + int(n)
	return pt[headerLen:end], string(pt[end:]), nil
}

// Encrypt produces a secure-mode Encrypt value, as WeChat does: 16 bytes read
// from random, the 4-byte big-endian length of msg, msg and appID, PKCS#7
// padded to a multiple of 32 bytes, AES-256-CBC encrypted with the key of
// encodingAESKey and IV the key's first 16 bytes, in standard base64. It is
// meant for tests and fake servers; pass crypto/rand.Reader as random unless
// a fixed output is wanted.
func Encrypt(encodingAESKey, appID string, msg []byte, random io.Reader) (string, error) {
	key, err := decodeAESKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	if len(msg) > maxMessage {
		return "", errors.New("push: message too long")
	}
	var buf bytes.Buffer
	buf.Grow(headerLen + len(msg) + len(appID) + padBlock)
	if _, err := io.CopyN(&buf, random, randomLen); err != nil {
		return "", err
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(msg)))
	buf.Write(n[:])
	buf.Write(msg)
	buf.WriteString(appID)
	pad := padBlock - buf.Len()%padBlock
	buf.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	pt := buf.Bytes()
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	cipher.NewCBCEncrypter(block, key[:aes.BlockSize]).CryptBlocks(pt, pt)
	return base64.StdEncoding.EncodeToString(pt), nil
}
