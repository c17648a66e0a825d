package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

const (
	// TokenSize is the length of a proximity token on the wire.
	TokenSize = 8

	// DefaultEpochSeconds is the default proximity epoch: 10 minutes.
	DefaultEpochSeconds uint32 = 600
)

// Token computes one proximity token: the first 8 bytes of
// HMAC-SHA256(epoch key, level(1) ‖ cell ID(8, big-endian)). For many tokens under one key use a
// Tokenizer, which reuses its hasher.
func Token(epochKey EpochKey, level int, cell uint64) [TokenSize]byte {
	var t Tokenizer
	t.Reset(&epochKey)
	return t.Token(level, cell)
}

// Tokenizer computes tokens under one epoch key, reusing one HMAC state so a
// token costs two SHA-256 compressions and no allocation. A Tokenizer is not
// safe for concurrent use; the zero value must be Reset before use.
type Tokenizer struct {
	mac hash.Hash
	key EpochKey
	msg [9]byte
	sum [sha256.Size]byte
}

// NewTokenizer returns a Tokenizer keyed with k.
func NewTokenizer(k EpochKey) *Tokenizer {
	t := &Tokenizer{}
	t.Reset(&k)
	return t
}

// Reset rekeys the Tokenizer (one HMAC key setup) for another friend or
// epoch.
func (t *Tokenizer) Reset(k *EpochKey) {
	if t.mac != nil && t.key == *k {
		return
	}
	t.key = *k
	t.mac = hmac.New(sha256.New, t.key[:])
}

// Token returns the token of one cell under the current key.
func (t *Tokenizer) Token(level int, cell uint64) [TokenSize]byte {
	t.mac.Reset()
	t.msg[0] = byte(level)
	binary.BigEndian.PutUint64(t.msg[1:], cell)
	t.mac.Write(t.msg[:])
	t.mac.Sum(t.sum[:0])
	var tok [TokenSize]byte
	copy(tok[:], t.sum[:])
	return tok
}

// CellTokens appends to dst the token of here followed by those of near,
// all at level, and returns the extended slice.
func (t *Tokenizer) CellTokens(dst [][TokenSize]byte, level int, here uint64, near []uint64) [][TokenSize]byte {
	dst = append(dst, t.Token(level, here))
	for _, c := range near {
		dst = append(dst, t.Token(level, c))
	}
	return dst
}

// FriendTokens is the one-call helper for a proximity tick: it derives the
// friend's epoch key and returns the "here" token and the "near" tokens for
// the current cells. It returns ErrKeyErased if the epoch's day is gone.
func FriendTokens(pk *PairKeys, epoch uint64, epochSeconds uint32, level int, here uint64, near []uint64) (hereTok [TokenSize]byte, nearToks [][TokenSize]byte, err error) {
	ek, err := pk.EpochTokenKey(epoch, epochSeconds)
	if err != nil {
		return hereTok, nil, err
	}
	t := NewTokenizer(ek)
	hereTok = t.Token(level, here)
	nearToks = make([][TokenSize]byte, 0, len(near))
	for _, c := range near {
		nearToks = append(nearToks, t.Token(level, c))
	}
	return hereTok, nearToks, nil
}
