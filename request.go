package midas

import (
	"encoding/base64"
	"net/netip"
	"unicode/utf8"
)

// Limits on the fields this package checks before sending. bill_no's are the
// documented ones; the others are generous bounds on identifiers.
const (
	maxBillNo = 63
	maxIDLen  = 128
)

// playerFields checks the fields every request carries and returns them as
// body fields, defaults applied and empty optional ones left out (they are
// neither sent nor signed).
func playerFields(openID, sessionKey, zoneID, pf, userIP string) ([]field, error) {
	if err := checkToken("OpenID", openID, maxIDLen); err != nil {
		return nil, err
	}
	if sessionKey != "" {
		if _, err := base64.StdEncoding.DecodeString(sessionKey); err != nil {
			return nil, invalid("SessionKey", "not valid base64")
		}
	}
	if zoneID == "" {
		zoneID = DefaultZoneID
	}
	if err := checkToken("ZoneID", zoneID, maxIDLen); err != nil {
		return nil, err
	}
	if pf == "" {
		pf = DefaultPF
	}
	if err := checkToken("PF", pf, maxIDLen); err != nil {
		return nil, err
	}
	fs := make([]field, 0, 10)
	fs = append(fs, field{key: "openid", val: openID}, field{key: "zone_id", val: zoneID}, field{key: "pf", val: pf})
	if userIP != "" {
		if _, err := netip.ParseAddr(userIP); err != nil {
			return nil, invalid("UserIP", "%q is not an IP address", userIP)
		}
		fs = append(fs, field{key: "user_ip", val: userIP})
	}
	return fs, nil
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
		if r < ' ' || r == 0x7f {
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

// appendBody appends the JSON body: fields in order, then sig and, when
// set, mp_sig. Values were checked to be valid UTF-8, so escaping is all that
// is needed for the server to decode exactly the signed text.
func appendBody(b []byte, fs []field, sig, mpSig string) []byte {
	b = append(b, '{')
	for _, f := range fs {
		b = appendMember(b, f)
		b = append(b, ',')
	}
	b = appendMember(b, field{key: keySig, val: sig})
	if mpSig != "" {
		b = append(b, ',')
		b = appendMember(b, field{key: keyMpSig, val: mpSig})
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
