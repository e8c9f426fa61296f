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
	if err := checkID("OpenID", openID, maxIDLen); err != nil {
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
	var raw [18]byte // 24 base64 characters decode to at most 18 bytes
	n, err := base64.StdEncoding.Strict().Decode(raw[:], []byte(sessionKey))
	if err != nil || n != 16 {
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

// checkID accepts 1 to max characters of [0-9A-Za-z_-]: openid, zone_id
// ("zone_role"), pf, appid, offer_id.
func checkID(name, v string, max int) error {
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

// CheckBillNo reports whether billNo is a valid 1.0 bill_no: 1 to 63
// characters of digits, letters, '_', '-', '*' and '@'. The error matches
// ErrInvalidRequest.
//
// Deprecated: it applies 1.0's rules only, and 2.0 refuses '*', '@' and a
// leading '_'; use CheckBillNoFor with the client's version.
func CheckBillNo(billNo string) error { return checkBillNoV1("BillNo", billNo) }

// CheckBillNoFor reports whether billNo is a valid bill_no in version v,
// by the rules the client of that version applies before sending: 1.0 1 to
// 63 of [0-9A-Za-z_-*@]; 2.0 1 to 63 of [0-9A-Za-z_-], not starting with
// '_'. The error is an *InvalidRequestError matching ErrInvalidRequest.
func CheckBillNoFor(v Version, billNo string) error {
	g, ok := generations[v]
	if !ok {
		return inVersion(invalid("Version", "must be V1 or V2, got %d", int(v)), v)
	}
	return inVersion(g.checkBillNo("BillNo", billNo), v)
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
