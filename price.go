package midas

// priceTiersYuan are the prices, in yuan (CNY), that wx.requestMidasPayment
// accepts: buyQuantity times the coin's unit price must equal one of them.
var priceTiersYuan = [...]int64{1, 3, 6, 8, 12, 18, 25, 30, 40, 45, 50, 60, 68, 73, 78, 88, 98, 108, 118, 128, 148, 168, 188, 198, 328, 648}

// PriceTiers returns the accepted purchase prices in yuan, ascending. The
// slice is a copy.
func PriceTiers() []int64 {
	return append([]int64(nil), priceTiersYuan[:]...)
}

// BuyQuantityAccepted reports whether the front end's wx.requestMidasPayment
// accepts buying quantity coins that cost coinPriceFen fen (0.01 yuan) each:
// the total must be exactly one of the PriceTiers. A coin of 0.1 yuan
// (coinPriceFen 10) can be bought 10 at a time (1 yuan), not 11.
func BuyQuantityAccepted(quantity, coinPriceFen int64) bool {
	if quantity <= 0 || coinPriceFen <= 0 || quantity > priceTiersYuan[len(priceTiersYuan)-1]*100/coinPriceFen {
		return false
	}
	total := quantity * coinPriceFen
	for _, yuan := range priceTiersYuan {
		if total == yuan*100 {
			return true
		}
	}
	return false
}

// BuyQuantities lists, ascending, every quantity of coins at coinPriceFen fen
// each that the front end accepts: one per price tier the price divides.
func BuyQuantities(coinPriceFen int64) []int64 {
	if coinPriceFen <= 0 {
		return nil
	}
	var qs []int64
	for _, yuan := range priceTiersYuan {
		if fen := yuan * 100; fen%coinPriceFen == 0 {
			qs = append(qs, fen/coinPriceFen)
		}
	}
	return qs
}
