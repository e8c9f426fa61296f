package midas

// dialect is everything that differs between virtual payment 1.0 and 2.0,
// with the state it needs, fixed when NewClient makes it: which fields each
// API sends and how they are checked, how an attempt is framed and signed,
// the names of the answer's fields and what the errcodes mean. The shared
// call path (call.go) consults it the way database/sql consults a
// driver.Connector, "a driver in a fixed configuration". v1.go and v2.go
// are the two dialects: "how does a 2.0 pay differ" is answered in v2.go
// alone. No dialect method reaches back into the Client.
type dialect interface {
	version() Version

	// The request builders check r and return its call. On an error nothing
	// is sent; the error is an *InvalidRequestError naming the field.
	balance(r BalanceRequest) (*apiCall, error)
	pay(r PayRequest) (*apiCall, error)
	cancelPay(r CancelPayRequest) (*apiCall, error)
	present(r PresentRequest) (*apiCall, error)
	queryOrder(r QueryOrderRequest) (*apiCall, error)

	// gameItem checks r and builds and signs an item order (2.0 only).
	gameItem(r GameItemRequest) (*GameItemPayment, error)

	// frame stamps cl with ts, signs it and returns the path, the query
	// string (access_token included) and the body of one attempt. Every
	// attempt is framed anew: fresh ts, fresh signatures.
	frame(cl *apiCall, tok string, ts int64) (path, query string, body []byte)

	// normalize copies the version's answer fields onto the names the
	// response types are filled from; answerName maps such a 1.0 name
	// back to the one this version answers with, for error messages.
	normalize(r *apiResponse)
	answerName(v1Name string) string
}

// generation is one version of virtual payment as the package knows it:
// its name, how a client of it is made and its errcode table.
type generation struct {
	name       string // Version.String
	label      string // before the API in an APIError's text: "" or "v2 "
	newDialect func(Config, *appKey) dialect
	errcodes   errcodeTable
	// doneCodes is, for each API that moves coins, the errcode meaning its
	// bill_no was applied before (APIError.AlreadyApplied).
	doneCodes map[string]int
	// checkBillNo checks a bill_no by this version's rules, naming the
	// field name in its error.
	checkBillNo func(name, billNo string) error
}

// generations is the dialect choice: a version is one line here plus its
// own file.
var generations = map[Version]generation{
	V1: {"1.0", "", newV1, v1Errcodes, v1DoneCodes, checkBillNoV1},
	V2: {"2.0", "v2 ", newV2, v2Errcodes, v2DoneCodes, checkBillNoV2},
}

// newDialect makes the dialect of cfg's version, which NewClient has
// checked.
func newDialect(cfg Config) dialect {
	return generations[cfg.Version].newDialect(cfg, newAppKey(cfg.AppKey))
}

// fieldNotIn is the error for a request field the chosen version does not
// have: never silently dropped.
func fieldNotIn(name string, v Version) error {
	return invalid(name, "not a field of virtual payment %s: leave it empty", v)
}
