package crypto

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/nacl/secretbox"
)

// ContentType says what an envelope's payload is. Zero is invalid.
type ContentType uint8

// Content types. The node decides what to do with each; the crypto layer
// only authenticates the byte.
const (
	TypeMessage    ContentType = 1  // a text message
	TypePhoto      ContentType = 2  // a small photo inline
	TypeVideo      ContentType = 3  // a small video inline
	TypeLike       ContentType = 4  // a like of an item
	TypeLink       ContentType = 5  // a link request or accept
	TypeReceipt    ContentType = 6  // a signed delivery receipt
	TypeOffer      ContentType = 7  // an offer (type, size, hash, preview)
	TypeChunk      ContentType = 8  // a sealed stream chunk carried in a mailbox
	TypeContentKey ContentType = 9  // a StreamKey for one recipient
	TypePrekeys    ContentType = 10 // a batch of SignedPrekeys for a friend
	TypeProfile    ContentType = 11 // the sender's profile (name, about, small picture)
	TypeMeet       ContentType = 12 // a late-meeting claim or confirm (node/late.go)
)

const (
	envelopeVersion = 1

	// envHeaderSize is the header plaintext: sender box pub(32) ‖ type(1) ‖
	// item ID(16) ‖ created(8) ‖ payload length(4).
	envHeaderSize = 32 + 1 + 16 + 8 + 4

	// EnvelopeOverhead is the fixed size an envelope adds around its payload
	// before padding: version(1) ‖ ephemeral pub(32) ‖ nonce(24) ‖ header
	// box(61+16) ‖ payload box tag(16) ‖ padding box tag(16).
	EnvelopeOverhead = 1 + 32 + 24 + envHeaderSize + 3*secretbox.Overhead

	// MaxEnvelopeSize bounds a sealed envelope, padding included: 64 MiB.
	// Larger content goes through stream sealing.
	MaxEnvelopeSize = 64 << 20

	// MaxSenderCache bounds how many senders' static secrets a Recipient
	// caches (default 1024); when full the cache is emptied.
	MaxSenderCache = 1024

	envHeaderInfo  = "imigee/envelope/v1/header"
	envPayloadInfo = "imigee/envelope/v1/payload"
)

// sizeBuckets are the padded envelope sizes up to 1 MiB; above it, sizes
// are rounded up to a multiple of 1 MiB.
var sizeBuckets = [...]int{256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

// zeroPad is the padding source; padding is always shorter than 1 MiB.
var zeroPad [1 << 20]byte

// PaddedSize returns the sealed size of an envelope with an n-byte payload:
// the smallest bucket that holds n + EnvelopeOverhead.
func PaddedSize(n int) int {
	need := n + EnvelopeOverhead
	for _, b := range sizeBuckets {
		if need <= b {
			return b
		}
	}
	const mib = 1 << 20
	return (need + mib - 1) / mib * mib
}

// isPaddedSize reports whether n is one of the sizes PaddedSize returns.
func isPaddedSize(n int) bool {
	for _, b := range sizeBuckets {
		if n == b {
			return true
		}
	}
	const mib = 1 << 20
	return n > mib && n%mib == 0
}

// MaxPayloadIn returns the largest payload that seals to at most bucket
// bytes (for filling a bucket exactly).
func MaxPayloadIn(bucket int) int { return bucket - EnvelopeOverhead }

// Header is the authenticated metadata of an envelope.
type Header struct {
	Type    ContentType
	ItemID  [16]byte // unique per item; receivers drop duplicates
	Created int64    // Unix seconds; receivers reject items outside their replay window
}

// Opened is an opened envelope. SenderBox is authenticated: only the holder
// of that box private key (or the recipient itself) could have sealed it.
// The caller must still check that SenderBox belongs to a friend.
type Opened struct {
	SenderBox [32]byte
	Header
	Payload []byte
}

// Sealer seals envelopes from one sender to one recipient key (a friend's
// box key or prekey), caching the static-static secret so each Seal costs
// one ephemeral key pair and one X25519. Safe for concurrent use.
type Sealer struct {
	senderPub [32]byte
	to        [32]byte
	toPub     *ecdh.PublicKey
	ss        [32]byte
}

// NewSealer prepares sealing from sender to the recipient key to.
func NewSealer(sender *Identity, to [32]byte) (*Sealer, error) {
	p, err := ecdh.X25519().NewPublicKey(to[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: sealer: %w", ErrWeakKey)
	}
	ss, err := x25519(sender.boxPriv, &to)
	if err != nil {
		return nil, fmt.Errorf("crypto: sealer: %w", err)
	}
	return &Sealer{senderPub: sender.BoxPub(), to: to, toPub: p, ss: ss}, nil
}

// Seal seals payload with content type t and item ID, stamped with the
// current time, from sender to the recipient key to. See Sealer.Seal. It
// pays one extra X25519 for the static secret; keep a Sealer per friend
// (and per prekey) to avoid it.
func Seal(rand io.Reader, sender *Identity, to [32]byte, t ContentType, itemID [16]byte, payload []byte) ([]byte, error) {
	s, err := NewSealer(sender, to)
	if err != nil {
		return nil, err
	}
	return s.Seal(rand, Header{Type: t, ItemID: itemID, Created: time.Now().Unix()}, payload)
}

// Seal seals payload under h. It reads 56 bytes from rand (the ephemeral
// key and the nonce). The payload is encrypted once, directly into the
// output, so large payloads run at secretbox speed. Layout:
//
//	version(1) ‖ eph(32) ‖ nonce(24) ‖ secretbox_hk(nonce, header(61))
//	‖ secretbox_pk(nonce^1, payload) ‖ secretbox_pk(nonce^2, zeros(pad))
//
// es = X25519(eph, to), ss = X25519(sender, to),
// hk = HKDF(es, salt=eph‖to, "imigee/envelope/v1/header"),
// pk = HKDF(es‖ss, salt=eph‖to, "imigee/envelope/v1/payload"‖header).
func (s *Sealer) Seal(rand io.Reader, h Header, payload []byte) ([]byte, error) {
	return s.SealPadded(rand, h, payload, 0)
}

// SealPadded is Seal with the envelope padded to at least size bytes: to
// PaddedSize(len(payload)) or size, whichever is larger. size must be 0 or
// a padded size (a bucket, or a multiple of 1 MiB above them), so that
// every envelope still has one of the padded sizes; a relay that accepts
// only a few size classes (protocol.BlobSizes) gets one of them.
func (s *Sealer) SealPadded(rand io.Reader, h Header, payload []byte, size int) ([]byte, error) {
	if h.Type == 0 {
		return nil, fmt.Errorf("crypto: seal: content type 0: %w", ErrMalformed)
	}
	total := PaddedSize(len(payload))
	if size > total {
		if !isPaddedSize(size) {
			return nil, fmt.Errorf("crypto: seal: %d is not a padded size: %w", size, ErrMalformed)
		}
		total = size
	}
	if total > MaxEnvelopeSize {
		return nil, fmt.Errorf("crypto: seal: %d-byte payload: %w", len(payload), ErrTooLarge)
	}
	var ephRaw [32]byte
	var nonce [24]byte
	if _, err := io.ReadFull(rand, ephRaw[:]); err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(ephRaw[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	esb, err := eph.ECDH(s.toPub)
	if err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", ErrWeakKey)
	}
	var ephPub [32]byte
	copy(ephPub[:], eph.PublicKey().Bytes())

	var hdr [envHeaderSize]byte
	copy(hdr[:32], s.senderPub[:])
	hdr[32] = byte(h.Type)
	copy(hdr[33:49], h.ItemID[:])
	binary.BigEndian.PutUint64(hdr[49:57], uint64(h.Created))
	binary.BigEndian.PutUint32(hdr[57:61], uint32(len(payload)))

	hk, pk, err := envelopeKeys(esb, &s.ss, &ephPub, &s.to, hdr[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, total)
	out = append(out, envelopeVersion)
	out = append(out, ephPub[:]...)
	out = append(out, nonce[:]...)
	out = secretbox.Seal(out, hdr[:], &nonce, &hk)
	n1, n2 := nonce, nonce
	n1[23] ^= 1
	n2[23] ^= 2
	out = secretbox.Seal(out, payload, &n1, &pk)
	pad := total - len(out) - secretbox.Overhead
	out = secretbox.Seal(out, zeroPad[:pad], &n2, &pk)
	return out, nil
}

func envelopeKeys(es []byte, ss, ephPub, to *[32]byte, hdr []byte) (hk, pk [32]byte, err error) {
	salt := make([]byte, 0, 64)
	salt = append(append(salt, ephPub[:]...), to[:]...)
	k, err := hkdf.Key(sha256.New, es, salt, envHeaderInfo, 32)
	if err != nil {
		return hk, pk, fmt.Errorf("crypto: envelope header key: %w", err)
	}
	copy(hk[:], k)
	ikm := make([]byte, 0, 64)
	ikm = append(append(ikm, es...), ss[:]...)
	k, err = hkdf.Key(sha256.New, ikm, salt, envPayloadInfo+string(hdr), 32)
	if err != nil {
		return hk, pk, fmt.Errorf("crypto: envelope payload key: %w", err)
	}
	copy(pk[:], k)
	return hk, pk, nil
}

// Recipient opens envelopes sealed to one box key (an identity's or a
// prekey's). It keeps the private key pre-parsed and caches the static
// secret of senders it has opened from. Safe for concurrent use.
type Recipient struct {
	priv *ecdh.PrivateKey
	pub  [32]byte

	mu    sync.Mutex            // guards cache
	cache map[[32]byte][32]byte // sender box pub → X25519(priv, sender)
}

// NewRecipient prepares opening with the box private key priv.
func NewRecipient(priv *[32]byte) (*Recipient, error) {
	p, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return nil, fmt.Errorf("crypto: recipient: %w", err)
	}
	r := &Recipient{priv: p, cache: make(map[[32]byte][32]byte)}
	copy(r.pub[:], p.PublicKey().Bytes())
	return r, nil
}

// Recipient returns a Recipient for the identity's own box key.
func (id *Identity) Recipient() *Recipient {
	r := &Recipient{priv: id.boxPriv, pub: id.BoxPub(), cache: make(map[[32]byte][32]byte)}
	return r
}

// Pub returns the public key envelopes must be sealed to for r to open them.
func (r *Recipient) Pub() [32]byte { return r.pub }

// Open opens an envelope sealed to the X25519 private key recipientPriv. It
// parses the key on every call (one extra X25519); keep a Recipient instead.
func Open(recipientPriv *[32]byte, sealed []byte) (*Opened, error) {
	r, err := NewRecipient(recipientPriv)
	if err != nil {
		return nil, err
	}
	return r.Open(sealed)
}

// Open authenticates and opens an envelope. Any change to any byte, a
// different length, another recipient key, or a header naming a sender that
// did not seal it, yields an error wrapping ErrOpen (or ErrMalformed for a
// bad version or length). Padding is checked and stripped; an envelope
// padded beyond PaddedSize to a larger padded size (SealPadded) opens too.
func (r *Recipient) Open(sealed []byte) (*Opened, error) {
	const fixed = 1 + 32 + 24 + envHeaderSize + secretbox.Overhead
	if len(sealed) < EnvelopeOverhead || len(sealed) > MaxEnvelopeSize {
		return nil, fmt.Errorf("crypto: open: length %d: %w", len(sealed), ErrMalformed)
	}
	if sealed[0] != envelopeVersion {
		return nil, fmt.Errorf("crypto: open: version %d: %w", sealed[0], ErrMalformed)
	}
	var ephPub [32]byte
	var nonce [24]byte
	copy(ephPub[:], sealed[1:33])
	copy(nonce[:], sealed[33:57])
	esb, err := x25519(r.priv, &ephPub)
	if err != nil {
		return nil, fmt.Errorf("crypto: open: %w", ErrOpen)
	}
	salt := make([]byte, 0, 64)
	salt = append(append(salt, ephPub[:]...), r.pub[:]...)
	k, err := hkdf.Key(sha256.New, esb[:], salt, envHeaderInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("crypto: open: %w", err)
	}
	var hk [32]byte
	copy(hk[:], k)
	var hdrBuf [envHeaderSize]byte
	hdr, ok := secretbox.Open(hdrBuf[:0], sealed[57:fixed], &nonce, &hk)
	if !ok {
		return nil, fmt.Errorf("crypto: open: header: %w", ErrOpen)
	}
	o := &Opened{}
	copy(o.SenderBox[:], hdr[:32])
	o.Type = ContentType(hdr[32])
	copy(o.ItemID[:], hdr[33:49])
	o.Created = int64(binary.BigEndian.Uint64(hdr[49:57]))
	plen := int(binary.BigEndian.Uint32(hdr[57:61]))
	if o.Type == 0 || plen > MaxEnvelopeSize || PaddedSize(plen) > len(sealed) || !isPaddedSize(len(sealed)) {
		return nil, fmt.Errorf("crypto: open: header fields: %w", ErrOpen)
	}
	ss, cached := r.senderSecret(&o.SenderBox)
	if !cached {
		if ss, err = x25519(r.priv, &o.SenderBox); err != nil {
			return nil, fmt.Errorf("crypto: open: sender key: %w", ErrOpen)
		}
	}
	_, pk, err := envelopeKeys(esb[:], &ss, &ephPub, &r.pub, hdr)
	if err != nil {
		return nil, err
	}
	n1, n2 := nonce, nonce
	n1[23] ^= 1
	n2[23] ^= 2
	body := sealed[fixed:]
	payload, ok := secretbox.Open(make([]byte, 0, plen), body[:plen+secretbox.Overhead], &n1, &pk)
	if !ok {
		return nil, fmt.Errorf("crypto: open: payload: %w", ErrOpen)
	}
	padBox := body[plen+secretbox.Overhead:]
	pad, ok := secretbox.Open(nil, padBox, &n2, &pk)
	if !ok || !allZero(pad) {
		return nil, fmt.Errorf("crypto: open: padding: %w", ErrOpen)
	}
	if !cached {
		r.remember(&o.SenderBox, &ss)
	}
	o.Payload = payload
	return o, nil
}

func (r *Recipient) senderSecret(sender *[32]byte) ([32]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ss, ok := r.cache[*sender]
	return ss, ok
}

func (r *Recipient) remember(sender, ss *[32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= MaxSenderCache {
		clear(r.cache)
	}
	r.cache[*sender] = *ss
}

func allZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}
