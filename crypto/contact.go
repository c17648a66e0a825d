package crypto

// Contact matching (DESIGN.md flow 1, P5/P6): two users who hold each other's
// handle derive the same pair value without any relay learning a handle.
//
// The pair value is a chain of verifiable OPRFs (RFC 9497, ristretto255-
// SHA512, mode 0x01) over the sorted pair of normalised handles:
//
//	x0 = ContactPairInput(a, b)          // a < b, both normalised
//	x1 = OPRF(k1, x0)                    // relay 1 evaluates blinded x0
//	x2 = OPRF(k2, x1)                    // relay 2 evaluates blinded x1
//	entry ID, offer key = HKDF(x_n)      // ContactEntryKeys
//
// Each relay sees only blinded group elements (uniformly random to it) and
// answers with a DLEQ proof against its published key, so a relay cannot
// answer with another key to split users. A relay holding one key alone can
// compute x1 for guessed handles but never sees x1 or anything derived from
// it in the clear: testing a guess against a stored entry needs every key
// of the chain (or rate-limited queries to the other relays).
//
// The chain length and keys come from the network's configuration; each
// stage is one ContactBlinding on the client and one ContactKey.Evaluate
// on a relay.

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/oprf"
	"github.com/cloudflare/circl/zk/dleq"
	"golang.org/x/crypto/nacl/secretbox"
)

const (
	// ContactElementSize is the length of one encoded ristretto255 element
	// (a blinded or evaluated value on the wire).
	ContactElementSize = 32
	// ContactPublicKeySize is the length of an encoded OPRF public key.
	ContactPublicKeySize = 32
	// ContactPrivateKeySize is the length of an encoded OPRF private key.
	ContactPrivateKeySize = 32
	// ContactProofSize is the length of an encoded DLEQ batch proof.
	ContactProofSize = 64
	// ContactOutputSize is the length of one OPRF output (SHA-512).
	ContactOutputSize = 64

	// MaxHandleLen bounds one normalised handle in bytes.
	MaxHandleLen = 256
	// MaxContactBatch bounds the elements of one evaluation request: a
	// phone with more contacts sends several batches (each with its own
	// proof of work).
	MaxContactBatch = 2048

	// ContactOfferSize is the padded plaintext size of a sealed contact
	// offer; the sealed form adds the nonce and the tag.
	ContactOfferSize = 1024
	// SealedContactOfferSize is the length of a sealed contact offer.
	SealedContactOfferSize = 24 + secretbox.Overhead + ContactOfferSize

	contactPairDomain     = "imigee/contact-pair/v1"
	contactEntryInfo      = "imigee/contact-entry/v1"
	contactOfferInfo      = "imigee/contact-offer/v1"
	contactPoWDomain      = "imigee/contact-pow/v1"
	contactKeyInfo        = "imigee/contact-oprf-key/v1"
	contactBlindDST       = "imigee/contact-blind/v1"
	contactWithdrawDomain = "imigee/contact-withdraw/v1"
	contactLinkInfo       = "imigee/contact-link/v1"
	contactAcceptIDInfo   = "imigee/contact-accept-entry/v1"
	contactAcceptKeyInfo  = "imigee/contact-accept-key/v1"
	maxContactPoWBits     = 40
	contactOfferLenHdr    = 2
)

var contactSuite = oprf.SuiteRistretto255

// ContactPairInput encodes the sorted pair of two normalised handles as the
// first OPRF input: domain ‖ u16 len(lo) ‖ lo ‖ u16 len(hi) ‖ hi, where lo
// is the bytewise smaller handle. Both users compute the same bytes from
// their own view (own handle, contact's handle). Equal, empty or over-long
// handles are ErrMalformed.
func ContactPairInput(a, b string) ([]byte, error) {
	if a == "" || b == "" || len(a) > MaxHandleLen || len(b) > MaxHandleLen {
		return nil, fmt.Errorf("crypto: contact pair: %w: handle empty or longer than %d bytes", ErrMalformed, MaxHandleLen)
	}
	if a == b {
		return nil, fmt.Errorf("crypto: contact pair: %w: both handles are the same", ErrMalformed)
	}
	if a > b {
		a, b = b, a
	}
	out := make([]byte, 0, len(contactPairDomain)+4+len(a)+len(b))
	out = append(out, contactPairDomain...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(a)))
	out = append(out, a...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
	out = append(out, b...)
	return out, nil
}

// ContactKey is one relay's OPRF key for one stage of the chain.
type ContactKey struct {
	sk *oprf.PrivateKey
	pk []byte
}

// NewContactKey makes a fresh OPRF key from rand (32 bytes are read and
// expanded with RFC 9497 DeriveKeyPair, so the same bytes give the same key).
func NewContactKey(rand io.Reader) (*ContactKey, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("crypto: contact key: read rand: %w", err)
	}
	sk, err := oprf.DeriveKey(contactSuite, oprf.VerifiableMode, seed[:], []byte(contactKeyInfo))
	if err != nil {
		return nil, fmt.Errorf("crypto: contact key: derive: %w", err)
	}
	return newContactKey(sk)
}

// ParseContactKey decodes a private key made by ContactKey.Bytes.
func ParseContactKey(b []byte) (*ContactKey, error) {
	if len(b) != ContactPrivateKeySize {
		return nil, fmt.Errorf("crypto: contact key: %w: %d bytes, want %d", ErrMalformed, len(b), ContactPrivateKeySize)
	}
	sk := new(oprf.PrivateKey)
	if err := sk.UnmarshalBinary(contactSuite, b); err != nil {
		return nil, fmt.Errorf("crypto: contact key: %w: %v", ErrMalformed, err)
	}
	return newContactKey(sk)
}

func newContactKey(sk *oprf.PrivateKey) (*ContactKey, error) {
	pk, err := sk.Public().MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("crypto: contact key: public: %w", err)
	}
	return &ContactKey{sk: sk, pk: pk}, nil
}

// Bytes encodes the private key (32 bytes). Keep it secret: with every
// other key of the chain it confirms guessed handle pairs.
func (k *ContactKey) Bytes() []byte {
	b, err := k.sk.MarshalBinary()
	if err != nil { // cannot happen for a valid key
		panic(err)
	}
	return b
}

// PublicKey is the key a relay publishes; clients verify every evaluation
// against it.
func (k *ContactKey) PublicKey() []byte { return bytes.Clone(k.pk) }

// Evaluate applies the key to a batch of blinded elements and proves (one
// DLEQ batch proof) that it used the published key. Elements that do not
// decode, the identity element, an empty batch or one over MaxContactBatch
// are ErrMalformed. The proof's randomness comes from crypto/rand inside
// circl; outputs are deterministic.
func (k *ContactKey) Evaluate(blinded [][]byte) (evaluated [][]byte, proof []byte, err error) {
	els, err := decodeContactElements(blinded)
	if err != nil {
		return nil, nil, err
	}
	ev, err := oprf.NewVerifiableServer(contactSuite, k.sk).Evaluate(&oprf.EvaluationRequest{Elements: els})
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: contact evaluate: %w", err)
	}
	evaluated, err = encodeContactElements(ev.Elements)
	if err != nil {
		return nil, nil, err
	}
	proof, err = ev.Proof.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: contact evaluate: proof: %w", err)
	}
	return evaluated, proof, nil
}

// FullEvaluate computes the unblinded OPRF output for one input. Only tests
// and a single-operator network (which holds every key) use it.
func (k *ContactKey) FullEvaluate(input []byte) ([]byte, error) {
	return oprf.NewVerifiableServer(contactSuite, k.sk).FullEvaluate(input)
}

// ContactBlinding is a client's state for one stage: the blinds of a batch,
// kept until the relay's answer arrives.
type ContactBlinding struct {
	client oprf.VerifiableClient
	fin    *oprf.FinalizeData
	n      int
}

// BlindContacts blinds a batch of inputs for the relay whose public key is
// pub, drawing one blind per input from rand. It returns the state and the
// encoded blinded elements to send.
func BlindContacts(pub []byte, inputs [][]byte, rand io.Reader) (*ContactBlinding, [][]byte, error) {
	if len(inputs) == 0 || len(inputs) > MaxContactBatch {
		return nil, nil, fmt.Errorf("crypto: contact blind: %w: %d inputs (1..%d)", ErrMalformed, len(inputs), MaxContactBatch)
	}
	pk := new(oprf.PublicKey)
	if len(pub) != ContactPublicKeySize || pk.UnmarshalBinary(contactSuite, pub) != nil {
		return nil, nil, fmt.Errorf("crypto: contact blind: %w: bad relay public key", ErrMalformed)
	}
	blinds := make([]oprf.Blind, len(inputs))
	for i := range blinds {
		var err error
		if blinds[i], err = contactBlind(rand); err != nil {
			return nil, nil, err
		}
	}
	c := oprf.NewVerifiableClient(contactSuite, pk)
	fin, req, err := c.DeterministicBlind(inputs, blinds)
	if err != nil {
		return nil, nil, fmt.Errorf("crypto: contact blind: %w", err)
	}
	out, err := encodeContactElements(req.Elements)
	if err != nil {
		return nil, nil, err
	}
	return &ContactBlinding{client: c, fin: fin, n: len(inputs)}, out, nil
}

// Finalize checks the relay's proof and unblinds its answer, giving one
// ContactOutputSize output per input, in order. A wrong key, a changed
// element or a count mismatch is ErrBadSignature (the proof fails) or
// ErrMalformed.
func (b *ContactBlinding) Finalize(evaluated [][]byte, proof []byte) ([][]byte, error) {
	if len(evaluated) != b.n {
		return nil, fmt.Errorf("crypto: contact finalize: %w: %d elements for %d inputs", ErrMalformed, len(evaluated), b.n)
	}
	els, err := decodeContactElements(evaluated)
	if err != nil {
		return nil, err
	}
	if len(proof) != ContactProofSize {
		return nil, fmt.Errorf("crypto: contact finalize: %w: proof is %d bytes", ErrMalformed, len(proof))
	}
	p := new(dleq.Proof)
	if err := p.UnmarshalBinary(contactSuite.Group(), proof); err != nil {
		return nil, fmt.Errorf("crypto: contact finalize: %w: proof: %v", ErrMalformed, err)
	}
	out, err := b.client.Finalize(b.fin, &oprf.Evaluation{Elements: els, Proof: p})
	if err != nil {
		return nil, fmt.Errorf("crypto: contact finalize: %w: %v", ErrBadSignature, err)
	}
	return out, nil
}

// contactBlind draws a blind from rand: 64 bytes hashed to a scalar
// (uniform), redrawn in the negligible case of zero. circl's own
// RandomScalar ignores its reader for ristretto255, which would make blinds
// untestable and bypass the caller's randomness.
func contactBlind(rand io.Reader) (oprf.Blind, error) {
	g := contactSuite.Group()
	for {
		var buf [64]byte
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return nil, fmt.Errorf("crypto: contact blind: read rand: %w", err)
		}
		s := g.HashToScalar(buf[:], []byte(contactBlindDST))
		if !s.IsZero() {
			return s, nil
		}
	}
}

func decodeContactElements(in [][]byte) ([]group.Element, error) {
	if len(in) == 0 || len(in) > MaxContactBatch {
		return nil, fmt.Errorf("crypto: contact elements: %w: %d elements (1..%d)", ErrMalformed, len(in), MaxContactBatch)
	}
	g := contactSuite.Group()
	out := make([]group.Element, len(in))
	for i, b := range in {
		if len(b) != ContactElementSize {
			return nil, fmt.Errorf("crypto: contact element %d: %w: %d bytes", i, ErrMalformed, len(b))
		}
		e := g.NewElement()
		if err := e.UnmarshalBinary(b); err != nil || e.IsIdentity() {
			return nil, fmt.Errorf("crypto: contact element %d: %w: not a valid non-identity element", i, ErrMalformed)
		}
		out[i] = e
	}
	return out, nil
}

func encodeContactElements(els []group.Element) ([][]byte, error) {
	out := make([][]byte, len(els))
	for i, e := range els {
		b, err := e.MarshalBinaryCompress()
		if err != nil {
			return nil, fmt.Errorf("crypto: contact element %d: %w", i, err)
		}
		out[i] = b
	}
	return out, nil
}

// ContactEntryKeys derives, from the final output of the chain, the ID under
// which both users park their sealed offer at a relay and the key that
// seals it. The ID says nothing about the handles to anyone who lacks every
// key of the chain.
func ContactEntryKeys(output []byte) (id [32]byte, offerKey [32]byte, err error) {
	if len(output) != ContactOutputSize {
		return id, offerKey, fmt.Errorf("crypto: contact entry: %w: output is %d bytes", ErrMalformed, len(output))
	}
	if err := hkdfSHA256Into(&id, output, contactEntryInfo); err != nil {
		return id, offerKey, err
	}
	if err := hkdfSHA256Into(&offerKey, output, contactOfferInfo); err != nil {
		return id, offerKey, err
	}
	return id, offerKey, nil
}

func hkdfSHA256Into(dst *[32]byte, ikm []byte, info string) error {
	k, err := hkdf.Key(sha256.New, ikm, nil, info, 32)
	if err != nil {
		return fmt.Errorf("crypto: hkdf %s: %w", info, err)
	}
	copy(dst[:], k)
	return nil
}

// SealContactOffer seals a link offer (the poster's device card, relay hints
// and profile, encoded by the caller) under the entry's offer key, padded to
// ContactOfferSize so every offer has one size. Only a holder of the chain
// output (the other user of the pair) opens it.
func SealContactOffer(key *[32]byte, payload []byte, rand io.Reader) ([]byte, error) {
	if len(payload) > ContactOfferSize-contactOfferLenHdr {
		return nil, fmt.Errorf("crypto: contact offer: %w: %d bytes (max %d)", ErrTooLarge, len(payload), ContactOfferSize-contactOfferLenHdr)
	}
	var nonce [24]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("crypto: contact offer: read rand: %w", err)
	}
	plain := make([]byte, ContactOfferSize)
	binary.BigEndian.PutUint16(plain, uint16(len(payload)))
	copy(plain[contactOfferLenHdr:], payload)
	return secretbox.Seal(nonce[:], plain, &nonce, key), nil
}

// OpenContactOffer opens a sealed contact offer; anything else is ErrOpen
// or ErrMalformed.
func OpenContactOffer(key *[32]byte, sealed []byte) ([]byte, error) {
	if len(sealed) != SealedContactOfferSize {
		return nil, fmt.Errorf("crypto: contact offer: %w: %d bytes", ErrMalformed, len(sealed))
	}
	var nonce [24]byte
	copy(nonce[:], sealed[:24])
	plain, ok := secretbox.Open(nil, sealed[24:], &nonce, key)
	if !ok {
		return nil, fmt.Errorf("crypto: contact offer: %w", ErrOpen)
	}
	n := int(binary.BigEndian.Uint16(plain))
	if n > ContactOfferSize-contactOfferLenHdr {
		return nil, fmt.Errorf("crypto: contact offer: %w: length %d", ErrMalformed, n)
	}
	return plain[contactOfferLenHdr : contactOfferLenHdr+n], nil
}

// ContactPoWDigest is the hash a proof of work must make small:
// SHA-256(domain ‖ challenge ‖ SHA-256(blinded elements in order) ‖ u64 nonce).
// Binding the batch means one solution buys exactly one batch.
func ContactPoWDigest(challenge []byte, blinded [][]byte, nonce uint64) [32]byte {
	batch := contactBatchHash(blinded)
	return contactPoW(challenge, &batch, nonce)
}

func contactBatchHash(blinded [][]byte) [32]byte {
	h := sha256.New()
	for _, b := range blinded {
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func contactPoW(challenge []byte, batch *[32]byte, nonce uint64) [32]byte {
	h := sha256.New()
	h.Write([]byte(contactPoWDomain))
	h.Write(challenge)
	h.Write(batch[:])
	var nb [8]byte
	binary.BigEndian.PutUint64(nb[:], nonce)
	h.Write(nb[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func leadingZeroBits(d *[32]byte) int {
	n := 0
	for _, b := range d {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// SolveContactPoW finds the smallest nonce at or after start whose digest
// has at least difficulty leading zero bits (expected 2^difficulty hashes).
// difficulty above 40 is ErrMalformed (it would never end on a phone).
func SolveContactPoW(challenge []byte, blinded [][]byte, difficulty int, start uint64) (uint64, error) {
	if difficulty < 0 || difficulty > maxContactPoWBits {
		return 0, fmt.Errorf("crypto: contact pow: %w: difficulty %d", ErrMalformed, difficulty)
	}
	batch := contactBatchHash(blinded)
	for nonce := start; ; nonce++ {
		d := contactPoW(challenge, &batch, nonce)
		if leadingZeroBits(&d) >= difficulty {
			return nonce, nil
		}
	}
}

// VerifyContactPoW reports whether nonce solves the batch at difficulty.
func VerifyContactPoW(challenge []byte, blinded [][]byte, difficulty int, nonce uint64) bool {
	if difficulty < 0 || difficulty > maxContactPoWBits {
		return false
	}
	d := ContactPoWDigest(challenge, blinded, nonce)
	return leadingZeroBits(&d) >= difficulty
}

// ContactWithdrawSecret derives, from a device-local secret and an entry
// ID, the secret that later withdraws that entry; ContactWithdrawHash is what
// the relay stores. Each entry gets its own, so withdrawals link nothing.
func ContactWithdrawSecret(deviceSecret []byte, entryID [32]byte) [32]byte {
	m := hmac.New(sha256.New, deviceSecret)
	m.Write([]byte(contactWithdrawDomain))
	m.Write(entryID[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// ContactWithdrawHash is SHA-256 of a withdraw secret.
func ContactWithdrawHash(secret [32]byte) [32]byte { return sha256.Sum256(secret[:]) }

// ContactLinkKeys derives, from the chain output of a matched pair, the
// link secret both sides mix into their pair keys (DerivePairWithSecret)
// once both accepted, and the second entry ID and key under which each
// side posts "I accept": a match there tells each side the other accepted,
// and the relay learns no more than from the first match.
func ContactLinkKeys(output []byte) (linkSecret, acceptID, acceptKey [32]byte, err error) {
	if len(output) != ContactOutputSize {
		return linkSecret, acceptID, acceptKey, fmt.Errorf("crypto: contact link: %w: output is %d bytes", ErrMalformed, len(output))
	}
	for _, d := range []struct {
		dst  *[32]byte
		info string
	}{{&linkSecret, contactLinkInfo}, {&acceptID, contactAcceptIDInfo}, {&acceptKey, contactAcceptKeyInfo}} {
		if err := hkdfSHA256Into(d.dst, output, d.info); err != nil {
			return linkSecret, acceptID, acceptKey, err
		}
	}
	return linkSecret, acceptID, acceptKey, nil
}
