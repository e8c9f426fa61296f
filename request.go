package midas

import (
	"encoding/base64"
	"net/netip"
	"unicode"
	"unicode/utf8"
)

// Limits on the fields this package checks before sending. bill_no's are the
// documented ones; the others are generous bounds on identifiers.
const (
	maxBillNo     = 63
	maxOutTradeNo = 32
	maxIDLen      = 128
)

// checkPlayer checks openid, zone_id and user_ip, which every request of
// both versions carries, and returns zone_id with its default applied.
func checkPlayer(openID, zoneID, userIP string) (zone string, err error) {
	if err := checkToken("OpenID", openID, maxIDLen); err != nil {
		return "", err
	}
	if zoneID == "" {
		zoneID = DefaultZoneID
	}
	if err := checkZoneID(zoneID); err != nil {
		return "", err
	}
	if userIP != "" {
		if err := checkIP(userIP); err != nil {
			return "", err
		}
	}
	return zoneID, nil
}

func checkIP(userIP string) error {
	a, err := netip.ParseAddr(userIP)
	if err != nil {
		return invalid("UserIP", "%q is not an IP address", userIP)
	}
	if a.Zone() != "" {
		// A player's public IP has no zone, and a zone is free text.
		return invalid("UserIP", "an IPv6 zone is not allowed")
	}
	return nil
}

// checkZoneID follows the pages: "zoneID" or "zoneID_roleID", role ids
// defined by the game, so any printable text up to maxIDLen bytes is
// accepted; control characters never are.
func checkZoneID(zoneID string) error {
	if len(zoneID) > maxIDLen {
		return invalid("ZoneID", "longer than %d bytes", maxIDLen)
	}
	return checkText("ZoneID", zoneID)
}

// checkSessionKey accepts what WeChat issues: the standard base64 of 16
// bytes, 24 characters, nothing around it (a trailing newline from a copy or
// a file would be signed as part of the key).
func checkSessionKey(sessionKey string) error {
	if len(sessionKey) != 24 {
		return invalid("SessionKey", "want the 24-character base64 of 16 bytes, got %d characters", len(sessionKey))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(sessionKey)
	if err != nil || len(raw) != 16 {
		return invalid("SessionKey", "not the standard base64 of 16 bytes")
	}
	return nil
}

// CheckOutTradeNo reports whether outTradeNo is a valid out_trade_no: 1 to
// 32 characters of digits, letters and _ - | * @ (the union of the pages'
// lists). An order the game creates must not start with '_'; the platform
// fills such ids itself for orders made without one, so a query may name one
// (platformMade). The error matches ErrInvalidRequest.
func CheckOutTradeNo(outTradeNo string, platformMade bool) error {
	return inVersion(checkOutTradeNo(outTradeNo, platformMade), V2)
}

func checkOutTradeNo(outTradeNo string, platformMade bool) error {
	if outTradeNo == "" {
		return invalid("OutTradeNo", "empty")
	}
	if len(outTradeNo) > maxOutTradeNo {
		return invalid("OutTradeNo", "longer than %d characters", maxOutTradeNo)
	}
	if outTradeNo[0] == '_' && !platformMade {
		return invalid("OutTradeNo", "must not start with '_' (the platform's own ids do)")
	}
	for i := 0; i < len(outTradeNo); i++ {
		if c := outTradeNo[i]; !isIDByte(c) && c != '|' && c != '*' && c != '@' {
			return invalid("OutTradeNo", "character %q not allowed (want 0-9 A-Z a-z _ - | * @)", c)
		}
	}
	return nil
}

// firstError returns the first non-nil error: checks in field order.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// appendOptional appends an optional field only when set: empty optional
// fields are neither sent nor signed.
func appendOptional(fs []field, key, val string) []field {
	if val == "" {
		return fs
	}
	return append(fs, field{key: key, val: val})
}

// checkToken accepts 1 to max characters of [0-9A-Za-z_-]: openid, zone_id
// ("zone_role"), pf, appid, offer_id.
func checkToken(name, v string, max int) error {
	if v == "" {
		return invalid(name, "empty")
	}
	if len(v) > max {
		return invalid(name, "longer than %d characters", max)
	}
	for i := 0; i < len(v); i++ {
		if !isIDByte(v[i]) {
			return invalid(name, "character %q not allowed (want 0-9 A-Z a-z _ -)", v[i])
		}
	}
	return nil
}

func isIDByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-'
}

// CheckBillNo reports whether billNo is a valid bill_no: 1 to 63 characters
// of digits, letters, '_', '-', '*' and '@' (the union of what the pages
// allow). The error matches ErrInvalidRequest.
func CheckBillNo(billNo string) error {
	if billNo == "" {
		return invalid("BillNo", "empty")
	}
	if len(billNo) > maxBillNo {
		return invalid("BillNo", "longer than %d characters", maxBillNo)
	}
	for i := 0; i < len(billNo); i++ {
		if c := billNo[i]; !isIDByte(c) && c != '*' && c != '@' {
			return invalid("BillNo", "character %q not allowed (want 0-9 A-Z a-z _ - * @)", c)
		}
	}
	return nil
}

// checkSecret accepts any non-empty key without control characters or
// spaces, which would only be a copy-and-paste accident.
func checkSecret(name, v string) error {
	if v == "" {
		return invalid(name, "empty")
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] == 0x7f {
			return invalid(name, "contains a space or control character")
		}
	}
	return nil
}

// checkText accepts free text (pay_item, app_remark): valid UTF-8 without
// control characters, so that what the server decodes is what was signed.
func checkText(name, v string) error {
	if !utf8.ValidString(v) {
		return invalid(name, "not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalid(name, "contains a control character")
		}
	}
	return nil
}

func checkPositive(name string, n int64) error {
	if n <= 0 {
		return invalid(name, "must be positive, got %d", n)
	}
	return nil
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
