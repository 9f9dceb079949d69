package ledger

import (
	"math/big"
	"testing"
)

func TestFormatHuman(t *testing.T) {
	tests := []struct {
		resource string
		q        int64
		want     string
	}{
		{ResourceCPU, 3600, "1.00"},
		{ResourceCPU, 0, "0.00"},
		{ResourceCPU, 18, "0.01"}, // 0.005 rounds up
		{ResourceCPU, 17, "0.00"},
		{ResourceCPU, 3600 * 1234567, "1,234,567.00"},
		{ResourceCPU, -3600 * 1000, "-1,000.00"},
		{ResourceMemory, 1e9 * 3600 * 3 / 2, "1.50"},
		{ResourceStorage, 1e12 * 30 * 24 * 3600, "1.00"},
	}
	for _, tt := range tests {
		if got := FormatHuman(tt.resource, big.NewInt(tt.q)); got != tt.want {
			t.Errorf("FormatHuman(%s, %d) = %s, want %s", tt.resource, tt.q, got, tt.want)
		}
	}
}
