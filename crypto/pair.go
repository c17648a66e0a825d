package crypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync"
)

const (
	// ProximityBaseDay is the fixed global day (days since the Unix epoch,
	// 2024-10-04 UTC) at which every pair's proximity key chain starts. Both
	// ends ratchet forward from it, so they agree on a day's key without
	// coordinating.
	ProximityBaseDay uint32 = 20000

	// PairKeysSize is the length of encoded pair keys:
	// version(1) ‖ myBox(32) ‖ friendBox(32) ‖ proxDay(4) ‖ proxKey(32) ‖
	// mailbox(32) ‖ record(32) ‖ message(32) ‖ hint(32) ‖ proof(32).
	PairKeysSize = 1 + 32 + 32 + 4 + 6*32

	// MaxRatchetDays bounds how far one call may ratchet the proximity key
	// forward: 36,600 days (100 years, ~30 ms of HMAC). A day beyond it is
	// treated as malformed input rather than burning CPU for hours on an
	// absurd epoch from the network.
	MaxRatchetDays = 36600

	// ProofSize is the length of a match-confirmation proof.
	ProofSize = 32

	// HintSize is the length of a rendezvous hint.
	HintSize = 8

	pairKeysVersion = 1
	pairDomain      = "imigee/pair/v1/"
	ratchetLabel    = "ratchet"
	epochLabel      = "epoch"
	mailboxLabel    = "mailbox"
	hintLabel       = "hint"
	proofLabel      = "proof"
)

// Sub-key purposes; each is an HKDF info string, so no two purposes ever
// share key material.
const (
	purposeProximity = "proximity"
	purposeMailbox   = "mailbox"
	purposeRecord    = "record"
	purposeMessage   = "message"
	purposeHint      = "hint"
	purposeProof     = "proof"
)

// EpochKey is the per-pair, per-epoch key that proximity tokens are computed
// under (see Token).
type EpochKey [32]byte

// PairKeys holds the symmetric keys one device shares with one friend.
// It is safe for concurrent use. Only the proximity key of the current day
// (see Advance) is kept; earlier days' keys are gone for good.
type PairKeys struct {
	myBox, friendBox [32]byte

	mailbox, record, message, hint, proof [32]byte

	mu      sync.RWMutex // guards proxDay and proxKey
	proxDay uint32
	proxKey [32]byte
}

// DerivePair derives the pair keys between me and a friend's (verified)
// card from the static X25519 secret alone. A thief of me's long-term key
// can therefore re-derive past proximity tokens; DerivePairWithSecret with a
// link-time secret that is erased afterwards prevents that.
func DerivePair(me *Identity, friend Card) (*PairKeys, error) {
	return DerivePairWithSecret(me, friend, nil)
}

// DerivePairWithSecret derives the pair keys, mixing linkSecret (for example
// an ephemeral X25519 secret agreed during linking, both ends passing the
// same bytes) into the proximity key chain only. If both ends erase
// linkSecret after deriving and store only Advance'd pair keys, a later theft
// of either identity cannot regenerate tokens of erased days.
//
// Keys: ikm = X25519(me, friend) ‖ linkSecret for proximity, X25519(me,
// friend) for the rest; salt = the two box public keys sorted
// (lexicographically smaller first); info = "imigee/pair/v1/" ‖ purpose.
func DerivePairWithSecret(me *Identity, friend Card, linkSecret []byte) (*PairKeys, error) {
	if err := friend.Verify(); err != nil {
		return nil, fmt.Errorf("crypto: derive pair: %w", err)
	}
	myPub := me.BoxPub()
	if friend.BoxPub == myPub {
		return nil, fmt.Errorf("crypto: derive pair: friend is self: %w", ErrWeakKey)
	}
	shared, err := x25519(me.boxPriv, &friend.BoxPub)
	if err != nil {
		return nil, fmt.Errorf("crypto: derive pair: %w", err)
	}
	salt := sortedPair(&myPub, &friend.BoxPub)
	pk := &PairKeys{myBox: myPub, friendBox: friend.BoxPub, proxDay: ProximityBaseDay}
	for _, p := range []struct {
		purpose string
		dst     *[32]byte
	}{
		{purposeMailbox, &pk.mailbox},
		{purposeRecord, &pk.record},
		{purposeMessage, &pk.message},
		{purposeHint, &pk.hint},
		{purposeProof, &pk.proof},
	} {
		if err := hkdfInto(p.dst, shared[:], salt, p.purpose); err != nil {
			return nil, err
		}
	}
	proxIKM := append(shared[:], linkSecret...)
	if err := hkdfInto(&pk.proxKey, proxIKM, salt, purposeProximity); err != nil {
		return nil, err
	}
	return pk, nil
}

func hkdfInto(dst *[32]byte, ikm, salt []byte, purpose string) error {
	k, err := hkdf.Key(sha256.New, ikm, salt, pairDomain+purpose, 32)
	if err != nil {
		return fmt.Errorf("crypto: hkdf %s: %w", purpose, err)
	}
	copy(dst[:], k)
	return nil
}

func sortedPair(a, b *[32]byte) []byte {
	s := make([]byte, 0, 64)
	if bytes.Compare(a[:], b[:]) <= 0 {
		return append(append(s, a[:]...), b[:]...)
	}
	return append(append(s, b[:]...), a[:]...)
}

// x25519 computes the shared secret with a pre-parsed private key and
// rejects the all-zero output of low-order points.
func x25519(priv *ecdh.PrivateKey, pub *[32]byte) ([32]byte, error) {
	var out [32]byte
	p, err := ecdh.X25519().NewPublicKey(pub[:])
	if err != nil {
		return out, fmt.Errorf("crypto: x25519 public key: %w", ErrWeakKey)
	}
	s, err := priv.ECDH(p)
	if err != nil {
		return out, fmt.Errorf("crypto: x25519: %w", ErrWeakKey)
	}
	copy(out[:], s)
	return out, nil
}

func ratchet(k *[32]byte) {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(ratchetLabel))
	m.Sum(k[:0])
}

// FriendBox returns the friend's box public key these keys were derived for.
func (pk *PairKeys) FriendBox() [32]byte { return pk.friendBox }

// ProximityDay returns the oldest day whose proximity key is still held.
func (pk *PairKeys) ProximityDay() uint32 {
	pk.mu.RLock()
	defer pk.mu.RUnlock()
	return pk.proxDay
}

// Advance ratchets the proximity key forward to day and erases every older
// day's key. Advancing to a day at or before the held one does nothing; a
// day more than MaxRatchetDays ahead is refused (ErrMalformed) and nothing
// changes. A node should advance to the day of (now − clock-skew window) so
// it can still answer a friend whose clock is a little behind across
// midnight.
func (pk *PairKeys) Advance(day uint32) error {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if day > pk.proxDay && day-pk.proxDay > MaxRatchetDays {
		return fmt.Errorf("crypto: advance to day %d from %d: %w", day, pk.proxDay, ErrMalformed)
	}
	for pk.proxDay < day {
		ratchet(&pk.proxKey)
		pk.proxDay++
	}
	return nil
}

// DayKey returns the proximity key of a UTC day (days since the Unix epoch)
// without changing what is held. It returns ErrKeyErased for a day before
// ProximityDay and ErrMalformed for one more than MaxRatchetDays after it.
func (pk *PairKeys) DayKey(day uint32) ([32]byte, error) {
	pk.mu.RLock()
	k, held := pk.proxKey, pk.proxDay
	pk.mu.RUnlock()
	if day < held {
		return [32]byte{}, fmt.Errorf("crypto: proximity key of day %d (held from %d): %w", day, held, ErrKeyErased)
	}
	if day-held > MaxRatchetDays {
		return [32]byte{}, fmt.Errorf("crypto: proximity key of day %d (held from %d): %w", day, held, ErrMalformed)
	}
	for ; held < day; held++ {
		ratchet(&k)
	}
	return k, nil
}

// EpochDay returns the UTC day (days since the Unix epoch) in which epoch
// starts, for epochs of epochSeconds. Days past the uint32 range saturate
// (and are then refused as too far ahead).
func EpochDay(epoch uint64, epochSeconds uint32) uint32 {
	hi, lo := bits.Mul64(epoch, uint64(epochSeconds))
	if hi != 0 || lo/86400 > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(lo / 86400)
}

// EpochTokenKey returns the key proximity tokens of an epoch are made under:
// HMAC-SHA256(day key, "epoch" ‖ epoch(8) ‖ epochSeconds(4)), where epoch is
// Unix time / epochSeconds and the day key is that of EpochDay. It returns
// ErrKeyErased if that day's key is gone.
func (pk *PairKeys) EpochTokenKey(epoch uint64, epochSeconds uint32) (EpochKey, error) {
	var ek EpochKey
	if epochSeconds == 0 {
		return ek, fmt.Errorf("crypto: epoch length 0: %w", ErrMalformed)
	}
	dk, err := pk.DayKey(EpochDay(epoch, epochSeconds))
	if err != nil {
		return ek, err
	}
	m := hmac.New(sha256.New, dk[:])
	var buf [len(epochLabel) + 12]byte
	copy(buf[:], epochLabel)
	binary.BigEndian.PutUint64(buf[len(epochLabel):], epoch)
	binary.BigEndian.PutUint32(buf[len(epochLabel)+8:], epochSeconds)
	m.Write(buf[:])
	m.Sum(ek[:0])
	return ek, nil
}

// MailboxKey returns the Ed25519 key of the pair's mailbox for one UTC day
// and one direction: toFriend=true is the mailbox this device drops items
// into for the friend, false the one the friend drops items into for this
// device. Both ends derive the same key for the same direction, since the
// seed is HMAC(mailbox key, "mailbox" ‖ recipient box pub ‖ day(4)). Its
// MailboxID is MailboxIDFromPub of the public key.
func (pk *PairKeys) MailboxKey(day uint32, toFriend bool) ed25519.PrivateKey {
	recipient := pk.myBox
	if toFriend {
		recipient = pk.friendBox
	}
	m := hmac.New(sha256.New, pk.mailbox[:])
	m.Write([]byte(mailboxLabel))
	m.Write(recipient[:])
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], day)
	m.Write(d[:])
	return ed25519.NewKeyFromSeed(m.Sum(nil))
}

// MailboxID returns MailboxIDFromPub of MailboxKey(day, toFriend).
func (pk *PairKeys) MailboxID(day uint32, toFriend bool) MailboxID {
	return MailboxIDFromPub(pk.MailboxKey(day, toFriend).Public().(ed25519.PublicKey))
}

// RecordKey returns the secretbox key for rendezvous records (the sealed
// transport address announced with tokens). The pointer is to a copy.
func (pk *PairKeys) RecordKey() *[32]byte { k := pk.record; return &k }

// MessageKey returns the pair's symmetric message key. The pointer is to a
// copy.
func (pk *PairKeys) MessageKey() *[32]byte { k := pk.message; return &k }

// Hint returns HMAC(hint key, "hint" ‖ epoch(8))[:8]: a per-epoch tag a
// device can put in a rendezvous record or Hello so the friend finds the
// right pair keys without trying all of them. Both ends compute the same
// value; it is unlinkable across epochs to anyone without the pair key.
func (pk *PairKeys) Hint(epoch uint64) [HintSize]byte {
	m := macEpoch(pk.hint[:], epoch, []byte(hintLabel))
	return [HintSize]byte(m[:HintSize])
}

// Proof returns this device's end-to-end match confirmation for epoch over
// transcript (for example both peer IDs and both Hello nonces):
// HMAC(proof key, "proof" ‖ prover box pub ‖ epoch(8) ‖ transcript). The
// prover's key is included so a proof cannot be reflected back as the
// friend's.
func (pk *PairKeys) Proof(epoch uint64, transcript []byte) [ProofSize]byte {
	return pk.proofFor(&pk.myBox, epoch, transcript)
}

// VerifyProof checks, in constant time, a proof the friend made with Proof
// for the same epoch and transcript.
func (pk *PairKeys) VerifyProof(epoch uint64, transcript []byte, proof []byte) bool {
	want := pk.proofFor(&pk.friendBox, epoch, transcript)
	return hmac.Equal(want[:], proof)
}

func (pk *PairKeys) proofFor(prover *[32]byte, epoch uint64, transcript []byte) [ProofSize]byte {
	m := hmac.New(sha256.New, pk.proof[:])
	m.Write([]byte(proofLabel))
	m.Write(prover[:])
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], epoch)
	m.Write(e[:])
	m.Write(transcript)
	var p [ProofSize]byte
	m.Sum(p[:0])
	return p
}

// MarshalBinary encodes the pair keys (PairKeysSize bytes) for the local
// store. Only the currently held proximity key is written, never an erased
// one. The output is secret.
func (pk *PairKeys) MarshalBinary() ([]byte, error) {
	pk.mu.RLock()
	defer pk.mu.RUnlock()
	b := make([]byte, 0, PairKeysSize)
	b = append(b, pairKeysVersion)
	b = append(b, pk.myBox[:]...)
	b = append(b, pk.friendBox[:]...)
	b = binary.BigEndian.AppendUint32(b, pk.proxDay)
	for _, k := range []*[32]byte{&pk.proxKey, &pk.mailbox, &pk.record, &pk.message, &pk.hint, &pk.proof} {
		b = append(b, k[:]...)
	}
	return b, nil
}

// UnmarshalPairKeys decodes pair keys written by MarshalBinary.
func UnmarshalPairKeys(b []byte) (*PairKeys, error) {
	if len(b) != PairKeysSize {
		return nil, fmt.Errorf("crypto: pair keys: length %d, want %d: %w", len(b), PairKeysSize, ErrMalformed)
	}
	if b[0] != pairKeysVersion {
		return nil, fmt.Errorf("crypto: pair keys: version %d: %w", b[0], ErrMalformed)
	}
	pk := &PairKeys{}
	copy(pk.myBox[:], b[1:33])
	copy(pk.friendBox[:], b[33:65])
	pk.proxDay = binary.BigEndian.Uint32(b[65:69])
	off := 69
	for _, k := range []*[32]byte{&pk.proxKey, &pk.mailbox, &pk.record, &pk.message, &pk.hint, &pk.proof} {
		copy(k[:], b[off:off+32])
		off += 32
	}
	return pk, nil
}

// NewLinkKey draws an ephemeral X25519 key pair (32 bytes from rand) for
// linking: each end sends its public half in the link request/accept, and
// both call LinkSecret to get the linkSecret of DerivePairWithSecret.
func NewLinkKey(rand io.Reader) (priv *[32]byte, pub [32]byte, err error) {
	var k [32]byte
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return nil, pub, fmt.Errorf("crypto: link key: %w", err)
	}
	p, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		return nil, pub, fmt.Errorf("crypto: link key: %w", err)
	}
	copy(pub[:], p.PublicKey().Bytes())
	return &k, pub, nil
}

// LinkSecret returns X25519(priv, peerPub). Both ends of a link get the same
// 32 bytes; they must erase priv and the secret once the pair keys exist.
func LinkSecret(priv *[32]byte, peerPub [32]byte) ([]byte, error) {
	p, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: link secret: %w", err)
	}
	s, err := x25519(p, &peerPub)
	if err != nil {
		return nil, fmt.Errorf("crypto: link secret: %w", err)
	}
	return s[:], nil
}
