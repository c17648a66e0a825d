package crypto

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

const (
	safetyDomain = "imigee/safety-number/v1"

	// safetyGroups × 5 decimal digits ≈ 83 bits: enough that forging a card
	// with a colliding number costs about 2^83 work.
	safetyGroups = 5

	// safetyIterations slows brute-force search for a colliding card.
	safetyIterations = 1024
)

// SafetyNumber returns a short human-comparable fingerprint of the pair
// (a, b): 5 groups of 5 digits, the same whichever order the cards are
// given in. Two friends compare it in person or over a trusted channel; if
// it matches, neither card was swapped in transit.
func SafetyNumber(a, b Card) string {
	ka := append(a.SignPub[:len(a.SignPub):len(a.SignPub)], a.BoxPub[:]...)
	kb := append(b.SignPub[:len(b.SignPub):len(b.SignPub)], b.BoxPub[:]...)
	if bytes.Compare(ka, kb) > 0 {
		ka, kb = kb, ka
	}
	h := sha256.New()
	h.Write([]byte(safetyDomain))
	h.Write(ka)
	h.Write(kb)
	sum := h.Sum(nil)
	for range safetyIterations {
		h.Reset()
		h.Write(sum)
		h.Write(ka)
		h.Write(kb)
		sum = h.Sum(sum[:0])
	}
	groups := make([]string, safetyGroups)
	for i := range groups {
		v := binary.BigEndian.Uint64(sum[i*5:]) >> 24 // 40 bits
		groups[i] = fmt.Sprintf("%05d", v%100000)
	}
	return strings.Join(groups, " ")
}
