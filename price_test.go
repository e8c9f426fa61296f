package midas

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPriceTiers(t *testing.T) {
	tiers := PriceTiers()
	assert.Len(t, tiers, 26)
	assert.Equal(t, int64(1), tiers[0])
	assert.Equal(t, int64(648), tiers[len(tiers)-1])
	tiers[0] = 999
	assert.Equal(t, int64(1), PriceTiers()[0], "PriceTiers returns a copy")
}

func TestBuyQuantityAccepted(t *testing.T) {
	cases := []struct {
		quantity, priceFen int64
		want               bool
	}{
		{10, 10, true},      // the page's example: 0.1 yuan a coin, 10 coins = 1 yuan
		{9, 10, false},      // 0.9 yuan
		{11, 10, false},     // 1.1 yuan
		{30, 10, true},      // 3 yuan
		{6480, 10, true},    // 648 yuan, the top tier
		{6490, 10, false},   // past the top tier
		{1, 100, true},      // 1 yuan coin
		{2, 100, false},     // 2 yuan is no tier
		{25, 100, true},     // 25 yuan
		{1, 64800, true},    // one 648-yuan item
		{0, 10, false},      // nothing
		{-10, 10, false},    // negative
		{10, 0, false},      // free coins
		{1 << 62, 4, false}, // would overflow
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, BuyQuantityAccepted(tc.quantity, tc.priceFen), "%d coins at %d fen", tc.quantity, tc.priceFen)
	}
}

func TestBuyQuantities(t *testing.T) {
	assert.Equal(t, []int64{1, 3, 6, 8, 12, 18, 25, 30, 40, 45, 50, 60, 68, 73, 78, 88, 98, 108, 118, 128, 148, 168, 188, 198, 328, 648}, BuyQuantities(100))
	qs := BuyQuantities(300) // 3 yuan a coin: only tiers divisible by 3
	assert.Equal(t, []int64{1, 2, 4, 6, 10, 15, 20, 26, 36, 56, 66, 216}, qs)
	for _, q := range qs {
		assert.True(t, BuyQuantityAccepted(q, 300))
	}
	assert.Nil(t, BuyQuantities(0))
}
