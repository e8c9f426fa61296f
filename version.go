package midas

// dialect is everything that differs between virtual payment 1.0 and 2.0:
// which fields each API sends and how they are checked, how an attempt is
// framed and signed, the names of the answer's fields and what the errcodes
// mean. The shared request, retry, token and error path consults it, the way
// database/sql consults a driver. v1.go and v2.go are the two dialects: "how
// does a 2.0 pay differ" is answered in v2.go alone.
type dialect interface {
	version() Version

	// The request builders check r and return its call. On an error nothing
	// is sent; the error matches ErrInvalidRequest and names the field.
	balance(c *Client, r *BalanceRequest) (*call, error)
	pay(c *Client, r *PayRequest) (*call, error)
	cancelPay(c *Client, r *CancelPayRequest) (*call, error)
	present(c *Client, r *PresentRequest) (*call, error)
	queryOrder(c *Client, r *QueryOrderRequest) (*call, error)

	// gameItem checks r and returns the fields of an item order's signData,
	// in order (2.0 only).
	gameItem(c *Client, r *GameItemRequest) ([]field, error)

	// frame stamps cl with ts, signs it and returns the path, the query
	// string (access_token included) and the body of one attempt. Every
	// attempt is framed anew: fresh ts, fresh signatures.
	frame(c *Client, cl *call, tok string, ts int64) (path, query string, body []byte)

	// normalize copies the version's answer fields onto the names the
	// response types are filled from.
	normalize(r *apiResponse)
}

// dialectOf returns the dialect of v; an invalid v is V1's (NewClient
// rejects it, so only a hand-made APIError can carry one).
func dialectOf(v Version) dialect {
	if v == V2 {
		return v2{}
	}
	return v1{}
}

// fieldNotIn is the error for a request field the chosen version does not
// have: never silently dropped.
func fieldNotIn(name string, v Version) error {
	return invalid(name, "not a field of virtual payment %s: leave it empty", v)
}
