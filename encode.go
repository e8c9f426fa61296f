package midas

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
