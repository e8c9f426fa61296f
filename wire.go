package midas

// The bytes on the wire both ways, made and read the same way for both
// versions: the checks every request field passes before anything is sent,
// request bodies and signData as compact JSON, the HMAC-SHA256 that signs
// them, and the decoding of the answers.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// check is one request field to check before sending, as data: the Go
// field's name, the rule and the value. A dialect lists a request's checks
// in the order they are reported and checkAll runs them in one pass, so the
// rules are here once for both versions.
type check struct {
	name string
	rule rule
	s    string
	n    int64
}

// rule says how a check's value is checked.
type rule uint8

const (
	ruleSessionKey      rule = iota + 1 // checkSessionKey
	ruleOpenID                          // checkID up to maxIDLen
	ruleZoneID                          // checkZoneID
	ruleUserIP                          // checkIP when given
	ruleBillNoV2                        // checkBillNoV2
	rulePositive                        // n > 0
	ruleText                            // checkText
	ruleQueryOutTradeNo                 // checkOutTradeNo, the platform's own ids allowed
)

// checkAll runs cs in order and returns the first problem.
func checkAll(cs []check) error {
	for i := range cs {
		c := &cs[i]
		var err error
		switch c.rule {
		case ruleSessionKey:
			err = checkSessionKey(c.s)
		case ruleOpenID:
			err = checkID(c.name, c.s, maxIDLen)
		case ruleZoneID:
			err = checkZoneID(c.s)
		case ruleUserIP:
			if c.s != "" {
				err = checkIP(c.s)
			}
		case ruleBillNoV2:
			err = checkBillNoV2(c.name, c.s)
		case rulePositive:
			err = checkPositive(c.name, c.n)
		case ruleText:
			err = checkText(c.name, c.s)
		case ruleQueryOutTradeNo:
			err = checkOutTradeNo(c.s, true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkBillNoV2 accepts 2.0's bill_no: 1 to 63 of [0-9A-Za-z_-], not
// starting with '_'.
func checkBillNoV2(name, billNo string) error {
	if billNo == "" {
		return invalid(name, "empty")
	}
	if len(billNo) > maxBillNo {
		return invalid(name, "longer than %d characters", maxBillNo)
	}
	if billNo[0] == '_' {
		return invalid(name, "must not start with '_' in virtual payment %s", V2)
	}
	for i := 0; i < len(billNo); i++ {
		if !isIDByte(billNo[i]) {
			return invalid(name, "character %q not allowed in virtual payment %s (want 0-9 A-Z a-z _ -)", billNo[i], V2)
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

// bodySize is the length of fs laid out by appendObject, so that a body is
// built in one allocation of its own size.
func bodySize(fs []field) int {
	n := 2 + max(len(fs)-1, 0) // braces and commas
	for _, f := range fs {
		n += len(f.key) + 3 // quotes and colon
		if f.num {
			n += len(f.val)
		} else {
			n += jsonStringLen(f.val)
		}
	}
	return n
}

// jsonStringLen is the length of s as appendJSONString writes it.
func jsonStringLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n++
		case c < ' ':
			n += 5
		}
	}
	return n
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		// The run up to the next byte to escape goes in one append.
		j := i
		for j < len(s) && s[j] >= ' ' && s[j] != '"' && s[j] != '\\' {
			j++
		}
		b = append(b, s[i:j]...)
		if j == len(s) {
			break
		}
		switch c := s[j]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i = j
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

// encodeSignedBody is a 2.0 attempt's body and signatures in one pass: fs
// laid out with ts filled (its text kept in tsText), then pay_sig (key,
// over path + "&" + body) and signature (sessionKey, over body) of those
// very bytes. The body is its own slice: the transport may still read it
// after Do returns.
func encodeSignedBody(fs []field, ts int64, tsText *memo[int64], key *appKey, path, sessionKey string) (body []byte, paySig, signature sigHex) {
	var arr [16]field
	stamped := append(arr[:0], fs...)
	for i := range stamped {
		if stamped[i].key == "ts" {
			stamped[i].val = tsText.get(ts, decimal)
		}
	}
	body = appendObject(make([]byte, 0, bodySize(stamped)), stamped)
	signBodyHex(key, path, body, sessionKey, &paySig, &signature)
	return body, paySig, signature
}

// sigHex is a signature in lowercase hex.
type sigHex [2 * sha256.Size]byte

// signBodyHex writes 2.0's two signatures of body: paySig with the AppKey's
// pads over path + "&" + body, signature with the session_key over body.
func signBodyHex(key *appKey, path string, body []byte, sessionKey string, paySig, signature *sigHex) {
	bp := key.buf()
	buf := key.pads.start(*bp)
	buf = append(buf, path...)
	buf = append(buf, '&')
	buf = append(buf, body...)
	key.pads.appendSumHex(paySig[:0], buf)
	pads := newHMACKey(sessionKey)
	buf = append(pads.start(buf), body...)
	pads.appendSumHex(signature[:0], buf)
	// The buffer held the key pads: put wipes it before reuse.
	key.put(bp, buf)
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

// memo keeps the string made from the last key, so that a string that
// changes once per token (the access_token query) or per second (ts) is not
// made again for every attempt. A nil memo makes it every time.
type memo[K comparable] struct{ last atomic.Pointer[memoEntry[K]] }

type memoEntry[K comparable] struct {
	key K
	val string
}

func (m *memo[K]) get(k K, makeVal func(K) string) string {
	if m == nil {
		return makeVal(k)
	}
	if e := m.last.Load(); e != nil && e.key == k {
		return e.val
	}
	v := makeVal(k)
	m.last.Store(&memoEntry[K]{k, v})
	return v
}

// decimal is ts in its signed and sent text.
func decimal(n int64) string { return strconv.FormatInt(n, 10) }

// decodeAnswer decodes an answer into out, a pointer to a zero struct, with
// the result json.Unmarshal would give: the same fields set, the same
// error. Midas answers are one flat object of strings, integers and
// booleans; decodeFlat reads those without encoding/json's reflection per
// field and value. Anything else, or anything it is not sure of (escapes,
// fractions, nested values, repeated or case-folded names, errors), goes to
// json.Unmarshal from a zero value, which then decides.
func decodeAnswer(data []byte, out any) error {
	if decodeFlat(data, out) {
		return nil
	}
	reflect.ValueOf(out).Elem().SetZero()
	return json.Unmarshal(data, out)
}

// flatTable is what decodeFlat knows of an answer struct: its fields by
// JSON name. It is nil for a struct it cannot read (a field of another
// type, a nested struct under a name, two fields of one name).
type flatTable struct {
	byName map[string]int
	fields [][]int // each field's index, for reflect's FieldByIndex
	names  []string
}

var flatTables sync.Map // reflect.Type → *flatTable

// The table of apiResponse, which nearly every decode reads, is at hand
// without a lookup.
var (
	answerType  = reflect.TypeFor[apiResponse]()
	answerTable = flatTableOf(answerType)
)

func flatTableOf(t reflect.Type) *flatTable {
	if v, ok := flatTables.Load(t); ok {
		return v.(*flatTable)
	}
	ft := &flatTable{byName: map[string]int{}}
	if !ft.add(t, nil) || len(ft.fields) > 64 {
		ft = nil
	}
	flatTables.Store(t, ft)
	return ft
}

var (
	typeString     = reflect.TypeOf("")
	typeIntPtr     = reflect.TypeOf((*int)(nil))
	typeOptInt     = reflect.TypeOf(optInt{})
	typeFlexString = reflect.TypeOf(flexString(""))
	typeFlexBool   = reflect.TypeOf(flexBool{})
)

// add walks t's fields as encoding/json does for the cases answers use:
// exported fields under their tag's name or their own, untagged embedded
// structs promoted.
func (ft *flatTable) add(t reflect.Type, index []int) bool {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		idx := append(append([]int(nil), index...), i)
		tag, hasTag := f.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if !ft.add(f.Type, idx) {
				return false
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if !hasTag || name == "" {
			name = f.Name
		}
		switch f.Type { // the kinds setSlot reads
		case typeString, typeIntPtr, typeOptInt, typeFlexString, typeFlexBool:
		default:
			return false
		}
		if _, dup := ft.byName[name]; dup {
			return false
		}
		ft.byName[name] = len(ft.fields)
		ft.fields = append(ft.fields, idx)
		ft.names = append(ft.names, name)
	}
	return true
}

// foldsToField reports whether json.Unmarshal could match key to a field
// other than by its exact name: a case-insensitive match, or any name that
// is not plain ASCII (encoding/json folds some non-ASCII letters).
func (ft *flatTable) foldsToField(key []byte) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range ft.names {
		if strings.EqualFold(n, string(key)) {
			return true
		}
	}
	return false
}

// slotted is an answer struct that names its own fields, so decodeFlat
// sets them without a map or reflection: slot returns the address of the
// field json.Unmarshal would set for key (by its tag) and a number below
// 64 unique to it, or nil. TestAnswerSlotsMatchTags holds apiResponse's to
// its tags.
type slotted interface {
	slot(key []byte) (any, int)
}

// decodeFlat decodes data into out if it is one flat object of the plain
// kind answers are, and reports whether it did. On false, out may be half
// filled.
func decodeFlat(data []byte, out any) bool {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return false
	}
	rv = rv.Elem()
	ft := answerTable
	if t := rv.Type(); t != answerType {
		ft = flatTableOf(t)
	}
	if ft == nil {
		return false
	}
	slots, _ := out.(slotted)
	s := flatScanner{data: data}
	if s.skipSpace(); !s.byte('{') {
		return false
	}
	var seen uint64
	if s.skipSpace(); !s.byte('}') {
		for {
			key, ok := s.str()
			if s.skipSpace(); !ok || !s.byte(':') {
				return false
			}
			s.skipSpace()
			val, kind := s.value()
			if kind == tokBad {
				return false
			}
			var p any
			i := -1
			if slots != nil {
				p, i = slots.slot(key)
			} else if j, ok := ft.byName[string(key)]; ok {
				p, i = rv.FieldByIndex(ft.fields[j]).Addr().Interface(), j
			}
			if p != nil {
				if seen&(1<<i) != 0 { // repeated: encoding/json decides
					return false
				}
				seen |= 1 << i
				if !setSlot(p, val, kind) {
					return false
				}
			} else if ft.foldsToField(key) {
				return false
			}
			s.skipSpace()
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return false
			}
			s.skipSpace()
		}
	}
	s.skipSpace()
	return s.i == len(data)
}

// setSlot sets the field p points to from one JSON value, as json.Unmarshal
// would, or reports false for a value it would refuse. p is a field of an
// answer struct of a kind flatTable accepts.
func setSlot(p any, val []byte, t token) bool {
	switch p := p.(type) {
	case *string:
		switch t {
		case tokString:
			*p = string(val)
		case tokNull:
		default:
			return false
		}
	case **int:
		switch t {
		case tokInt:
			n, err := strconv.ParseInt(string(val), 10, strconv.IntSize)
			if err != nil {
				return false
			}
			if n == 0 {
				*p = &zeroInt // errcode 0, nearly every answer: shared, never written through
			} else {
				v := int(n)
				*p = &v
			}
		case tokNull:
			*p = nil
		default:
			return false
		}
	case *optInt:
		switch t {
		case tokInt:
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				return false
			}
			*p = optInt{v: n, ok: true}
		case tokNull:
		default:
			return false
		}
	case *flexString:
		switch t {
		case tokString, tokInt:
			if string(val) == "ok" { // nearly every success: no copy
				*p = "ok"
				break
			}
			*p = flexString(val)
		case tokNull:
		default:
			return false
		}
	case *flexBool:
		if t == tokString { // its text is not the raw value
			return false
		}
		switch string(val) {
		case "true", "1":
			*p = flexBool{v: true, ok: true}
		case "false", "2", "0":
			*p = flexBool{ok: true}
		case "null":
			*p = flexBool{}
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// zeroInt is what a decoded *int field set to 0 points to. Answers are
// read, never written through.
var zeroInt int

// token is the kind of a JSON value decodeFlat reads.
type token int

const (
	tokBad    token = iota // anything it leaves to encoding/json
	tokString              // the text between the quotes, no escapes, valid UTF-8
	tokInt                 // -?(0|[1-9][0-9]*)
	tokTrue
	tokFalse
	tokNull
)

type flatScanner struct {
	data []byte
	i    int
}

func (s *flatScanner) skipSpace() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *flatScanner) byte(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes and returns its text.
func (s *flatScanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for s.i < len(s.data) {
		c := s.data[s.i]
		if plainASCII[c] {
			s.i++
			continue
		}
		switch {
		case c == '"':
			text := s.data[start:s.i]
			s.i++
			return text, ascii || utf8.Valid(text)
		case c == '\\' || c < ' ':
			return nil, false
		}
		ascii = false // c >= utf8.RuneSelf
		s.i++
	}
	return nil, false
}

// plainASCII marks the bytes a JSON string holds as themselves: ASCII, not
// a control character, a quote or a backslash.
var plainASCII = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *flatScanner) value() ([]byte, token) {
	if s.i >= len(s.data) {
		return nil, tokBad
	}
	switch c := s.data[s.i]; {
	case c == '"':
		text, ok := s.str()
		if !ok {
			return nil, tokBad
		}
		return text, tokString
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		s.byte('-')
		switch {
		case s.byte('0'):
		case s.i < len(s.data) && s.data[s.i] >= '1' && s.data[s.i] <= '9':
			for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
				s.i++
			}
		default:
			return nil, tokBad
		}
		if !s.atValueEnd() {
			return nil, tokBad // a fraction, an exponent, or not a number
		}
		return s.data[start:s.i], tokInt
	}
	for _, lit := range [...]struct {
		text string
		tok  token
	}{{"true", tokTrue}, {"false", tokFalse}, {"null", tokNull}} {
		if rest := s.data[s.i:]; len(rest) >= len(lit.text) && string(rest[:len(lit.text)]) == lit.text {
			start := s.i
			s.i += len(lit.text)
			if !s.atValueEnd() {
				return nil, tokBad
			}
			return s.data[start:s.i], lit.tok
		}
	}
	return nil, tokBad
}

// atValueEnd reports whether a number or literal ends here.
func (s *flatScanner) atValueEnd() bool {
	if s.i == len(s.data) {
		return true
	}
	switch s.data[s.i] {
	case ' ', '\t', '\n', '\r', ',', '}':
		return true
	}
	return false
}
