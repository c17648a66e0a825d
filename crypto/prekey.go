package crypto

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	// PrekeySize is the length of an encoded SignedPrekey:
	// version(1) ‖ day(4) ‖ pub(32) ‖ sig(64).
	PrekeySize = 1 + 4 + 32 + ed25519.SignatureSize

	// PrekeyRetentionDays is how long a recipient keeps a prekey's private
	// key after its day: 31 days, one more than the longest a relay may hold
	// a blob (30 days), so everything sealed to it can still be opened, and
	// nothing after. Erase it then.
	PrekeyRetentionDays = 31

	prekeyVersion = 1
	prekeyDomain  = "imigee/prekey/v1"
)

// SignedPrekey is a short-lived (daily) X25519 box key signed by an
// identity's signing key. Friends seal offline items to the recipient's
// current prekey instead of its long-term box key, and the recipient erases
// the private half after PrekeyRetentionDays: a later theft of the phone
// then opens nothing older that still waits on a relay.
type SignedPrekey struct {
	Day uint32   // UTC day (days since the Unix epoch) the key is for
	Pub [32]byte // X25519 public key
	Sig [64]byte // Ed25519 signature by the owner's card SignPub
}

// NewPrekey draws a prekey for day from rand (32 bytes) and signs it with
// id. It returns the private key, which the caller stores until Day +
// PrekeyRetentionDays and then erases.
func NewPrekey(rand io.Reader, id *Identity, day uint32) (*[32]byte, SignedPrekey, error) {
	var priv [32]byte
	var p SignedPrekey
	if _, err := io.ReadFull(rand, priv[:]); err != nil {
		return nil, p, fmt.Errorf("crypto: new prekey: %w", err)
	}
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return nil, p, fmt.Errorf("crypto: new prekey: %w", err)
	}
	p.Day = day
	copy(p.Pub[:], k.PublicKey().Bytes())
	copy(p.Sig[:], id.Sign(p.message(id.card.SignPub)))
	return &priv, p, nil
}

// message is domain ‖ version ‖ owner SignPub ‖ day ‖ pub.
func (p *SignedPrekey) message(owner [32]byte) []byte {
	m := make([]byte, 0, len(prekeyDomain)+1+32+4+32)
	m = append(m, prekeyDomain...)
	m = append(m, prekeyVersion)
	m = append(m, owner[:]...)
	m = binary.BigEndian.AppendUint32(m, p.Day)
	return append(m, p.Pub[:]...)
}

// Verify checks that the owner of card signed the prekey.
func (p SignedPrekey) Verify(owner Card) error {
	if !ed25519.Verify(owner.SignPub[:], p.message(owner.SignPub), p.Sig[:]) {
		return fmt.Errorf("crypto: prekey day %d: %w", p.Day, ErrBadSignature)
	}
	if _, err := ecdh.X25519().NewPublicKey(p.Pub[:]); err != nil || isZero32(&p.Pub) {
		return fmt.Errorf("crypto: prekey day %d: %w", p.Day, ErrWeakKey)
	}
	return nil
}

// MarshalBinary encodes the prekey in its PrekeySize layout.
func (p SignedPrekey) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, PrekeySize)
	b = append(b, prekeyVersion)
	b = binary.BigEndian.AppendUint32(b, p.Day)
	b = append(b, p.Pub[:]...)
	return append(b, p.Sig[:]...), nil
}

// ParsePrekey decodes a prekey. It does not verify the signature, which
// needs the owner's card: call Verify.
func ParsePrekey(b []byte) (SignedPrekey, error) {
	var p SignedPrekey
	if len(b) != PrekeySize {
		return p, fmt.Errorf("crypto: prekey: length %d, want %d: %w", len(b), PrekeySize, ErrMalformed)
	}
	if b[0] != prekeyVersion {
		return p, fmt.Errorf("crypto: prekey: version %d: %w", b[0], ErrMalformed)
	}
	p.Day = binary.BigEndian.Uint32(b[1:5])
	copy(p.Pub[:], b[5:37])
	copy(p.Sig[:], b[37:])
	return p, nil
}
