package midastest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"unicode"
)

// jsonKind is the JSON type of a body value.
type jsonKind int

const (
	kindString jsonKind = iota
	kindNumber
	kindBool
	kindNull
	kindObject
	kindArray
)

// bodyField is one name and value of a body object.
type bodyField struct {
	name string
	kind jsonKind
	text string // a string's value, or a number's literal text
}

// parseObject reads body as exactly one JSON object, strictly: a name at
// most once (compared after unescaping), and nothing but JSON whitespace
// after the closing brace. Fields come back in body order.
func parseObject(body []byte) ([]bodyField, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("body is not a JSON object")
	}
	seen := map[string]bool{}
	var fields []bodyField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("body is not a JSON object: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("body is not a JSON object")
		}
		if seen[name] {
			return nil, fmt.Errorf("field %q appears more than once", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("body is not a JSON object: %v", err)
		}
		f := bodyField{name: name, kind: kindOf(raw)}
		switch f.kind {
		case kindString:
			if err := json.Unmarshal(raw, &f.text); err != nil {
				return nil, fmt.Errorf("field %q: %v", name, err)
			}
		case kindNumber:
			f.text = string(raw)
		}
		fields = append(fields, f)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("body is not a JSON object: %v", err)
	}
	for _, c := range body[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, errors.New("data after the JSON object")
		}
	}
	return fields, nil
}

// kindOf classifies a JSON value by its first byte.
func kindOf(raw json.RawMessage) jsonKind {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return kindNull
	}
	switch raw[0] {
	case '"':
		return kindString
	case '{':
		return kindObject
	case '[':
		return kindArray
	case 't', 'f':
		return kindBool
	case 'n':
		return kindNull
	}
	return kindNumber
}

// describe names a value's type the way the 2.0 server's errmsg does ("field
// "bill_no" doesn't expect an uint32 value").
func (f bodyField) describe() string {
	switch f.kind {
	case kindString:
		return "a string"
	case kindBool:
		return "a bool"
	case kindNull:
		return "a null"
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	}
	if n, err := strconv.ParseInt(f.text, 10, 64); err == nil {
		if n >= 0 && n <= math.MaxUint32 {
			return "an uint32"
		}
		return "an int64"
	}
	return "a double"
}

// params returns the string and number fields by name, numbers as their
// literal text.
func params(fields []bodyField) map[string]string {
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		if f.kind == kindString || f.kind == kindNumber {
			m[f.name] = f.text
		}
	}
	return m
}

// looseParams is the fields of a body it will not process (under a fault),
// for Calls: nil if the body is not a strict JSON object.
func looseParams(body []byte) map[string]string {
	fields, err := parseObject(body)
	if err != nil {
		return nil
	}
	return params(fields)
}

// hasControl reports whether s contains a control character (C0, DEL or
// C1). Everything printable is a possible zone_id: "zoneID_roleID", role
// ids the game's own.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// validSessionKey reports whether k is a session_key the client accepts:
// the standard, padded base64 of exactly 16 bytes.
func validSessionKey(k string) bool {
	if len(k) != 24 {
		return false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(k)
	return err == nil && len(raw) == 16
}

// hmacHex is lowercase hex HMAC-SHA256 of the concatenated parts.
func hmacHex(key string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// sameSig compares a received signature with the expected one in constant
// time.
func sameSig(got, want string) bool { return hmac.Equal([]byte(got), []byte(want)) }

func answer(code int, msg string, fields map[string]any) result {
	m := map[string]any{"errcode": code, "errmsg": msg}
	for k, v := range fields {
		m[k] = v
	}
	body, _ := json.Marshal(m)
	return result{status: http.StatusOK, body: body}
}
