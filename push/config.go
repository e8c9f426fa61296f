package push

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Config is what a push endpoint needs: the values of MP's 发货推送配置 /
// 消息推送配置 (URL Token, EncodingAESKey) and of the virtual payment basic
// configuration (AppKeys).
//
// Token, EncodingAESKey and the AppKeys are masked under fmt, log/slog and
// encoding/json when the value formatted is the Config itself, a pointer to
// it, or an exported field, slice element, map value or interface holding
// it. They are not masked inside an unexported field of your own struct:
// fmt reads such a field by reflection and cannot call Config's methods, so
// %+v of that struct prints them. Keep a Config in an exported field, or
// behind a pointer you never print, where it could reach a log.
type Config struct {
	// Token is the push URL Token configured in MP. Required.
	Token string
	// EncodingAESKey is the 43-character message key of secure mode (安全模式).
	// Empty means plain mode (明文模式). When set, every push must be a
	// secure-mode push.
	EncodingAESKey string
	// AppID is the mini game's appid; in secure mode the decrypted message
	// must end with it. Required.
	AppID string
	// AppKey is the virtual payment 2.0 production AppKey; it verifies pushes
	// whose Payload has Env 0.
	AppKey string
	// SandboxAppKey is the sandbox AppKey; it verifies pushes whose Payload
	// has Env 1. Leave it empty to reject sandbox pushes. At least one of
	// AppKey and SandboxAppKey is required.
	SandboxAppKey string
}

// Errors of NewHandler name the field at fault, never its value.
var (
	errNoToken    = errors.New("push: Config.Token is empty")
	errNoAppID    = errors.New("push: Config.AppID is empty")
	errNoAppKey   = errors.New("push: Config.AppKey and Config.SandboxAppKey are both empty")
	errAESKeyLen  = errors.New("push: Config.EncodingAESKey must be 43 characters")
	errAESKeyData = errors.New("push: Config.EncodingAESKey is not base64 of a 32-byte key")
)

// validate checks c and returns the decoded AES key (nil in plain mode).
func (c Config) validate() ([]byte, error) {
	if c.Token == "" {
		return nil, errNoToken
	}
	if c.AppID == "" {
		return nil, errNoAppID
	}
	if c.AppKey == "" && c.SandboxAppKey == "" {
		return nil, errNoAppKey
	}
	if c.EncodingAESKey == "" {
		return nil, nil
	}
	return decodeAESKey(c.EncodingAESKey)
}

// decodeAESKey turns an EncodingAESKey into the 32-byte AES key:
// base64 (standard alphabet) of the key with "=" appended. Decoding is not
// strict: the unused low bits of the last character are ignored, as by
// WeChat's own sample code.
func decodeAESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, errAESKeyLen
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errAESKeyData
	}
	return key, nil
}

const redacted = "REDACTED"

func mask(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

type redactedConfig Config

// Format prints c with Token, EncodingAESKey, AppKey and SandboxAppKey
// masked (shown as REDACTED when set, empty when not), for every verb.
func (c Config) Format(f fmt.State, verb rune) {
	c.Token = mask(c.Token)
	c.EncodingAESKey = mask(c.EncodingAESKey)
	c.AppKey = mask(c.AppKey)
	c.SandboxAppKey = mask(c.SandboxAppKey)
	fmt.Fprintf(f, fmt.FormatString(f, verb), redactedConfig(c))
}

// LogValue logs c as its AppID and which secrets are set, never their values.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", c.AppID),
		slog.Bool("secure_mode", c.EncodingAESKey != ""),
		slog.Bool("app_key_set", c.AppKey != ""),
		slog.Bool("sandbox_app_key_set", c.SandboxAppKey != ""),
	)
}

// MarshalJSON encodes c as its AppID and which secrets are set. The secrets
// themselves are omitted, so decoding the result gives a Config that fails
// validation instead of one with wrong secrets.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AppID            string
		SecureMode       bool
		AppKeySet        bool
		SandboxAppKeySet bool
	}{c.AppID, c.EncodingAESKey != "", c.AppKey != "", c.SandboxAppKey != ""})
}
