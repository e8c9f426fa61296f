package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/gomidas/midas"
)

// Event names of the pushes this package handles. Any other Event is
// acknowledged with success and ignored.
const (
	// EventGamePayGoodsDeliver is an item bought in the game
	// (wx.requestMidasPaymentGameItem) to be delivered.
	EventGamePayGoodsDeliver = "minigame_game_pay_goods_deliver_notify"
	// EventH5GoodsDeliver is an item bought in the store (商城), the name in
	// the documentation's tables.
	EventH5GoodsDeliver = "minigame_h5_goods_deliver_notify"
	// EventDeliverH5PayProducts is an item bought in the store, the name in
	// the documentation's JSON examples. Both store names are accepted.
	EventDeliverH5PayProducts = "minigame_deliver_h5_pay_products"
	// EventCoinDeliverCompleted is a coin top-up credited to a game zone.
	EventCoinDeliverCompleted = "minigame_coin_deliver_completed"
	// EventRechargeCenterCoinDeliverCompleted is a coin top-up credited in
	// the recharge centre (no zone).
	EventRechargeCenterCoinDeliverCompleted = "minigame_recharge_center_coin_deliver_completed"
	// EventPayRefundSucc is a refund of a coin or item order completed.
	EventPayRefundSucc = "minigame_pay_refund_succ_notify"
)

// Order sources of an item delivery (GoodsInfo.OrderSource).
const (
	SourceInGame    = 1 // bought in the game
	SourceStore     = 2 // bought in the store (商城)
	SourceStoreTest = 3 // store test order
)

// Refund sources (RefundSource).
const (
	RefundSourcePlatform = 1 // refunded by the platform
	RefundSourceMP       = 2 // submitted in MP
	RefundSourceAPI      = 3 // submitted through the API
)

// ItemDelivery is a verified item purchase to deliver: grant Quantity of
// ProductID to OpenID in ZoneID, once per order. An order is identified by
// Env and OutTradeNo together: WeChat scopes OutTradeNo per environment.
//
// WeChat repeats a push until it is answered with success, and may repeat it
// after that, so a handler must be idempotent on (Env, OutTradeNo): if the
// order was already delivered, return nil without granting again. Record the
// order in the same transaction that grants the items (a unique key on Env
// and OutTradeNo makes the repeat fail cleanly), or use [WithDeduper]. Check
// Env: a sandbox order ([midas.Sandbox]) was not paid with real money.
//
//	func deliver(ctx context.Context, d *push.ItemDelivery) error {
//		return db.InTx(ctx, func(tx Tx) error {
//			inserted, err := tx.InsertOrderOnce(d.Env, d.OutTradeNo) // unique key
//			if err != nil || !inserted {
//				return err // nil when already delivered
//			}
//			return tx.Grant(d.OpenID, d.ProductID, d.Quantity)
//		})
//	}
type ItemDelivery struct {
	Event       string    // EventGamePayGoodsDeliver, EventH5GoodsDeliver or EventDeliverH5PayProducts
	OpenID      string    // buyer
	OutTradeNo  string    // the order's outTradeNo: with Env, the key of exactly-once delivery
	Env         midas.Env // midas.Production or midas.Sandbox
	ProductID   string    // GoodsInfo.ProductId
	Quantity    int64     // GoodsInfo.Quantity
	ZoneID      string    // GoodsInfo.ZoneId
	OrigPrice   int64     // GoodsInfo.OrigPrice, fen
	ActualPrice int64     // GoodsInfo.ActualPrice, fen (what was paid)
	Attach      string    // GoodsInfo.Attach, the attach of signData
	Source      int       // GoodsInfo.OrderSource: SourceInGame, SourceStore or SourceStoreTest
	// MchOrderNo and TransactionID are the WeChat Pay ids; empty for other
	// payment channels.
	MchOrderNo, TransactionID string
	// CreateTime is the envelope's CreateTime: when WeChat sent the push.
	CreateTime time.Time
	// Payload is the verified Payload JSON as signed, for audit records.
	Payload string
}

// CoinDelivery is a verified coin top-up: the coins are already in the
// player's balance. Treat it as a hint to refresh the balance; never deliver
// items from a coin order's OutTradeNo (deliver after a successful pay).
type CoinDelivery struct {
	Event      string    // EventCoinDeliverCompleted or EventRechargeCenterCoinDeliverCompleted
	OpenID     string    // player
	OutTradeNo string    // the outTradeNo of wx.requestMidasPayment (platform-filled, starting with "_", if the game gave none)
	Env        midas.Env // midas.Production or midas.Sandbox
	ZoneID     string    // CoinInfo.ZoneId; empty for the recharge centre
	Quantity   int64     // CoinInfo.BuyQuantity: coins bought
	OrigPrice  int64     // CoinInfo.OrigPrice, fen
	// ActualPrice is CoinInfo.ActualPrice, fen; the documentation's examples
	// name it TotalPrice, which is accepted too.
	ActualPrice int64
	// MchOrderNo and TransactionID are the WeChat Pay ids; empty for other
	// payment channels.
	MchOrderNo, TransactionID string
	// CreateTime is the envelope's CreateTime: when WeChat sent the push.
	CreateTime time.Time
	// Payload is the verified Payload JSON as signed, for audit records.
	Payload string
}

// Refund is a verified completed refund of a coin or item order.
type Refund struct {
	Event        string    // EventPayRefundSucc
	OpenID       string    // player, when the payload carries it
	OutTradeNo   string    // the refunded order
	Env          midas.Env // midas.Production or midas.Sandbox
	RefundID     string    // RefundId: the refund's id, unique per refund
	RefundAmount int64     // fen
	RefundSource int       // RefundSourcePlatform, RefundSourceMP or RefundSourceAPI
	// MchOrderNo and TransactionID are the WeChat Pay ids of the paid order;
	// empty for other payment channels.
	MchOrderNo, TransactionID string
	// CreateTime is the envelope's CreateTime: when WeChat sent the push.
	CreateTime time.Time
	// Payload is the verified Payload JSON as signed, for audit records.
	Payload string
}

// eventKind classifies an Event.
type eventKind int

const (
	kindUnknown eventKind = iota
	kindItem
	kindCoin
	kindRefund
)

func kindOf(event string) eventKind {
	switch event {
	case EventGamePayGoodsDeliver, EventH5GoodsDeliver, EventDeliverH5PayProducts:
		return kindItem
	case EventCoinDeliverCompleted, EventRechargeCenterCoinDeliverCompleted:
		return kindCoin
	case EventPayRefundSucc:
		return kindRefund
	}
	return kindUnknown
}

// envelope is the decoded (or decrypted) push body.
type envelope struct {
	ToUserName   unusedString
	FromUserName unusedString
	CreateTime   int64
	MsgType      unusedString
	Event        string
	MiniGame     *miniGame
}

// unusedString is an envelope field the handler does not use: its JSON type
// is checked as a string field's would be (a string or null), and nothing
// is kept.
type unusedString struct{}

var errNotString = errors.New("not a string")

func (*unusedString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" || len(b) > 0 && b[0] == '"' {
		return nil
	}
	return errNotString
}

type miniGame struct {
	Payload     string
	PayEventSig string
	IsMock      bool
}

// secureBody is the outer body of a secure-mode push.
type secureBody struct {
	ToUserName string
	Encrypt    string
}

// plainEnvelope is a plain-mode body: the envelope, and the Encrypt that
// tells a secure-mode body sent to a handler without an EncodingAESKey,
// both read in one decode.
type plainEnvelope struct {
	envelope
	Encrypt encryptField
}

// encryptField reads Encrypt as a string field does (the last non-null value
// wins); a value that is not a string fails the decode, which sends the body
// down decodeEnvelope's slow path.
type encryptField struct{ nonEmpty bool }

func (f *encryptField) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
	case len(b) > 0 && b[0] == '"':
		f.nonEmpty = len(b) > len(`""`)
	default:
		return errNotString
	}
	return nil
}

// Reasons an envelope is refused.
const (
	reasonEncryptedPlain = "encrypted body, but no EncodingAESKey is configured"
	reasonEnvelopeJSON   = "envelope is not the expected JSON"
)

// decodeEnvelope decodes a push's envelope. In plain mode it first refuses a
// body with an Encrypt: the envelope and Encrypt are read in one decode; a
// body that fails it is read again field by field so that the reason is the
// one of the two separate reads (Encrypt's, then the envelope's).
func decodeEnvelope(msg []byte, plain bool) (*envelope, *rejection) {
	if !plain {
		env := new(envelope)
		if json.Unmarshal(msg, env) != nil {
			return nil, reject(ansBadRequest, reasonEnvelopeJSON)
		}
		return env, nil
	}
	pe := new(plainEnvelope)
	if err := json.Unmarshal(msg, pe); err != nil {
		var outer secureBody
		if json.Unmarshal(msg, &outer) == nil && outer.Encrypt != "" {
			return nil, reject(ansBadRequest, reasonEncryptedPlain)
		}
		env := new(envelope)
		if json.Unmarshal(msg, env) != nil {
			return nil, reject(ansBadRequest, reasonEnvelopeJSON)
		}
		return env, nil
	}
	if pe.Encrypt.nonEmpty {
		return nil, reject(ansBadRequest, reasonEncryptedPlain)
	}
	return &pe.envelope, nil
}

// Reasons a push is malformed. They name fields, never values.
var (
	errPayloadEnv      = errors.New("payload Env is not an integer")
	errPayloadMismatch = errors.New("payload Env differs between parses")
	errNoOutTradeNo    = errors.New("payload has no OutTradeNo")
	errNoOpenID        = errors.New("payload has no OpenId")
	errNoProductID     = errors.New("payload has no GoodsInfo.ProductId")
	errPayloadJSON     = errors.New("payload is not the expected JSON")
)

// payloadEnvField is a payload's Env, read both ways in the payload's one
// decode (json calls UnmarshalJSON for each occurrence of the key):
//   - tolerant, to pick the AppKey before the signature is checked: the
//     last value, a number or a string of digits; missing or null is 0
//     (production);
//   - strict, as an int64 field: the last non-null value, which must be a
//     JSON integer; any other value fails the payload once it is verified.
type payloadEnvField struct {
	tolerant    int64
	tolerantErr error // the last value has no tolerant reading
	strict      int64
	strictBad   bool // some value is not a JSON integer of int64 range
}

func (e *payloadEnvField) UnmarshalJSON(b []byte) error {
	raw := bytes.TrimSpace(b)
	if string(raw) == "null" { // json leaves an int64 unchanged on null
		e.tolerant, e.tolerantErr = 0, nil
		return nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		e.strictBad = true
	} else {
		e.strict = n
	}
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			e.tolerant, e.tolerantErr = 0, errPayloadEnv
			return nil
		}
		n, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		e.tolerant, e.tolerantErr = 0, errPayloadEnv
		return nil
	}
	e.tolerant, e.tolerantErr = n, nil
	return nil
}

// payloadShape is the strict shape of one kind of payload.
type payloadShape interface{ envField() *payloadEnvField }

// newPayloadShape is the shape of the payload of an event of kind k.
func newPayloadShape(k eventKind) payloadShape {
	switch k {
	case kindCoin:
		return new(coinPayload)
	case kindRefund:
		return new(refundPayload)
	}
	return new(itemPayload)
}

func (p *itemPayload) envField() *payloadEnvField   { return &p.Env }
func (p *coinPayload) envField() *payloadEnvField   { return &p.Env }
func (p *refundPayload) envField() *payloadEnvField { return &p.Env }

// decodePayload decodes payload into shape once, before its signature is
// checked. It returns the tolerant Env that picks the AppKey (or why there
// is none: not JSON, or an unreadable Env), and keeps the strict decode's
// verdict for after the signature check (see strictEnv).
func decodePayload(payload []byte, shape payloadShape) (env int64, strictErr, err error) {
	strictErr = json.Unmarshal(payload, shape)
	if strictErr != nil {
		// Only a type error inside an object still has an Env to read
		// (json decodes the rest); a syntax error or a payload that is not
		// an object has none.
		var typeErr *json.UnmarshalTypeError
		if !errors.As(strictErr, &typeErr) || firstByte(payload) != '{' {
			return 0, nil, errPayloadJSON
		}
	}
	f := shape.envField()
	return f.tolerant, strictErr, f.tolerantErr
}

// firstByte is the first byte of b after JSON whitespace.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// wechatPayInfo is the optional WeChatPayInfo object of a payload.
type wechatPayInfo struct {
	MchOrderNo    string
	TransactionID string `json:"TransactionId"`
}

// The strict payload shapes: JSON types must match exactly (a quantity sent
// as a string fails). Unknown fields are ignored, so fields WeChat adds later
// do not break delivery.
type itemPayload struct {
	OpenID        string `json:"OpenId"`
	Env           payloadEnvField
	OutTradeNo    string
	GoodsInfo     *goodsInfo
	WeChatPayInfo *wechatPayInfo
}

type goodsInfo struct {
	ProductID   string `json:"ProductId"`
	Quantity    int64
	ZoneID      string `json:"ZoneId"`
	OrigPrice   int64
	ActualPrice int64
	Attach      string
	OrderSource int
}

type coinPayload struct {
	OpenID        string `json:"OpenId"`
	Env           payloadEnvField
	OutTradeNo    string
	CoinInfo      *coinInfo
	WeChatPayInfo *wechatPayInfo
}

type coinInfo struct {
	ZoneID      string `json:"ZoneId"`
	ActualPrice *int64
	TotalPrice  *int64
	BuyQuantity int64
	OrigPrice   int64
}

type refundPayload struct {
	OpenID        string `json:"OpenId"`
	Env           payloadEnvField
	OutTradeNo    string
	RefundID      string `json:"RefundId"`
	RefundAmount  int64
	RefundSource  int
	WeChatPayInfo *wechatPayInfo
}

func (w *wechatPayInfo) ids() (mch, tx string) {
	if w == nil {
		return "", ""
	}
	return w.MchOrderNo, w.TransactionID
}

// strictEnv is the verdict of the strict decode of a verified payload: its
// JSON types, then its Env against the one the signature was checked for.
func strictEnv(strictErr error, got *payloadEnvField, want int64) error {
	switch {
	case strictErr != nil || got.strictBad:
		return errPayloadJSON
	case got.strict != want:
		return errPayloadMismatch
	}
	return nil
}

// payloadMeta is what the payload parsers need besides the payload.
type payloadMeta struct {
	event, payload string
	env            int64 // the Env the signature was checked for
	strictErr      error // the payload's decode error, if any (a type error)
	created        time.Time
	typesOnly      bool // a mock: check JSON types, not required fields
}

func parseItem(m payloadMeta, p *itemPayload) (*ItemDelivery, error) {
	if err := strictEnv(m.strictErr, &p.Env, m.env); err != nil {
		return nil, err
	}
	if p.GoodsInfo == nil {
		p.GoodsInfo = &goodsInfo{}
	}
	switch {
	case m.typesOnly:
	case p.OutTradeNo == "":
		return nil, errNoOutTradeNo
	case p.OpenID == "":
		return nil, errNoOpenID
	case p.GoodsInfo.ProductID == "":
		return nil, errNoProductID
	}
	g := p.GoodsInfo
	mch, tx := p.WeChatPayInfo.ids()
	return &ItemDelivery{
		Event: m.event, OpenID: p.OpenID, OutTradeNo: p.OutTradeNo, Env: midas.Env(p.Env.strict),
		ProductID: g.ProductID, Quantity: g.Quantity, ZoneID: g.ZoneID,
		OrigPrice: g.OrigPrice, ActualPrice: g.ActualPrice, Attach: g.Attach, Source: g.OrderSource,
		MchOrderNo: mch, TransactionID: tx, CreateTime: m.created, Payload: m.payload,
	}, nil
}

func parseCoin(m payloadMeta, p *coinPayload) (*CoinDelivery, error) {
	if err := strictEnv(m.strictErr, &p.Env, m.env); err != nil {
		return nil, err
	}
	switch {
	case m.typesOnly:
	case p.OutTradeNo == "":
		return nil, errNoOutTradeNo
	case p.OpenID == "":
		return nil, errNoOpenID
	}
	mch, tx := p.WeChatPayInfo.ids()
	d := &CoinDelivery{
		Event: m.event, OpenID: p.OpenID, OutTradeNo: p.OutTradeNo, Env: midas.Env(p.Env.strict),
		MchOrderNo: mch, TransactionID: tx, CreateTime: m.created, Payload: m.payload,
	}
	if c := p.CoinInfo; c != nil {
		d.ZoneID, d.Quantity, d.OrigPrice = c.ZoneID, c.BuyQuantity, c.OrigPrice
		switch {
		case c.ActualPrice != nil:
			d.ActualPrice = *c.ActualPrice
		case c.TotalPrice != nil:
			d.ActualPrice = *c.TotalPrice
		}
	}
	return d, nil
}

func parseRefund(m payloadMeta, p *refundPayload) (*Refund, error) {
	if err := strictEnv(m.strictErr, &p.Env, m.env); err != nil {
		return nil, err
	}
	if !m.typesOnly && p.OutTradeNo == "" {
		return nil, errNoOutTradeNo
	}
	mch, tx := p.WeChatPayInfo.ids()
	return &Refund{
		Event: m.event, OpenID: p.OpenID, OutTradeNo: p.OutTradeNo, Env: midas.Env(p.Env.strict),
		RefundID: p.RefundID, RefundAmount: p.RefundAmount, RefundSource: p.RefundSource,
		MchOrderNo: mch, TransactionID: tx, CreateTime: m.created, Payload: m.payload,
	}, nil
}
