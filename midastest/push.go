package midastest

// The WeChat side of virtual payment 2.0 events: the fake buys an item (or
// coins, or refunds an order) on behalf of a player and pushes the event to
// the game server the way WeChat does, so delivery code can be tested end to
// end. Written from the push pages apart from the push package (its own URL
// signature, AES-256-CBC and PayEventSig), so each checks the other.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomidas/midas"
)

// The events the fake pushes. PushRaw sends any other name as given.
const (
	// EventItemDeliver is an item bought in the game
	// (wx.requestMidasPaymentGameItem) to be delivered: BuyItem's default.
	EventItemDeliver = "minigame_game_pay_goods_deliver_notify"
	// EventCoinDeliver is a coin top-up credited to a game zone: BuyCoins.
	EventCoinDeliver = "minigame_coin_deliver_completed"
	// EventRechargeCenterCoinDeliver is a coin top-up credited in the
	// recharge centre: BuyCoins with CoinPurchase.RechargeCenter.
	EventRechargeCenterCoinDeliver = "minigame_recharge_center_coin_deliver_completed"
	// EventRefund is a completed refund of a coin or item order: Refund.
	EventRefund = "minigame_pay_refund_succ_notify"
)

const (
	// DefaultRetryUnit is what one second of WeChat's retry schedule takes
	// by default (PushTarget.RetryUnit): 15 s becomes 15 µs, and the whole
	// ≈24 h item schedule about 87 ms.
	DefaultRetryUnit = time.Microsecond
	// DefaultPushTimeout is how long a push waits for its answer by default
	// (PushTarget.Timeout): WeChat's 3 s. It is real time, not scaled.
	DefaultPushTimeout = 3 * time.Second
)

var (
	// ErrNotDelivered is returned (wrapped) when no push of an event was
	// answered with success before its retry schedule ran out.
	ErrNotDelivered = errors.New("midastest: push not acknowledged")
	// ErrPushTimeout is the Push.Err of a push not answered within
	// PushTarget.Timeout.
	ErrPushTimeout = errors.New("midastest: push not answered in time")
)

// itemSchedule is the wait before each retry of an item push, as WeChat
// documents it: 15 retries over about 24 h 4 min.
var itemSchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// otherRetries is how many retries the other events get: the event page's
// "13 attempts within ≈12 h (15s … 3h/3h/3h)", read as the first 13 waits
// of the item schedule (they add up to ≈12 h 4 min).
const otherRetries = 13

// RetrySchedule returns WeChat's real wait before each retry of event, in
// order: 15 waits (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h)
// for the item delivery events, the first 13 of them for any other. A push
// is retried after a wait until it is answered with success or the waits run
// out; PushTarget.RetryUnit compresses them.
func RetrySchedule(event string) []time.Duration {
	if isItemEvent(event) {
		return append([]time.Duration(nil), itemSchedule...)
	}
	return append([]time.Duration(nil), itemSchedule[:otherRetries]...)
}

// isItemEvent reports whether event is an item delivery: the in-game name
// and both names the pages give the store's.
func isItemEvent(event string) bool {
	switch event {
	case EventItemDeliver, "minigame_h5_goods_deliver_notify", "minigame_deliver_h5_pay_products":
		return true
	}
	return false
}

// PushTarget is the game server's push endpoint, as configured in MP
// (发货推送配置 / 事件订阅配置: URL, Token, EncodingAESKey), and how the
// fake pushes to it.
//
// Set URL to POST over the network, or Handler to call it in process. In
// plain mode (no EncodingAESKey) the body is the JSON envelope; in secure
// mode it is {"ToUserName":…,"Encrypt":…} and the query adds
// encrypt_type=aes and msg_signature.
type PushTarget struct {
	// URL is where pushes are POSTed (its own query is kept). With Handler
	// set it is only the URL of the in-process request (default
	// "http://game.example/").
	URL string
	// Handler, when set, is called in process (through an
	// httptest.ResponseRecorder) instead of going over the network.
	Handler http.Handler
	// Token is the push URL Token, which signs the query. Required.
	Token string
	// EncodingAESKey is the 43-character key of secure mode; empty means
	// plain mode.
	EncodingAESKey string
	// AppID is the appid that ends a secure-mode message; default
	// Config.AppID. Required in secure mode.
	AppID string
	// ToUserName is the game's original id in the envelope and the secure
	// body; default "gh_midastest".
	ToUserName string
	// Client sends the URL pushes; default a client that does not follow
	// redirects (a redirect is a failed push).
	Client *http.Client
	// RetryUnit is what one second of WeChat's retry schedule takes here;
	// default DefaultRetryUnit. time.Second gives the real schedule.
	RetryUnit time.Duration
	// Timeout is how long a push waits for its answer before it counts as
	// failed; default DefaultPushTimeout (WeChat's 3 s, not scaled).
	Timeout time.Duration
}

// Push is one push the fake sent and the answer it got.
type Push struct {
	Event      string    // the envelope's Event
	OutTradeNo string    // the payload's OutTradeNo ("" if it has none)
	Env        midas.Env // the payload's Env
	Attempt    int       // 1 for the first push of an event, 2 for its first retry, ...
	At         time.Time // Config.Now when it was sent
	// Query is the query added to the URL: signature, timestamp and nonce;
	// in secure mode also encrypt_type and msg_signature.
	Query url.Values
	// Body is the HTTP body as sent: the envelope, or in secure mode
	// {"ToUserName":…,"Encrypt":…}.
	Body []byte
	// Message is the envelope JSON (in secure mode, what Encrypt holds).
	Message []byte
	// Payload is MiniGame.Payload, the signed JSON string.
	Payload string
	Status  int    // the answer's HTTP status; 0 when none came
	Answer  []byte // the answer's body
	// Err is why no answer came: a transport error, ErrPushTimeout, or a
	// panic of the in-process Handler.
	Err error
	// Success is an answer with a 2xx status and a JSON object body whose
	// "ErrCode" is 0: the only answer that stops the retries.
	Success bool
}

// PushResult is what became of an event's pushes.
type PushResult struct {
	Event      string // the envelope's Event
	OutTradeNo string // the order's OutTradeNo
	Delivered  bool   // a push was answered with success
	Pushes     []Push // every push of the event, oldest first
}

// ItemPurchase is an item a player buys with wx.requestMidasPaymentGameItem.
type ItemPurchase struct {
	Env    midas.Env // the signData env; its AppKey signs the push
	OpenID string    // the buyer. Required.
	// OutTradeNo is the order's id: at most 32 of [0-9A-Za-z_-|*@], not
	// starting with '_', one use per environment. Empty: the fake fills one
	// starting with '_', as the platform does.
	OutTradeNo string
	ProductID  string // the item. Required.
	Quantity   int64  // buyQuantity; 0 means 1
	// Price is the unit price in fen (goodsPrice), positive: BuyItem
	// refuses a missing, zero or negative one. GoodsInfo.OrigPrice is
	// Price × Quantity.
	Price int64
	// ActualPrice is what was paid in all, in fen (GoodsInfo.ActualPrice);
	// 0 means OrigPrice.
	ActualPrice int64
	ZoneID      string // zoneId; default "1"
	Attach      string // attach, echoed in the push
	// Source is GoodsInfo.OrderSource: 1 in the game (0 means 1), 2 the
	// store, 3 a store test order.
	Source int
	// Event is the push's Event; default EventItemDeliver. The store's
	// "minigame_h5_goods_deliver_notify" or
	// "minigame_deliver_h5_pay_products" are sent as given.
	Event string
	// MchOrderNo and TransactionID are the WeChat Pay ids
	// (WeChatPayInfo); the fake makes them up when both are empty.
	MchOrderNo, TransactionID string
}

// CoinPurchase is a coin top-up with wx.requestMidasPayment.
type CoinPurchase struct {
	Env        midas.Env // the environment; its AppKey signs the push
	OpenID     string    // the player. Required.
	OutTradeNo string    // as ItemPurchase.OutTradeNo
	// ZoneID is the zone credited; default "1". Not sent for the recharge
	// centre.
	ZoneID   string
	Quantity int64 // coins bought (CoinInfo.BuyQuantity). Required.
	Price    int64 // CoinInfo.OrigPrice, fen
	// ActualPrice is CoinInfo.ActualPrice, fen; 0 means Price.
	ActualPrice int64
	// RechargeCenter credits the recharge-centre balance (2.0 getbalance
	// coin_type 1) and pushes EventRechargeCenterCoinDeliver.
	RechargeCenter bool
	// MchOrderNo and TransactionID are as in ItemPurchase.
	MchOrderNo, TransactionID string
}

// RefundNotice is a completed refund of an order.
type RefundNotice struct {
	Env midas.Env // the order's environment
	// OutTradeNo is the refunded order: one of BuyItem, BuyCoins or
	// AddOrderInfo. Required.
	OutTradeNo string
	RefundID   string // RefundId; default made up
	// Amount is RefundAmount, fen; 0 means all that BuyItem or BuyCoins
	// recorded as paid (required for an AddOrderInfo order).
	Amount int64
	// Source is RefundSource: 1 the platform (0 means 1), 2 MP, 3 the API.
	Source int
}

// PushOptions shape one PushRaw push, for tests of how a receiver treats
// forged, replayed or odd pushes. The zero value sends a correct push.
type PushOptions struct {
	IsMock bool // MiniGame.IsMock: MP's format test push
	// Timestamp and Nonce fix the query's; default Config.Now and a random
	// number.
	Timestamp, Nonce string
	// Message, when set, is sent as the envelope as is (encrypted in secure
	// mode), instead of the one built from the event and payload, which then
	// only label the record.
	Message []byte
	// Random supplies the 16 bytes that start a secure-mode message;
	// default crypto/rand.
	Random io.Reader
	// BadSignature sends a query signature that does not match the Token.
	BadSignature bool
	// BadMsgSignature sends a msg_signature that does not match (secure
	// mode).
	BadMsgSignature bool
	// BadPayEventSig sends a PayEventSig that does not match the payload.
	BadPayEventSig bool
	// OtherEnvKey signs PayEventSig with the AppKey of the other
	// environment than the payload's Env names.
	OtherEnvKey bool
	// AppID ends a secure-mode message with this appid instead of the
	// target's: a push meant for another game.
	AppID string
	// Plain sends a plain-mode body even to a secure-mode target.
	Plain bool
}

// PendingPush is a purchase whose pushes are under way (BuyItemAsync).
type PendingPush struct {
	// OutTradeNo is the order's, filled in when the fake made it up.
	OutTradeNo string
	done       chan struct{}
	res        *PushResult
	err        error
}

// Done is closed when the pushes are over.
func (p *PendingPush) Done() <-chan struct{} { return p.done }

// Wait waits for the pushes to be over and returns what BuyItem would have.
func (p *PendingPush) Wait() (*PushResult, error) {
	<-p.done
	return p.res, p.err
}

// pushState is the Server's record of pushes; s.mu guards it.
type pushState struct {
	log  []Push
	paid map[orderInfoKey]int64 // ActualPrice of orders BuyItem and BuyCoins made
}

// Pushes returns the pushes sent so far, with their answers, oldest first.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.push.log...)
}

// BuyItem simulates a player buying an item and WeChat delivering it: it
// records the order as paid now (pay_state 2, pay_finish_time Config.Now,
// biz_id 2), so queryorderinfo reports it at once, then pushes the event to
// t until a push is answered with success, retrying on WeChat's schedule
// (RetrySchedule, compressed by t.RetryUnit). On success the order becomes
// delivered (deliver_state 2). BuyItem returns when the pushes are over:
// with ErrNotDelivered (wrapped) when the schedule ran out, ctx's error when
// ctx ended first (the order stays paid, not delivered, either way). An
// unusable purchase or target, or an OutTradeNo already used in the
// environment, is an error before any change.
func (s *Server) BuyItem(ctx context.Context, p ItemPurchase, t PushTarget) (*PushResult, error) {
	pp, err := s.BuyItemAsync(ctx, p, t)
	if err != nil {
		return nil, err
	}
	return pp.Wait()
}

// BuyItemAsync is BuyItem that returns once the order is recorded as paid,
// the pushes going on in the background until Wait would return.
func (s *Server) BuyItemAsync(ctx context.Context, p ItemPurchase, t PushTarget) (*PendingPush, error) {
	to, err := s.pushTarget(t)
	if err != nil {
		return nil, fmt.Errorf("midastest: BuyItem: %w", err)
	}
	if p.Quantity == 0 {
		p.Quantity = 1
	}
	if p.Source == 0 {
		p.Source = 1
	}
	if p.Event == "" {
		p.Event = EventItemDeliver
	}
	if p.ZoneID == "" {
		p.ZoneID = midas.DefaultZoneID
	}
	switch {
	case p.OpenID == "":
		return nil, errors.New("midastest: BuyItem: ItemPurchase.OpenID is empty")
	case p.ProductID == "":
		return nil, errors.New("midastest: BuyItem: ItemPurchase.ProductID is empty")
	case p.Quantity < 0 || p.ActualPrice < 0:
		return nil, errors.New("midastest: BuyItem: ItemPurchase.Quantity and ActualPrice must not be negative")
	}
	if p.OutTradeNo, err = outTradeNo(p.OutTradeNo); err != nil {
		return nil, fmt.Errorf("midastest: BuyItem: %w", err)
	}
	if s.orderExists(p.Env, p.OutTradeNo) {
		return nil, fmt.Errorf("midastest: BuyItem: OutTradeNo %q is already used in env %d", p.OutTradeNo, p.Env)
	}
	// An item has a price: without one the fake would push "paid 0 fen"
	// for a purchase no player can make.
	if p.Price <= 0 {
		return nil, fmt.Errorf("midastest: BuyItem: ItemPurchase.Price (the unit price in fen) must be positive, not %d", p.Price)
	}
	orig := p.Price * p.Quantity
	if p.ActualPrice == 0 {
		p.ActualPrice = orig
	}
	if p.MchOrderNo == "" && p.TransactionID == "" {
		p.MchOrderNo, p.TransactionID = madeUpMchOrderNo(), madeUpTransactionID()
	}
	key, err := s.appKey(p.Env)
	if err != nil {
		return nil, fmt.Errorf("midastest: BuyItem: %w", err)
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
	payload := marshalPlain(struct {
		OpenID        string `json:"OpenId"`
		OutTradeNo    string
		WeChatPayInfo *pushPayInfo `json:",omitempty"`
		Env           int
		GoodsInfo     goodsInfo
	}{p.OpenID, p.OutTradeNo, payInfo(p.MchOrderNo, p.TransactionID), int(p.Env),
		goodsInfo{p.ProductID, p.Quantity, p.ZoneID, orig, p.ActualPrice, p.Attach, p.Source}})

	if err := s.newOrder(p.Env, OrderInfo{
		OpenID: p.OpenID, OutTradeNo: p.OutTradeNo, BizID: BizItem, ProductID: p.ProductID,
		Paid: true, PaidAt: s.cfg.Now(), MchOrderNo: p.MchOrderNo, TransactionID: p.TransactionID,
	}, p.ActualPrice); err != nil {
		return nil, fmt.Errorf("midastest: BuyItem: %w", err)
	}
	ev := s.newEvent(to, p.Event, string(payload), key, PushOptions{})
	ev.outTradeNo, ev.env = p.OutTradeNo, p.Env
	pp := &PendingPush{OutTradeNo: p.OutTradeNo, done: make(chan struct{})}
	go func() {
		defer close(pp.done)
		pp.res, pp.err = s.pushUntilAcknowledged(ctx, to, ev)
		if pp.res.Delivered {
			s.MarkDelivered(p.Env, p.OutTradeNo)
		}
	}()
	return pp, nil
}

// BuyCoins simulates a coin top-up: it credits Quantity paid coins to the
// player (as TopUp, or TopUpRechargeCenter with RechargeCenter), records the
// order for queryorderinfo as paid and delivered (biz_id 1: the coins are
// credited whatever the game answers), then pushes EventCoinDeliver (or
// EventRechargeCenterCoinDeliver) to t, retrying as BuyItem does on the
// shorter schedule of RetrySchedule. Its errors are BuyItem's.
func (s *Server) BuyCoins(ctx context.Context, p CoinPurchase, t PushTarget) (*PushResult, error) {
	to, err := s.pushTarget(t)
	if err != nil {
		return nil, fmt.Errorf("midastest: BuyCoins: %w", err)
	}
	switch {
	case p.OpenID == "":
		return nil, errors.New("midastest: BuyCoins: CoinPurchase.OpenID is empty")
	case p.Quantity <= 0:
		return nil, errors.New("midastest: BuyCoins: CoinPurchase.Quantity must be positive")
	case p.Price < 0 || p.ActualPrice < 0:
		return nil, errors.New("midastest: BuyCoins: CoinPurchase.Price and ActualPrice must not be negative")
	}
	if p.ZoneID == "" {
		p.ZoneID = midas.DefaultZoneID
	}
	if p.ActualPrice == 0 {
		p.ActualPrice = p.Price
	}
	if p.MchOrderNo == "" && p.TransactionID == "" {
		p.MchOrderNo, p.TransactionID = madeUpMchOrderNo(), madeUpTransactionID()
	}
	if p.OutTradeNo, err = outTradeNo(p.OutTradeNo); err != nil {
		return nil, fmt.Errorf("midastest: BuyCoins: %w", err)
	}
	key, err := s.appKey(p.Env)
	if err != nil {
		return nil, fmt.Errorf("midastest: BuyCoins: %w", err)
	}
	event, zone := EventCoinDeliver, p.ZoneID
	if p.RechargeCenter {
		event, zone = EventRechargeCenterCoinDeliver, ""
	}
	type coinInfo struct {
		ZoneID      string `json:"ZoneId,omitempty"`
		ActualPrice int64
		BuyQuantity int64
		OrigPrice   int64
	}
	payload := marshalPlain(struct {
		OpenID        string `json:"OpenId"`
		OutTradeNo    string
		WeChatPayInfo *pushPayInfo `json:",omitempty"`
		Env           int
		CoinInfo      coinInfo
	}{p.OpenID, p.OutTradeNo, payInfo(p.MchOrderNo, p.TransactionID), int(p.Env), coinInfo{zone, p.ActualPrice, p.Quantity, p.Price}})

	if err := s.newOrder(p.Env, OrderInfo{
		OpenID: p.OpenID, OutTradeNo: p.OutTradeNo, BizID: BizCoins, Paid: true, Delivered: true,
		PaidAt: s.cfg.Now(), MchOrderNo: p.MchOrderNo, TransactionID: p.TransactionID,
	}, p.ActualPrice); err != nil {
		return nil, fmt.Errorf("midastest: BuyCoins: %w", err)
	}
	if p.RechargeCenter {
		s.TopUpRechargeCenter(p.Env, p.OpenID, p.Quantity)
	} else {
		s.TopUp(p.Env, p.OpenID, p.ZoneID, p.Quantity)
	}
	ev := s.newEvent(to, event, string(payload), key, PushOptions{})
	ev.outTradeNo, ev.env = p.OutTradeNo, p.Env
	return s.pushUntilAcknowledged(ctx, to, ev)
}

// Refund pushes EventRefund for an order the fake has (from BuyItem,
// BuyCoins or AddOrderInfo), retrying as BuyCoins does. It changes no
// balance and no order: the fake keeps no refund state (take coins back
// with a 2.0 cancelpay or your own bookkeeping). An unknown order, or no
// Amount for an order whose price the fake does not know, is an error.
func (s *Server) Refund(ctx context.Context, r RefundNotice, t PushTarget) (*PushResult, error) {
	to, err := s.pushTarget(t)
	if err != nil {
		return nil, fmt.Errorf("midastest: Refund: %w", err)
	}
	if r.OutTradeNo == "" {
		return nil, errors.New("midastest: Refund: RefundNotice.OutTradeNo is empty")
	}
	if r.Amount < 0 {
		return nil, errors.New("midastest: Refund: RefundNotice.Amount must not be negative")
	}
	s.mu.Lock()
	o, ok := s.orderInfos[orderInfoKey{r.Env, r.OutTradeNo}]
	var order OrderInfo
	if ok {
		order = *o
	}
	paid, known := s.push.paid[orderInfoKey{r.Env, r.OutTradeNo}]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("midastest: Refund: no order %q in env %d", r.OutTradeNo, r.Env)
	}
	if r.Amount == 0 {
		if !known {
			return nil, fmt.Errorf("midastest: Refund: order %q was not made by BuyItem or BuyCoins: set RefundNotice.Amount", r.OutTradeNo)
		}
		r.Amount = paid
	}
	if r.Source == 0 {
		r.Source = 1
	}
	if r.RefundID == "" {
		r.RefundID = "50" + randomDigits(28)
	}
	key, err := s.appKey(r.Env)
	if err != nil {
		return nil, fmt.Errorf("midastest: Refund: %w", err)
	}
	payload := marshalPlain(struct {
		RefundID      string `json:"RefundId"`
		RefundAmount  int64
		RefundSource  int
		Env           int
		OutTradeNo    string
		OpenID        string       `json:"OpenId"`
		WeChatPayInfo *pushPayInfo `json:",omitempty"`
	}{r.RefundID, r.Amount, r.Source, int(r.Env), r.OutTradeNo, order.OpenID, payInfo(order.MchOrderNo, order.TransactionID)})
	ev := s.newEvent(to, EventRefund, string(payload), key, PushOptions{})
	ev.outTradeNo, ev.env = r.OutTradeNo, r.Env
	return s.pushUntilAcknowledged(ctx, to, ev)
}

// PushRaw sends one push of event with payload (the JSON string that
// MiniGame.Payload carries, sent as given) to t, shaped by opts, without
// retrying and without touching orders or balances: for tests of how a
// receiver treats forged, replayed, mock or malformed pushes. PayEventSig
// is keyed with the AppKey of the payload's Env (1: SandboxAppKey, anything
// else: AppKey). The push and its answer are returned and recorded; the
// error is only for a target or options it cannot send with, or a missing
// AppKey.
func (s *Server) PushRaw(ctx context.Context, t PushTarget, event string, payload []byte, opts PushOptions) (Push, error) {
	to, err := s.pushTarget(t)
	if err != nil {
		return Push{}, fmt.Errorf("midastest: PushRaw: %w", err)
	}
	var pre struct {
		OutTradeNo string
		Env        json.RawMessage
	}
	json.Unmarshal(payload, &pre)
	env := midas.Production
	if e := strings.Trim(string(bytes.TrimSpace(pre.Env)), `"`); e == "1" {
		env = midas.Sandbox
	}
	keyEnv := env
	if opts.OtherEnvKey {
		keyEnv = midas.Sandbox
		if env == midas.Sandbox {
			keyEnv = midas.Production
		}
	}
	key, err := s.appKey(keyEnv)
	if err != nil {
		return Push{}, fmt.Errorf("midastest: PushRaw: %w", err)
	}
	ev := s.newEvent(to, event, string(payload), key, opts)
	ev.outTradeNo, ev.env = pre.OutTradeNo, env
	p := s.sendPush(ctx, to, ev, 1)
	return p, nil
}

// Resend sends a recorded push again, byte for byte (the same query and
// body): a replay, as an attacker or WeChat's own repeats would make one.
// The new push and its answer are returned and recorded.
func (s *Server) Resend(ctx context.Context, t PushTarget, p Push) (Push, error) {
	to, err := s.pushTarget(t)
	if err != nil {
		return Push{}, fmt.Errorf("midastest: Resend: %w", err)
	}
	p.At, p.Status, p.Answer, p.Err, p.Success = s.cfg.Now(), 0, nil, nil, false
	p.Status, p.Answer, p.Err = s.exchange(ctx, to, http.MethodPost, p.Query, p.Body)
	p.Success = p.Err == nil && acknowledged(p.Status, p.Answer)
	s.record(p)
	return p, nil
}

// CheckPushURL makes MP's URL check: a GET with signature, timestamp, nonce
// and echostr, which the endpoint must answer with status 200 and echostr
// verbatim. It is not recorded in Pushes.
func (s *Server) CheckPushURL(ctx context.Context, t PushTarget) error {
	to, err := s.pushTarget(t)
	if err != nil {
		return fmt.Errorf("midastest: CheckPushURL: %w", err)
	}
	ts, nonce, echo := strconv.FormatInt(s.cfg.Now().Unix(), 10), randomNonce(), randomDigits(19)
	q := url.Values{"signature": {urlSignature(to.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echo}}
	status, answer, err := s.exchange(ctx, to, http.MethodGet, q, nil)
	switch {
	case err != nil:
		return fmt.Errorf("midastest: CheckPushURL: %w", err)
	case status != http.StatusOK:
		return fmt.Errorf("midastest: CheckPushURL: answered HTTP %d", status)
	case string(answer) != echo:
		return errors.New("midastest: CheckPushURL: the answer is not echostr")
	}
	return nil
}

// pushTo is a checked PushTarget with its defaults.
type pushTo struct {
	PushTarget
	aesKey []byte // nil in plain mode
	target *url.URL
}

// pushTarget checks t and fills its defaults. Errors name fields, never
// values: a Token or key must not reach a log.
func (s *Server) pushTarget(t PushTarget) (*pushTo, error) {
	to := &pushTo{PushTarget: t}
	if t.Token == "" {
		return nil, errors.New("PushTarget.Token is empty")
	}
	if t.Handler == nil && t.URL == "" {
		return nil, errors.New("PushTarget has neither a URL nor a Handler")
	}
	raw := t.URL
	if raw == "" {
		raw = "http://game.example/"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("PushTarget.URL is not an absolute http(s) URL")
	}
	to.target = u
	if t.EncodingAESKey != "" {
		k, err := base64.StdEncoding.DecodeString(t.EncodingAESKey + "=")
		if len(t.EncodingAESKey) != 43 || err != nil || len(k) != 32 {
			return nil, errors.New("PushTarget.EncodingAESKey is not 43 characters of base64 of a 32-byte key")
		}
		to.aesKey = k
	}
	if to.AppID == "" {
		to.AppID = s.cfg.AppID
	}
	if to.aesKey != nil && to.AppID == "" {
		return nil, errors.New("secure mode needs an appid: set PushTarget.AppID or Config.AppID")
	}
	if to.ToUserName == "" {
		to.ToUserName = "gh_midastest"
	}
	if to.Client == nil {
		to.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if to.RetryUnit <= 0 {
		to.RetryUnit = DefaultRetryUnit
	}
	if to.Timeout <= 0 {
		to.Timeout = DefaultPushTimeout
	}
	return to, nil
}

// appKey is the AppKey of env; the error names the Config field.
func (s *Server) appKey(env midas.Env) (string, error) {
	if env == midas.Sandbox {
		if s.cfg.SandboxAppKey == "" {
			return "", errors.New("Config.SandboxAppKey is empty: cannot sign a sandbox push")
		}
		return s.cfg.SandboxAppKey, nil
	}
	if s.cfg.AppKey == "" {
		return "", errors.New("Config.AppKey is empty: cannot sign a production push")
	}
	return s.cfg.AppKey, nil
}

// newOrder records a new client-side order and its price, refusing an
// OutTradeNo already used in env (the client's -15003).
func (s *Server) newOrder(env midas.Env, o OrderInfo, price int64) error {
	k := orderInfoKey{env, o.OutTradeNo}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orderInfos[k]; ok {
		return fmt.Errorf("OutTradeNo %q is already used in env %d", o.OutTradeNo, env)
	}
	s.orderInfos[k] = &o
	if s.push.paid == nil {
		s.push.paid = map[orderInfoKey]int64{}
	}
	s.push.paid[k] = price
	return nil
}

// orderExists reports whether outTradeNo is used in env; newOrder checks it
// again as it records.
func (s *Server) orderExists(env midas.Env, outTradeNo string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.orderInfos[orderInfoKey{env, outTradeNo}]
	return ok
}

// record appends p to the log.
func (s *Server) record(p Push) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push.log = append(s.push.log, p)
}

// pushEvent is one event to push: its envelope, built once and sent again
// on each retry (with a new query, and in secure mode new random bytes).
type pushEvent struct {
	event, outTradeNo, payload string
	env                        midas.Env
	message                    []byte
	opts                       PushOptions
}

// newEvent builds the envelope of event around payload, PayEventSig keyed
// with key.
func (s *Server) newEvent(to *pushTo, event, payload, key string, opts PushOptions) *pushEvent {
	ev := &pushEvent{event: event, payload: payload, opts: opts}
	if opts.Message != nil {
		ev.message = opts.Message
		return ev
	}
	sig := payEventSig(key, event, payload)
	if opts.BadPayEventSig {
		sig = payEventSig(key, event, payload+" ")
	}
	ev.message = marshalPlain(struct {
		ToUserName   string
		FromUserName string
		CreateTime   int64
		MsgType      string
		Event        string
		MiniGame     struct {
			Payload     string
			PayEventSig string
			IsMock      bool
		}
	}{to.ToUserName, pushFromUserName, s.cfg.Now().Unix(), "event", event, struct {
		Payload     string
		PayEventSig string
		IsMock      bool
	}{payload, sig, opts.IsMock}})
	return ev
}

// pushFromUserName is the envelope's FromUserName: a fixed WeChat openid,
// not the buyer.
const pushFromUserName = "oMidastestWeChatPaySystem00"

// pushUntilAcknowledged pushes ev until an answer is a success, waiting
// before each retry as RetrySchedule says, scaled by to.RetryUnit.
func (s *Server) pushUntilAcknowledged(ctx context.Context, to *pushTo, ev *pushEvent) (*PushResult, error) {
	res := &PushResult{Event: ev.event, OutTradeNo: ev.outTradeNo}
	waits := RetrySchedule(ev.event)
	for attempt := 1; ; attempt++ {
		p := s.sendPush(ctx, to, ev, attempt)
		res.Pushes = append(res.Pushes, p)
		if p.Success {
			res.Delivered = true
			return res, nil
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("midastest: pushing %s for %q: %w", ev.event, ev.outTradeNo, err)
		}
		if attempt > len(waits) {
			return res, fmt.Errorf("%w: %s for %q: %d pushes, the last %s", ErrNotDelivered, ev.event, ev.outTradeNo, attempt, describe(p))
		}
		if !wait(ctx, scaled(waits[attempt-1], to.RetryUnit)) {
			return res, fmt.Errorf("midastest: pushing %s for %q: %w", ev.event, ev.outTradeNo, ctx.Err())
		}
	}
}

// scaled is d of WeChat's time with one second taking unit.
func scaled(d, unit time.Duration) time.Duration {
	return time.Duration(int64(d/time.Second) * int64(unit))
}

// describe says how a failed push was answered, for errors.
func describe(p Push) string {
	if p.Err != nil {
		return "failed: " + p.Err.Error()
	}
	return fmt.Sprintf("was answered HTTP %d without ErrCode 0", p.Status)
}

// sendPush seals ev for to, sends it, and records and returns the push.
func (s *Server) sendPush(ctx context.Context, to *pushTo, ev *pushEvent, attempt int) Push {
	p := Push{Event: ev.event, OutTradeNo: ev.outTradeNo, Env: ev.env, Attempt: attempt, At: s.cfg.Now(),
		Message: ev.message, Payload: ev.payload}
	p.Query, p.Body, p.Err = s.seal(to, ev.message, ev.opts)
	if p.Err == nil {
		p.Status, p.Answer, p.Err = s.exchange(ctx, to, http.MethodPost, p.Query, p.Body)
		p.Success = p.Err == nil && acknowledged(p.Status, p.Answer)
	}
	s.record(p)
	return p
}

// seal makes the query and body of one push of msg: signed, and in secure
// mode encrypted.
func (s *Server) seal(to *pushTo, msg []byte, o PushOptions) (url.Values, []byte, error) {
	ts, nonce := o.Timestamp, o.Nonce
	if ts == "" {
		ts = strconv.FormatInt(s.cfg.Now().Unix(), 10)
	}
	if nonce == "" {
		nonce = randomNonce()
	}
	sig := urlSignature(to.Token, ts, nonce)
	if o.BadSignature {
		sig = corrupt(sig)
	}
	q := url.Values{"signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
	if to.aesKey == nil || o.Plain {
		return q, msg, nil
	}
	appID := to.AppID
	if o.AppID != "" {
		appID = o.AppID
	}
	random := o.Random
	if random == nil {
		random = rand.Reader
	}
	enc, err := encryptPush(to.aesKey, appID, msg, random)
	if err != nil {
		return q, nil, err
	}
	msgSig := urlSignature(to.Token, ts, nonce, enc)
	if o.BadMsgSignature {
		msgSig = corrupt(msgSig)
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", msgSig)
	body := marshalPlain(struct {
		ToUserName string
		Encrypt    string
	}{to.ToUserName, enc})
	return q, body, nil
}

// exchange sends one request to the target and returns its answer; err is
// set when none came (ErrPushTimeout after to.Timeout).
func (s *Server) exchange(ctx context.Context, to *pushTo, method string, q url.Values, body []byte) (int, []byte, error) {
	u := *to.target
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	u.RawQuery = all.Encode()
	actx, cancel := context.WithTimeout(ctx, to.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Mozilla/4.0 (midastest push)")
	timedOut := func(err error) error {
		if ctx.Err() == nil && actx.Err() != nil {
			return fmt.Errorf("%w (%v)", ErrPushTimeout, to.Timeout)
		}
		return err
	}
	if to.Handler == nil {
		resp, err := to.Client.Do(req)
		if err != nil {
			return 0, nil, timedOut(err)
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return resp.StatusCode, answer, timedOut(err)
		}
		return resp.StatusCode, answer, nil
	}

	// In process: the request a server would hand the handler.
	req.RequestURI = u.RequestURI()
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		to.Handler.ServeHTTP(rec, req)
	}()
	select {
	case v := <-done:
		if v != nil {
			if v == http.ErrAbortHandler {
				return 0, nil, errors.New("midastest: the handler aborted the connection")
			}
			return 0, nil, fmt.Errorf("midastest: the handler panicked: %v", v)
		}
		res := rec.Result()
		answer, _ := io.ReadAll(res.Body)
		return res.StatusCode, answer, nil
	case <-actx.Done():
		// The handler runs on, abandoned, as a server's would after the
		// client gave up; its request's context is done.
		return 0, nil, timedOut(actx.Err())
	}
}

// acknowledged reports whether an answer is a success: a 2xx status and a
// JSON object whose "ErrCode" (exactly so named) is the number 0.
func acknowledged(status int, answer []byte) bool {
	if status < 200 || status > 299 {
		return false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(answer, &fields) != nil {
		return false
	}
	raw, ok := fields["ErrCode"]
	var code float64 // a JSON number: the string "0" does not decode
	return ok && string(bytes.TrimSpace(raw)) != "null" && json.Unmarshal(raw, &code) == nil && code == 0
}

// urlSignature is the push query's signature: lowercase hex SHA1 of token,
// timestamp, nonce (and, for msg_signature, the Encrypt value) sorted as
// strings and concatenated.
func urlSignature(token, timestamp, nonce string, encrypt ...string) string {
	parts := append([]string{token, timestamp, nonce}, encrypt...)
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// payEventSig is MiniGame.PayEventSig: lowercase hex HMAC-SHA256 keyed with
// the AppKey over event + "&" + payload.
func payEventSig(appKey, event, payload string) string {
	return hmacHex(appKey, []byte(event), []byte("&"), []byte(payload))
}

// encryptPush is secure mode's Encrypt: 16 bytes from random, the 4-byte
// big-endian length of msg, msg, appID; PKCS#7 padded to a multiple of 32
// bytes; AES-256-CBC with IV key[:16]; standard base64.
func encryptPush(key []byte, appID string, msg []byte, random io.Reader) (string, error) {
	pt := make([]byte, 20, 20+len(msg)+len(appID)+32)
	if _, err := io.ReadFull(random, pt[:16]); err != nil {
		return "", fmt.Errorf("midastest: random bytes for Encrypt: %w", err)
	}
	binary.BigEndian.PutUint32(pt[16:20], uint32(len(msg)))
	pt = append(pt, msg...)
	pt = append(pt, appID...)
	pad := 32 - len(pt)%32
	pt = append(pt, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(pt, pt)
	return base64.StdEncoding.EncodeToString(pt), nil
}

// corrupt changes the last hex digit of a signature.
func corrupt(sig string) string {
	if sig == "" {
		return "0"
	}
	last := byte('0')
	if sig[len(sig)-1] == '0' {
		last = '1'
	}
	return sig[:len(sig)-1] + string(last)
}

// pushPayInfo is a payload's WeChatPayInfo.
type pushPayInfo struct {
	MchOrderNo    string
	TransactionID string `json:"TransactionId"`
}

func payInfo(mch, tx string) *pushPayInfo {
	if mch == "" && tx == "" {
		return nil
	}
	return &pushPayInfo{mch, tx}
}

// marshalPlain is json.Marshal without HTML escaping, as WeChat writes
// JSON (an attach with '&' stays '&').
func marshalPlain(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only plain structs of strings and numbers come here
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// outTradeNo checks a given OutTradeNo, or makes one up starting with '_'
// as the platform does.
func outTradeNo(o string) (string, error) {
	if o == "" {
		return "_" + randomDigits(24), nil
	}
	if len(o) > 32 || o[0] == '_' {
		return "", fmt.Errorf("OutTradeNo %q must be at most 32 characters, not starting with '_'", o)
	}
	for i := 0; i < len(o); i++ {
		if c := o[i]; !isIDByte(c) && c != '*' && c != '@' && c != '|' {
			return "", fmt.Errorf("OutTradeNo %q has a character outside [0-9A-Za-z_-|*@]", o)
		}
	}
	return o, nil
}

func madeUpMchOrderNo() string    { return "mt" + randomDigits(30) }
func madeUpTransactionID() string { return "4200" + randomDigits(24) }

// randomNonce is a nonce like WeChat's: a random decimal number.
func randomNonce() string {
	var b [4]byte
	rand.Read(b[:])
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])%1_000_000_000), 10)
}

// randomDigits is n random decimal digits.
func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
