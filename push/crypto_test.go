package push_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

func TestEncryptDecryptRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 11, 12, 13, 31, 32, 33, 1000} {
		msg := bytes.Repeat([]byte{'m'}, n)
		enc, err := push.Encrypt(testAESKey, testAppID, msg, rand.Reader)
		require.NoError(t, err)
		raw, err := base64.StdEncoding.DecodeString(enc)
		require.NoError(t, err)
		require.Zero(t, len(raw)%32)
		got, appID, err := push.Decrypt(testAESKey, enc)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		require.Equal(t, testAppID, appID)
		// The tests' own encryptor agrees with the package's.
		random := bytes.Repeat([]byte{9}, 16)
		enc, err = push.Encrypt(testAESKey, testAppID, msg, bytes.NewReader(random))
		require.NoError(t, err)
		require.Equal(t, testEncrypt(testAESKey, testAppID, msg, random), enc)
	}
}

func TestDecryptRejectsBadInput(t *testing.T) {
	good, err := push.Encrypt(testAESKey, testAppID, []byte("hello"), bytes.NewReader(make([]byte, 16)))
	require.NoError(t, err)
	raw, _ := base64.StdEncoding.DecodeString(good)
	flipLast := append([]byte{}, raw...)
	flipLast[len(flipLast)-1] ^= 0xff // breaks the padding
	for name, enc := range map[string]string{
		"empty":       "",
		"not base64":  "!!!!",
		"not blocks":  base64.StdEncoding.EncodeToString(raw[:len(raw)-1]),
		"bad padding": base64.StdEncoding.EncodeToString(flipLast),
		"one block":   base64.StdEncoding.EncodeToString(raw[:16]),
	} {
		_, _, err := push.Decrypt(testAESKey, enc)
		require.ErrorIs(t, err, push.ErrDecrypt, name)
	}
	_, _, err = push.Decrypt("short", good)
	require.Error(t, err)
	_, err = push.Encrypt("short", testAppID, nil, rand.Reader)
	require.Error(t, err)
	_, err = push.Encrypt(testAESKey, testAppID, nil, bytes.NewReader([]byte{1, 2}))
	require.Error(t, err)
}

func TestURLSignatureSorts(t *testing.T) {
	require.Equal(t, push.URLSignature("b", "a", "c"), push.URLSignature("c", "b", "a"))
	require.Equal(t, push.URLSignature("a", "b", "c", "d"), push.URLSignature("d", "c", "b", "a"))
	require.NotEqual(t, push.URLSignature("a", "b", "c"), push.URLSignature("a", "b", "c", ""+"x"))
	require.Len(t, push.URLSignature("", "", ""), 40)
}
