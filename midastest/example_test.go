package midastest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
)

// A fake on a loopback port, and a client pointed at it with WithBaseURL.
// The fake checks signatures as the real server does and keeps the books,
// so a test can assert balances after the code under test ran.
func ExampleNewServer() {
	srv := midastest.NewServer(midastest.Config{
		AppID: "wx1234567", OfferID: "12345678",
		AppKey: "productionAppKeyOfTheFake", SandboxAppKey: "sandboxAppKeyOfTheFake",
		AccessTokens: []string{"ACCESSTOKEN"},
		Players:      []midastest.Player{{OpenID: "player1", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==", Balance: 100}},
	})
	defer srv.Close()

	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "sandboxAppKeyOfTheFake",
		Env: midas.Sandbox, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, midas.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Pay(context.Background(), midas.PayRequest{OpenID: "player1", BillNo: "order-1", Amount: 30}); err != nil {
		log.Fatal(err)
	}
	total, _ := srv.Balance(midas.Sandbox, "player1", "")
	order, _ := srv.Order(midas.Sandbox, "order-1")
	fmt.Println("balance", total, "order", order.BillNo, "amount", order.Amount)
	// Output: balance 70 order order-1 amount 30
}

// Inject makes the next call fail the way the network or WeChat can. Here
// the pay is applied but answered errcode -1 ("system busy"): the client
// retries with the same bill_no, the fake answers 90012, and the client
// reports the pay done once.
func ExampleServer_Inject() {
	srv := midastest.NewServer(midastest.Config{
		AppID: "wx1234567", OfferID: "12345678",
		AppKey: "productionAppKeyOfTheFake", SandboxAppKey: "sandboxAppKeyOfTheFake",
		AccessTokens: []string{"ACCESSTOKEN"},
		Players:      []midastest.Player{{OpenID: "player1", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==", Balance: 100}},
	})
	defer srv.Close()
	srv.Inject(midastest.Fault{API: midas.APIPay, Errcode: -1, Applied: true})

	c, err := midas.NewClient(midas.Config{
		AppID: "wx1234567", OfferID: "12345678", AppKey: "sandboxAppKeyOfTheFake",
		Env: midas.Sandbox, AccessToken: midas.StaticToken("ACCESSTOKEN"),
	}, midas.WithBaseURL(srv.URL), midas.WithRetryBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.Pay(context.Background(), midas.PayRequest{OpenID: "player1", BillNo: "order-2", Amount: 30})
	if err != nil {
		log.Fatal(err)
	}
	for _, call := range srv.Calls() {
		fmt.Println(call.API, "answered", call.Errcode, "applied", call.Applied)
	}
	total, _ := srv.Balance(midas.Sandbox, "player1", "")
	fmt.Println("already processed:", resp.AlreadyProcessed, "balance:", total)
	// Output:
	// pay answered -1 applied true
	// pay answered 90012 applied false
	// already processed: true balance: 70
}
