package analytics

// The leader's per-address-prefix report cap (Config.ReportsPerPrefixDay).
// The counts are keyed by a keyed hash of the prefix under a random key
// drawn each day, so the collector's memory holds no network address and
// yesterday's counts cannot be matched to today's (P13: a collector's
// state holds no device or transport identifier).

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
)

// allow charges one report to prefix and says whether its day budget
// allows it.
func (c *Collector) allow(prefix string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.cfg.Now().Unix() / 86400
	if d != c.day || c.perPfx == nil {
		c.day, c.perPfx = d, map[[16]byte]int{}
		_, _ = rand.Read(c.pfxKey[:]) // never fails (crypto/rand)
	}
	mac := hmac.New(sha256.New, c.pfxKey[:])
	mac.Write([]byte(prefix))
	var k [16]byte
	copy(k[:], mac.Sum(nil))
	if c.perPfx[k] >= c.cfg.ReportsPerPrefixDay {
		return false
	}
	c.perPfx[k]++
	return true
}
