package midas

// GameItemRequest is an item purchase for the game client to make with
// wx.requestMidasPaymentGameItem (virtual payment 2.0, 道具直购).
type GameItemRequest struct {
	SessionKey string // the buyer's session_key: the signature is keyed with it
	ProductID  string // the item id configured and published in the MP console
	Quantity   int64  // buyQuantity, positive
	Price      int64  // goodsPrice: the unit price in fen, as configured (a different price fails with -15016)
	// OutTradeNo is the order's id: it comes back in the delivery push and
	// is what delivery is keyed on. 1 to 32 of [0-9A-Za-z_-|*@], not
	// starting with '_' (the platform's own ids do), used once.
	OutTradeNo string
	ZoneID     string // zoneId; default "1"
	// Attach is echoed back in the delivery push; optional, at most
	// MaxAttachLen bytes.
	Attach string
}

// GameItemPayment is what the front end passes to
// wx.requestMidasPaymentGameItem, as it is: its JSON has exactly the keys
// signData, paySig and signature.
type GameItemPayment struct {
	// SignData is the order as a JSON string. Pass the string itself, not
	// a parsed object (an object fails with -15011): the signatures cover
	// these bytes.
	SignData  string `json:"signData"`
	PaySig    string `json:"paySig"`    // PaySig("requestMidasPaymentGameItem", SignData, AppKey)
	Signature string `json:"signature"` // SessionSig(SignData, session_key)
}

// MaxAttachLen bounds GameItemRequest.Attach. The pages give no limit; this
// is WeChat Pay's own limit for attach, which the order passes through.
const MaxAttachLen = 128

// gameItemURI is the "uri" that paySig covers for an item order.
const gameItemURI = "requestMidasPaymentGameItem"

// SignGameItem builds and signs an item order for the game client (2.0
// only). The signData string carries mode "goods", the client's offer_id and
// env, currencyType CNY, platform android and the request's fields; paySig is
// keyed with the client's AppKey (that of its env), signature with the
// buyer's session_key. Nothing is sent: the client pays, and WeChat pushes
// the delivery to the game server (see package push).
func (c *Client) SignGameItem(r GameItemRequest) (*GameItemPayment, error) {
	p, err := c.d.gameItem(r)
	if err != nil {
		return nil, inVersion(err, c.d.version())
	}
	return p, nil
}

func checkProductID(id string) error {
	if id == "" {
		return invalid("ProductID", "empty")
	}
	if len(id) > maxIDLen {
		return invalid("ProductID", "longer than %d bytes", maxIDLen)
	}
	return checkText("ProductID", id)
}
