package midastest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gomidas/midas"
)

// Order is a processed pay or present, or a 2.0 cancelpay (a return, which
// has its own bill_no).
type Order struct {
	API       string        // midas.APIPay, midas.APIPresent, or midas.APICancelPay (2.0)
	Version   midas.Version // midas.V1 or midas.V2
	Env       midas.Env     // the environment it was made in
	BillNo    string        // its bill_no
	OpenID    string        // the player's openid
	ZoneID    string        // the player's zone_id
	Amount    int64         // amt, present_counts, or (2.0) amount
	UsedGen   int64         // gifted coins a pay spent
	PayBillNo string        // 2.0 cancelpay: the pay it returned coins of
	Refunded  int64         // pay: coins returned so far (all of them once a 1.0 cancelpay refunded it)
	Cancelled bool          // pay: all of its coins returned
	answer    []byte
	params    map[string]string
	refundGen int64 // pay: gifted coins among Refunded
}

// orderKey finds an order: a 1.0 bill_no is unique per environment, a 2.0
// one per environment, openid and zone_id.
type orderKey struct {
	version        midas.Version
	env            midas.Env
	openID, zoneID string // 2.0 only
	billNo         string
}

func v2OrderKey(env midas.Env, openID, zoneID, billNo string) orderKey {
	if zoneID == "" {
		zoneID = midas.DefaultZoneID
	}
	return orderKey{version: midas.V2, env: env, openID: openID, zoneID: zoneID, billNo: billNo}
}

// account is one balance: a player's in a zone, or its recharge-centre one.
type account struct {
	paid, gen                    int64
	saveAmt, costSum, presentSum int64
}

type accountKey struct {
	env            midas.Env
	openID, zoneID string
	rechargeCenter bool // the 2.0 coin_type 1 balance; zoneID is then ""
}

// account returns (creating empty) an account, zone "" meaning "1"; s.mu
// is held.
func (s *Server) account(k accountKey) *account {
	if k.rechargeCenter {
		k.zoneID = ""
	} else if k.zoneID == "" {
		k.zoneID = midas.DefaultZoneID
	}
	a := s.accounts[k]
	if a == nil {
		a = &account{}
		s.accounts[k] = a
	}
	return a
}

// spend deducts amt, gifted coins first; ok is false, and nothing changes,
// when the balance is short.
func (a *account) spend(amt int64) (usedGen int64, ok bool) {
	if a.paid+a.gen < amt {
		return 0, false
	}
	usedGen = min(a.gen, amt)
	a.gen -= usedGen
	a.paid -= amt - usedGen
	a.costSum += amt
	return usedGen, true
}

// gift adds gifted coins.
func (a *account) gift(n int64) {
	a.gen += n
	a.presentSum += n
}

// giveBack returns spent coins, paid and gifted apart.
func (a *account) giveBack(paid, gen int64) {
	a.paid += paid
	a.gen += gen
	a.costSum -= paid + gen
}

func (a *account) total() int64 { return a.paid + a.gen }

// repeated answers a call whose bill_no an order o already has: the first
// answer again under RepeatReplays for the same API with the same business
// fields, unless o is a pay refunded since; else 90012. s.mu is held.
func (s *Server) repeated(o *Order, api string, params map[string]string, business []string) (result, int) {
	if s.cfg.Repeat == RepeatReplays && o.API == api && o.Refunded == 0 && sameFields(o.params, params, business) {
		return result{status: http.StatusOK, body: o.answer}, 0
	}
	return answer(90012, "order already exists", nil), 90012
}

func sameFields(a, b map[string]string, names []string) bool {
	for _, k := range names {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// applyV1 makes the change of a verified 1.0 call; s.mu is held.
func (s *Server) applyV1(env midas.Env, api string, params map[string]string) (result, int, bool) {
	openID, zoneID, billNo := params["openid"], params["zone_id"], params["bill_no"]
	a := s.account(accountKey{env: env, openID: openID, zoneID: zoneID})
	key := orderKey{version: midas.V1, env: env, billNo: billNo}
	switch api {
	case midas.APIGetBalance:
		firstSave := 2
		if a.saveAmt > 0 {
			firstSave = 1
		}
		return answer(0, "ok", map[string]any{
			"balance": a.total(), "gen_balance": a.gen, "first_save": firstSave,
			"save_amt": a.saveAmt, "save_sum": a.saveAmt + a.presentSum, "cost_sum": a.costSum, "present_sum": a.presentSum,
		}), 0, false

	case midas.APIPay, midas.APIPresent:
		if o, ok := s.orders[key]; ok {
			res, code := s.repeated(o, api, params, v1Business)
			return res, code, false
		}
		o := &Order{API: api, Version: midas.V1, Env: env, BillNo: billNo, OpenID: openID, ZoneID: zoneID, params: params}
		var res result
		if api == midas.APIPay {
			amt, _ := strconv.ParseInt(params["amt"], 10, 64)
			used, ok := a.spend(amt)
			if !ok {
				return answer(90013, "balance not enough", nil), 90013, false
			}
			o.Amount, o.UsedGen = amt, used
			res = answer(0, "ok", map[string]any{"bill_no": billNo, "balance": a.total(), "used_gen_amt": used})
		} else {
			n, _ := strconv.ParseInt(params["present_counts"], 10, 64)
			a.gift(n)
			o.Amount = n
			res = answer(0, "ok", map[string]any{"bill_no": billNo, "balance": a.total()})
		}
		o.answer = res.body
		s.orders[key] = o
		return res, 0, true

	case midas.APICancelPay:
		o, ok := s.orders[key]
		if !ok || o.API != midas.APIPay || o.OpenID != openID || o.ZoneID != zoneID {
			return answer(90000, "order not exist", nil), 90000, false
		}
		if o.Cancelled {
			return answer(90015, "order already refunded", nil), 90015, false
		}
		a.giveBack(o.Amount-o.UsedGen, o.UsedGen)
		o.Cancelled, o.Refunded, o.refundGen = true, o.Amount, o.UsedGen
		return answer(0, "ok", map[string]any{"bill_no": billNo}), 0, true
	}
	return answer(90018, "unknown api", nil), 90018, false
}

// applyV2 makes the change of a verified 2.0 call; s.mu is held.
func (s *Server) applyV2(q v2Body, params map[string]string) (result, int, bool) {
	if q.api == apiQueryOrderInfo {
		return s.queryOrderInfo(q)
	}
	a := s.account(accountKey{env: q.env, openID: q.openID, zoneID: q.zoneID})
	key := v2OrderKey(q.env, q.openID, q.zoneID, q.billNo)
	if q.api == midas.APIGetBalance {
		if q.coinType == 1 {
			a = s.account(accountKey{env: q.env, openID: q.openID, rechargeCenter: true})
		}
		return answer(0, "ok", map[string]any{
			"balance": a.total(), "present_balance": a.gen, "first_save": a.saveAmt > 0,
			"sum_save": a.saveAmt, "sum_present": a.presentSum, "sum_balance": a.saveAmt + a.presentSum, "sum_cost": a.costSum,
		}), 0, false
	}

	// pay, present and cancelpay: bill_no names this call.
	if o, ok := s.orders[key]; ok {
		res, code := s.repeated(o, q.api, params, v2Business)
		return res, code, false
	}
	o := &Order{API: q.api, Version: midas.V2, Env: q.env, BillNo: q.billNo, OpenID: q.openID, ZoneID: q.zoneID, Amount: q.amount, params: params}
	var res result
	switch q.api {
	case midas.APIPay:
		used, ok := a.spend(q.amount)
		if !ok {
			return answer(90013, "balance not enough", nil), 90013, false
		}
		o.UsedGen = used
		res = answer(0, "ok", map[string]any{"bill_no": q.billNo, "balance": a.total(), "used_present_amount": used})

	case midas.APIPresent:
		a.gift(q.amount)
		res = answer(0, "ok", map[string]any{"bill_no": q.billNo, "balance": a.total()})

	case midas.APICancelPay:
		pay, ok := s.orders[v2OrderKey(q.env, q.openID, q.zoneID, q.payBillNo)]
		if !ok || pay.API != midas.APIPay {
			return answer(90000, "order not exist", nil), 90000, false
		}
		if left := pay.Amount - pay.Refunded; q.amount > left {
			return answer(90018, fmt.Sprintf("[amount] amount %d exceeds the %d coins of pay %s left to return", q.amount, left, q.payBillNo), nil), 90018, false
		}
		// Paid coins come back first, then gifted ones: the reverse of how
		// the pay spent them.
		paidLeft := (pay.Amount - pay.UsedGen) - (pay.Refunded - pay.refundGen)
		fromPaid := min(q.amount, paidLeft)
		fromGen := q.amount - fromPaid
		a.giveBack(fromPaid, fromGen)
		pay.Refunded += q.amount
		pay.refundGen += fromGen
		pay.Cancelled = pay.Refunded == pay.Amount
		o.PayBillNo = q.payBillNo
		res = answer(0, "ok", map[string]any{"bill_no": q.billNo, "balance": a.total()})
	}
	o.answer = res.body
	s.orders[key] = o
	return res, 0, true
}

// v2Business are the fields that make two 2.0 calls with one bill_no the
// same call (not ts; openid and zone_id are in the bill_no's scope).
var v2Business = []string{"amount", "payitem", "remark", "user_ip", "pay_bill_no"}

// The biz_id of an order queryorderinfo reports.
const (
	BizCoins = 1 // a coin top-up (wx.requestMidasPayment)
	BizItem  = 2 // an item direct purchase (wx.requestMidasPaymentGameItem)
)

// OrderInfo is a client-side order, as 2.0 queryorderinfo reports it: a
// coin top-up or an item purchase, named by the out_trade_no the game gave
// the client. Seed it with AddOrderInfo (which moves no coins: use TopUp), or
// make it with BuyItem or BuyCoins, which also push the event (see push.go).
type OrderInfo struct {
	OpenID     string // the buyer; queryorderinfo of another openid answers 90019
	OutTradeNo string // the out_trade_no the game gave the client; one per environment
	BizID      int    // BizCoins or BizItem; a query with the other biz_id answers 90019
	ProductID  string // product_id
	Paid       bool   // pay_state 2 (paid), else 1
	Delivered  bool   // deliver_state 2 (delivered; for coins, credited), else 1
	// PaidAt is pay_finish_time, in Unix seconds; the zero time answers 0.
	PaidAt time.Time
	// MchOrderNo and TransactionID are the WeChat Pay merchant order and
	// transaction ids (mch_order_no, transaction_id), for orders paid
	// through WeChat Pay; empty otherwise.
	MchOrderNo, TransactionID string
}

type orderInfoKey struct {
	env        midas.Env
	outTradeNo string
}

// AddOrderInfo adds or replaces the order that queryorderinfo reports for
// o.OutTradeNo in env. It panics on an order without an OpenID or an
// OutTradeNo, or with a BizID other than BizCoins and BizItem.
func (s *Server) AddOrderInfo(env midas.Env, o OrderInfo) {
	if o.OpenID == "" || o.OutTradeNo == "" {
		panic("midastest: AddOrderInfo: an OrderInfo needs an OpenID and an OutTradeNo")
	}
	if o.BizID != BizCoins && o.BizID != BizItem {
		panic(fmt.Sprintf("midastest: AddOrderInfo %q: BizID must be BizCoins (1) or BizItem (2), got %d", o.OutTradeNo, o.BizID))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orderInfos[orderInfoKey{env, o.OutTradeNo}] = &o
}

// MarkDelivered records that the order outTradeNo was delivered (deliver
// state 2). Delivery implies payment: an order not yet Paid becomes paid
// now. It reports whether the order exists.
func (s *Server) MarkDelivered(env midas.Env, outTradeNo string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orderInfos[orderInfoKey{env, outTradeNo}]
	if !ok {
		return false
	}
	if !o.Paid {
		o.Paid, o.PaidAt = true, s.cfg.Now()
	}
	o.Delivered = true
	return true
}

// OrderInfo returns the order queryorderinfo reports for outTradeNo.
func (s *Server) OrderInfo(env midas.Env, outTradeNo string) (OrderInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orderInfos[orderInfoKey{env, outTradeNo}]
	if !ok {
		return OrderInfo{}, false
	}
	return *o, true
}

// queryOrderInfo answers a verified queryorderinfo; s.mu is held.
func (s *Server) queryOrderInfo(q v2Body) (result, int, bool) {
	o, ok := s.orderInfos[orderInfoKey{q.env, q.outTradeNo}]
	if !ok || o.OpenID != q.openID || int64(o.BizID) != q.bizID {
		return answer(90019, "[out_trade_no] order not found", nil), 90019, false
	}
	state := func(b bool) int {
		if b {
			return 2
		}
		return 1
	}
	var finished int64
	if o.Paid && !o.PaidAt.IsZero() {
		finished = o.PaidAt.Unix()
	}
	return answer(0, "ok", map[string]any{
		"out_trade_no": o.OutTradeNo, "product_id": o.ProductID, "pay_state": state(o.Paid), "deliver_state": state(o.Delivered),
		"pay_finish_time": finished, "mch_order_no": o.MchOrderNo, "transaction_id": o.TransactionID,
	}), 0, false
}
