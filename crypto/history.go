package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// History forget secrets (issue 10): a relay keeps past announcements for
// late matching, each beside a forget tag; the device that made it can
// erase it later by revealing the tag's secret. Secrets come from one
// device key, a different one per epoch, so tags link nothing across
// epochs and revealing one epoch's secret reveals nothing of another's.

// ForgetSecretSize is the length of a forget secret and of its tag: 32.
const ForgetSecretSize = 32

const (
	forgetSecretLabel = "imigee/history-forget/v1"
	forgetTagLabel    = "imigee/history-tag/v1"
)

// HistoryForgetSecret returns the forget secret of one epoch:
// HMAC-SHA256(key, "imigee/history-forget/v1" ‖ epoch(8, big-endian)).
func HistoryForgetSecret(key *[32]byte, epoch uint64) [ForgetSecretSize]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(forgetSecretLabel))
	m.Write(binary.BigEndian.AppendUint64(nil, epoch))
	var s [ForgetSecretSize]byte
	m.Sum(s[:0])
	return s
}

// HistoryForgetTag returns the tag a relay stores for a secret:
// SHA-256("imigee/history-tag/v1" ‖ secret).
func HistoryForgetTag(secret []byte) [ForgetSecretSize]byte {
	h := sha256.New()
	h.Write([]byte(forgetTagLabel))
	h.Write(secret)
	var t [ForgetSecretSize]byte
	h.Sum(t[:0])
	return t
}
