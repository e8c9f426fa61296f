// Package push receives the WeChat virtual payment 2.0 pushes of a mini game:
// item deliveries (道具直购发货推送), coin top-ups and refunds. It verifies
// every push, decrypts secure-mode bodies, parses the payload into typed
// values and calls your handler; the HTTP answer is what tells WeChat whether
// to retry.
//
// # Flow of one request
//
// A GET is the URL check made when the push URL is configured in MP: the
// query's signature (hex SHA1 of the sorted Token, timestamp and nonce) is
// checked and echostr echoed verbatim as text/plain; a bad signature gets 403.
//
// A POST is a push. In order:
//
//  1. the URL signature is checked against Config.Token; a request that
//     fails (or any other method) is answered at once with Connection:
//     close, and its body is never read;
//  2. the body is read, at most 64 KiB by default (see [WithMaxBodyBytes]),
//     within 2 s of the handler being called by default (see
//     [WithBodyTimeout]);
//  3. secure mode (Config.EncodingAESKey set): msg_signature (hex SHA1 of the
//     sorted Token, timestamp, nonce and Encrypt) is checked, Encrypt is
//     decrypted (AES-256-CBC) and its trailing appid must equal Config.AppID;
//  4. the JSON envelope is parsed (ToUserName, FromUserName, CreateTime,
//     MsgType, Event, MiniGame{Payload, PayEventSig, IsMock});
//  5. the AppKey is chosen from the Payload's Env (0 AppKey, 1 SandboxAppKey)
//     by a tolerant pre-parse, and PayEventSig, HMAC-SHA256 of
//     Event + "&" + Payload (see [midas.PaySig]), is checked before any field
//     of the payload is trusted;
//  6. the Payload is parsed strictly into [ItemDelivery], [CoinDelivery] or
//     [Refund] (a quantity sent as a string is malformed);
//  7. a mock push (IsMock, the MP format test) is answered with success
//     without calling any handler;
//  8. the handler of the event is called and its result answered:
//     {"ErrCode":0,"ErrMsg":"Success"} for nil, a non-zero ErrCode otherwise.
//
// Secure mode is decided by the configuration alone, never by the request:
// with an EncodingAESKey every POST must carry msg_signature and an Encrypt
// body (a plain body is rejected, so a request cannot downgrade the mode); an
// encrypt_type, when present, must be "aes". Without an EncodingAESKey a
// push with encrypt_type=aes or an Encrypt body is rejected, since it cannot be
// read. The answer is plain JSON in both modes. Only JSON envelopes are
// read: choose the JSON data format in MP (an XML envelope is rejected).
//
// Events this package does not know (WeChat may subscribe more) are answered
// with success once the transport signature (and in secure mode
// msg_signature) is verified, and are otherwise ignored: no handler is called
// and no payload is parsed. A nil function in [Handlers] likewise acknowledges
// its event with success and ignores it.
//
// # Answers
//
//	HTTP 200  {"ErrCode":0,"ErrMsg":"Success"}          delivered, mock, ignored, or a repeat
//	HTTP 400  {"ErrCode":40000,"ErrMsg":"bad request"}  malformed query, body, envelope or payload
//	HTTP 403  {"ErrCode":40300,"ErrMsg":"forbidden"}    bad or missing signature, wrong appid, no AppKey for the env
//	HTTP 405  {"ErrCode":40500,...}                     neither GET nor POST
//	HTTP 408  {"ErrCode":40800,...}                     body not received within the body timeout
//	HTTP 413  {"ErrCode":41300,...}                     body over the limit
//	HTTP 500  {"ErrCode":99999,"ErrMsg":"internal error"} handler error or panic, Deduper error
//
// Every answer but the first makes WeChat retry. A rejected request calls no
// handler and is logged at Warn through [WithLogger] with a reason that names
// no secret: Token, keys and decrypted bodies are never logged. A handler's
// error text is logged at Error but never sent in the answer.
//
// # The 3-second limit
//
// WeChat waits 3 s for the answer and counts anything slower as a failure
// (and retries). The context given to a handler has a deadline 2.5 s after
// the request arrived (see [WithHandlerTimeout]). The package does not answer
// before the handler returns: a handler that ignores its context and runs
// past 3 s is a bug in the handler; the push is then retried, and delivery
// keyed on Env and OutTradeNo keeps that harmless. Do slow work after
// answering (put the delivery in your own queue and return nil once it is
// durably queued).
//
// # Exactly once, keyed on Env and OutTradeNo
//
// WeChat retries a push until it gets a success answer (15 retries over about
// 24 h for items, 13 over about 12 h for the other events), and may repeat
// one that already succeeded. Timestamps and nonces are not checked for age
// or reuse: WeChat's own retries are replays. Replaying a correctly signed
// push is harmless only because delivery is keyed on the order: grant an
// order's items once, and answer every repeat of it with success as the
// first time. WeChat scopes OutTradeNo per environment, so the key is (Env,
// OutTradeNo): a sandbox order and a production order may share an
// OutTradeNo.
//
// Do that in your handler (record Env and OutTradeNo in the same
// transaction that grants the items, see the [ItemDelivery] example), or
// give a [Deduper] with [WithDeduper]: each handler is then called at most
// once at a time per key, not again after it succeeded, and again after it
// failed (see [Handlers] for the repeats it can still see). Keys are built by
// [ItemKey] ("item:" Env ":" OutTradeNo), [CoinKey] ("coin:" Env ":"
// OutTradeNo) and [RefundKey] ("refund:" Env ":" RefundId), at most
// [MaxKeyLen] bytes, so no two events share one.
//
// With several server instances (behind a load balancer, or old and new
// during a deploy) the Deduper must be shared: [SQLDeduper] keeps claims and
// done keys in a table of your PostgreSQL, MySQL/MariaDB or SQLite database
// through database/sql. [MemoryDeduper] is an in-process Deduper for tests
// and single-process servers. Both hold a claim as a lease
// ([DefaultLease]), so a crashed or hung delivery blocks its key for one
// lease only, and forget a done key after [DefaultDoneTTL], twice WeChat's
// retry window.
//
// Coin top-up events are only a hint to refresh a balance; never grant items
// from a coin order's OutTradeNo.
//
// Sandbox pushes are signed with the sandbox AppKey and carry Env
// [midas.Sandbox]; leave Config.SandboxAppKey empty on a production server to
// reject them, or check the Env of each delivery.
//
// # Server timeouts
//
// The handler bounds what it controls: a request it rejects from the query
// or method is answered at once and its connection closed without reading
// the body, and a body must arrive within the body timeout ([WithBodyTimeout],
// default [DefaultBodyTimeout]) or the sender gets 408 and is cut off. The
// rest is the http.Server's to bound; net/http's defaults are no timeout at
// all, so set them:
//
//	srv := &http.Server{
//		Addr:    ":8080",
//		Handler: mux, // mux.Handle("/wechat/push", h)
//		// Headers arrive in one piece from WeChat; a slow one is an attack.
//		ReadHeaderTimeout: 5 * time.Second,
//		// The whole request; the handler cuts the body off sooner.
//		ReadTimeout: 10 * time.Second,
//		// WeChat gives up after 3 s; this frees the goroutine of a
//		// handler that ignores its context or a client that does not read.
//		WriteTimeout: 10 * time.Second,
//		// Idle keep-alive connections are closed after this.
//		IdleTimeout: 60 * time.Second,
//	}
//
// The body timeout is counted from when the handler is called, so it holds
// whatever ReadTimeout is; ReadHeaderTimeout is the only bound on the time
// before that, and IdleTimeout the only bound on an idle connection.
package push
