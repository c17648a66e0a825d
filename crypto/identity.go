package crypto

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// Layout versions. A parser accepts exactly its own version; a new layout
// gets a new number so old phones reject what they cannot understand.
const (
	cardVersion     = 1
	identityVersion = 1
)

const (
	// CardSize is the length of an encoded device card:
	// version(1) ‖ SignPub(32) ‖ BoxPub(32) ‖ Created(8, big-endian) ‖ Sig(64).
	CardSize = 1 + 32 + 32 + 8 + ed25519.SignatureSize

	// IdentitySize is the length of an encoded private identity:
	// version(1) ‖ Ed25519 seed(32) ‖ X25519 private(32) ‖ Created(8).
	IdentitySize = 1 + ed25519.SeedSize + 32 + 8

	cardDomain   = "imigee/card/v1"
	cardIDDomain = "imigee/card-id/v1"
)

// Card is a device's public identity: an Ed25519 signing key and an X25519
// box key, bound together by a signature of the signing key over the box key
// and creation time. Friends exchange cards when they link and verify them
// with Verify before deriving pair keys.
type Card struct {
	SignPub [32]byte // Ed25519 public key
	BoxPub  [32]byte // X25519 public key
	Created int64    // Unix seconds when the card was made
	Sig     [64]byte // Ed25519 signature by SignPub over cardMessage
}

// cardMessage is what the signing key signs: domain ‖ version ‖ SignPub ‖
// BoxPub ‖ Created, so a signature cannot be replayed as another object's.
func (c *Card) cardMessage() []byte {
	m := make([]byte, 0, len(cardDomain)+1+32+32+8)
	m = append(m, cardDomain...)
	m = append(m, cardVersion)
	m = append(m, c.SignPub[:]...)
	m = append(m, c.BoxPub[:]...)
	return binary.BigEndian.AppendUint64(m, uint64(c.Created))
}

// Verify checks that SignPub signed BoxPub and Created. A card that does not
// verify must not be used for anything.
func (c Card) Verify() error {
	if !ed25519.Verify(c.SignPub[:], c.cardMessage(), c.Sig[:]) {
		return fmt.Errorf("crypto: card: %w", ErrBadSignature)
	}
	if isZero32(&c.BoxPub) {
		return fmt.Errorf("crypto: card: zero box key: %w", ErrWeakKey)
	}
	return nil
}

// MarshalBinary encodes the card in its fixed CardSize layout.
func (c Card) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, CardSize)
	b = append(b, cardVersion)
	b = append(b, c.SignPub[:]...)
	b = append(b, c.BoxPub[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Created))
	return append(b, c.Sig[:]...), nil
}

// ParseCard decodes a card and verifies its signature, so a Card obtained
// from ParseCard is always self-consistent. It does not say whose card it is:
// that is what safety numbers are for.
func ParseCard(b []byte) (Card, error) {
	var c Card
	if len(b) != CardSize {
		return c, fmt.Errorf("crypto: card: length %d, want %d: %w", len(b), CardSize, ErrMalformed)
	}
	if b[0] != cardVersion {
		return c, fmt.Errorf("crypto: card: version %d: %w", b[0], ErrMalformed)
	}
	copy(c.SignPub[:], b[1:33])
	copy(c.BoxPub[:], b[33:65])
	c.Created = int64(binary.BigEndian.Uint64(b[65:73]))
	copy(c.Sig[:], b[73:])
	if err := c.Verify(); err != nil {
		return Card{}, err
	}
	return c, nil
}

// ID returns a short stable identifier of the card: the first 8 bytes of
// SHA-256(domain ‖ SignPub ‖ BoxPub). It is for local bookkeeping (friend
// table keys, logs at debug level), not for security decisions.
func (c Card) ID() [8]byte {
	h := sha256.New()
	h.Write([]byte(cardIDDomain))
	h.Write(c.SignPub[:])
	h.Write(c.BoxPub[:])
	var id [8]byte
	copy(id[:], h.Sum(nil))
	return id
}

// Fingerprint returns ID as 16 lowercase hex digits.
func (c Card) Fingerprint() string {
	id := c.ID()
	return hex.EncodeToString(id[:])
}

// Identity is a device's private key material. It is immutable after
// creation and safe for concurrent use.
type Identity struct {
	seed     [ed25519.SeedSize]byte
	signPriv ed25519.PrivateKey
	boxPriv  *ecdh.PrivateKey // pre-parsed: X25519 with it costs one scalar multiplication
	card     Card
}

// NewIdentity makes a fresh identity from rand, stamped with the current
// time. Use NewIdentityAt for a deterministic creation time.
func NewIdentity(rand io.Reader) (*Identity, error) {
	return NewIdentityAt(rand, time.Now().Unix())
}

// NewIdentityAt makes a fresh identity from rand with the given creation
// time (Unix seconds). It reads exactly 64 bytes from rand: the Ed25519 seed,
// then the X25519 private key.
func NewIdentityAt(rand io.Reader, created int64) (*Identity, error) {
	var seed, box [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("crypto: new identity: %w", err)
	}
	if _, err := io.ReadFull(rand, box[:]); err != nil {
		return nil, fmt.Errorf("crypto: new identity: %w", err)
	}
	return newIdentity(&seed, &box, created)
}

func newIdentity(seed, box *[32]byte, created int64) (*Identity, error) {
	bp, err := ecdh.X25519().NewPrivateKey(box[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: identity box key: %w", err)
	}
	id := &Identity{seed: *seed, signPriv: ed25519.NewKeyFromSeed(seed[:]), boxPriv: bp}
	c := &id.card
	copy(c.SignPub[:], id.signPriv.Public().(ed25519.PublicKey))
	copy(c.BoxPub[:], bp.PublicKey().Bytes())
	c.Created = created
	copy(c.Sig[:], ed25519.Sign(id.signPriv, c.cardMessage()))
	return id, nil
}

// Card returns the identity's signed public device card.
func (id *Identity) Card() Card { return id.card }

// SignPub returns the Ed25519 public key.
func (id *Identity) SignPub() [32]byte { return id.card.SignPub }

// BoxPub returns the X25519 public key.
func (id *Identity) BoxPub() [32]byte { return id.card.BoxPub }

// BoxPrivate returns a copy of the X25519 private key, for Open and
// NewRecipient. Prefer Recipient, which keeps the key pre-parsed.
func (id *Identity) BoxPrivate() *[32]byte {
	var k [32]byte
	copy(k[:], id.boxPriv.Bytes())
	return &k
}

// Sign signs msg with the identity's Ed25519 key. Callers must put their own
// domain-separation prefix in msg.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.signPriv, msg) }

// MarshalBinary encodes the private identity (IdentitySize bytes) for the
// local store. The output is secret: store it encrypted at rest if the
// platform allows.
func (id *Identity) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, IdentitySize)
	b = append(b, identityVersion)
	b = append(b, id.seed[:]...)
	b = append(b, id.boxPriv.Bytes()...)
	return binary.BigEndian.AppendUint64(b, uint64(id.card.Created)), nil
}

// UnmarshalIdentity decodes an identity written by MarshalBinary. The card
// signature is recomputed (Ed25519 is deterministic, so it is identical).
func UnmarshalIdentity(b []byte) (*Identity, error) {
	if len(b) != IdentitySize {
		return nil, fmt.Errorf("crypto: identity: length %d, want %d: %w", len(b), IdentitySize, ErrMalformed)
	}
	if b[0] != identityVersion {
		return nil, fmt.Errorf("crypto: identity: version %d: %w", b[0], ErrMalformed)
	}
	var seed, box [32]byte
	copy(seed[:], b[1:33])
	copy(box[:], b[33:65])
	return newIdentity(&seed, &box, int64(binary.BigEndian.Uint64(b[65:73])))
}

func isZero32(b *[32]byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}
