package midas

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

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

// flatKind is how a field of an answer struct reads a JSON value, the way
// its type does under json.Unmarshal.
type flatKind int

const (
	flatString     flatKind = iota // string
	flatIntPtr                     // *int
	flatOptInt                     // optInt
	flatFlexString                 // flexString
	flatFlexBool                   // flexBool
)

type flatField struct {
	index []int
	kind  flatKind
}

// flatTable is what decodeFlat knows of an answer struct: its fields by
// JSON name. It is nil for a struct it cannot read (a field of another
// type, a nested struct under a name, two fields of one name).
type flatTable struct {
	byName map[string]int
	fields []flatField
	names  []string
}

var flatTables sync.Map // reflect.Type → *flatTable

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
		var k flatKind
		switch f.Type {
		case typeString:
			k = flatString
		case typeIntPtr:
			k = flatIntPtr
		case typeOptInt:
			k = flatOptInt
		case typeFlexString:
			k = flatFlexString
		case typeFlexBool:
			k = flatFlexBool
		default:
			return false
		}
		if _, dup := ft.byName[name]; dup {
			return false
		}
		ft.byName[name] = len(ft.fields)
		ft.fields = append(ft.fields, flatField{index: idx, kind: k})
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

// decodeFlat decodes data into out if it is one flat object of the plain
// kind answers are, and reports whether it did. On false, out may be half
// filled.
func decodeFlat(data []byte, out any) bool {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return false
	}
	rv = rv.Elem()
	ft := flatTableOf(rv.Type())
	if ft == nil {
		return false
	}
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
			if i, ok := ft.byName[string(key)]; ok {
				if seen&(1<<i) != 0 { // repeated: encoding/json decides
					return false
				}
				seen |= 1 << i
				f := ft.fields[i]
				if !setFlat(rv.FieldByIndex(f.index), f.kind, val, kind) {
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

// setFlat sets field v of kind k from one JSON value, as json.Unmarshal
// would, or reports false for a value it would refuse.
func setFlat(v reflect.Value, k flatKind, val []byte, t token) bool {
	switch k {
	case flatString:
		switch t {
		case tokString:
			v.SetString(string(val))
		case tokNull:
		default:
			return false
		}
	case flatIntPtr:
		switch t {
		case tokInt:
			n, err := strconv.ParseInt(string(val), 10, strconv.IntSize)
			if err != nil {
				return false
			}
			p := &zeroInt // errcode 0, nearly every answer: shared, never written through
			if n != 0 {
				p = new(int)
				*p = int(n)
			}
			v.Set(reflect.ValueOf(p))
		case tokNull:
			v.SetZero()
		default:
			return false
		}
	case flatOptInt:
		switch t {
		case tokInt:
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				return false
			}
			*v.Addr().Interface().(*optInt) = optInt{v: n, ok: true}
		case tokNull:
		default:
			return false
		}
	case flatFlexString:
		switch t {
		case tokString, tokInt:
			if string(val) == "ok" { // nearly every success: no copy
				v.SetString("ok")
				break
			}
			v.SetString(string(val))
		case tokNull:
		default:
			return false
		}
	case flatFlexBool:
		if t == tokString { // its text is not the raw value
			return false
		}
		p := v.Addr().Interface().(*flexBool)
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
		switch {
		case c == '"':
			text := s.data[start:s.i]
			s.i++
			return text, ascii || utf8.Valid(text)
		case c == '\\' || c < ' ':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return nil, false
}

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
