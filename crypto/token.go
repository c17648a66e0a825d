package crypto

import (
	"crypto/sha256"
	"encoding"
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
// HMAC-SHA256(epoch key, level(1) ‖ cell ID(8, big-endian)). For many
// tokens use a Tokenizer, which reuses its hasher.
func Token(epochKey EpochKey, level int, cell uint64) [TokenSize]byte {
	var t Tokenizer
	t.Reset(&epochKey)
	return t.Token(level, cell)
}

// Tokenizer computes tokens without allocating: it keeps one HMAC-SHA256
// whose padded-key states are snapshotted at each rekey, so a token costs two
// SHA-256 compressions and a rekey two more. Not safe for concurrent use;
// the zero value is ready after Reset or SetFriend.
type Tokenizer struct {
	mac hmac256
	msg [9]byte
}

// NewTokenizer returns a Tokenizer keyed with k.
func NewTokenizer(k EpochKey) *Tokenizer {
	t := &Tokenizer{}
	t.Reset(&k)
	return t
}

// Reset rekeys the Tokenizer with an epoch key.
func (t *Tokenizer) Reset(k *EpochKey) { t.mac.setKey(k[:]) }

// SetFriend rekeys the Tokenizer with a friend's key for epoch, deriving
// the epoch key with the same hasher (it equals pk.EpochTokenKey). It
// returns ErrKeyErased if the epoch's day is gone.
func (t *Tokenizer) SetFriend(pk *PairKeys, epoch uint64, epochSeconds uint32) error {
	if epochSeconds == 0 {
		return ErrMalformed
	}
	dk, err := pk.DayKey(EpochDay(epoch, epochSeconds))
	if err != nil {
		return err
	}
	t.mac.setKey(dk[:])
	var buf [len(epochLabel) + 12]byte
	copy(buf[:], epochLabel)
	binary.BigEndian.PutUint64(buf[len(epochLabel):], epoch)
	binary.BigEndian.PutUint32(buf[len(epochLabel)+8:], epochSeconds)
	ek := t.mac.sum(buf[:])
	t.mac.setKey(ek[:])
	return nil
}

// Token returns the token of one cell under the current key.
func (t *Tokenizer) Token(level int, cell uint64) [TokenSize]byte {
	t.msg[0] = byte(level)
	binary.BigEndian.PutUint64(t.msg[1:], cell)
	s := t.mac.sum(t.msg[:])
	var tok [TokenSize]byte
	copy(tok[:], s[:])
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
// For hundreds of friends per tick, reuse one Tokenizer with SetFriend.
func FriendTokens(pk *PairKeys, epoch uint64, epochSeconds uint32, level int, here uint64, near []uint64) (hereTok [TokenSize]byte, nearToks [][TokenSize]byte, err error) {
	var t Tokenizer
	if err := t.SetFriend(pk, epoch, epochSeconds); err != nil {
		return hereTok, nil, err
	}
	hereTok = t.Token(level, here)
	nearToks = make([][TokenSize]byte, 0, len(near))
	for _, c := range near {
		nearToks = append(nearToks, t.Token(level, c))
	}
	return hereTok, nearToks, nil
}

// hmac256 is HMAC-SHA256 (RFC 2104) for keys of at most 64 bytes that can
// be rekeyed without allocating: the states after absorbing the inner and
// outer padded key are snapshotted and restored for every message.
type hmac256 struct {
	inner, outer   hash.Hash
	istate, ostate []byte
	out            [sha256.Size]byte
}

type snapshotter interface {
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

func (h *hmac256) setKey(key []byte) {
	if h.inner == nil {
		h.inner, h.outer = sha256.New(), sha256.New()
	}
	var pad [sha256.BlockSize]byte
	copy(pad[:], key) // callers pass 32-byte keys
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.inner.Reset()
	h.inner.Write(pad[:])
	h.istate, _ = h.inner.(snapshotter).AppendBinary(h.istate[:0])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.outer.Reset()
	h.outer.Write(pad[:])
	h.ostate, _ = h.outer.(snapshotter).AppendBinary(h.ostate[:0])
}

func (h *hmac256) sum(msg []byte) [sha256.Size]byte {
	_ = h.inner.(snapshotter).UnmarshalBinary(h.istate)
	h.inner.Write(msg)
	h.inner.Sum(h.out[:0])
	_ = h.outer.(snapshotter).UnmarshalBinary(h.ostate)
	h.outer.Write(h.out[:])
	h.outer.Sum(h.out[:0])
	return h.out
}
