package midas_test

import (
	"testing"

	"github.com/gomidas/midas"
	"github.com/stretchr/testify/assert"
)

func TestPaySigOfficialVector(t *testing.T) {
	body := []byte(`{"offer_id": "12345678", "openid": "oUrsfxxxxxxxxxx", "ts": 1668136271, "zone_id": "1", "env": 0}`)
	assert.Equal(t, "11bac6388871d29c055c7d16fbe42e8d646855b666faf89b15c815218b1b23bd", midas.PaySig("/wxa/game/getbalance", body, "12345"))
	assert.Equal(t, "42fe1d3341fb1c8bd6f5014ba735ab04eacc80a2deb3ab4669eab4700b5b6729", midas.SessionSig(body, "9hAb/NEYUlkaMBEsmFgzig=="))
}
