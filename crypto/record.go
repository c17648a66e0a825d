package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
)

const (
	// SealedRecordSize is the fixed size of every sealed rendezvous record:
	// 512 bytes (the protocol's record cap), whatever the record holds, so a
	// relay cannot link one device's epochs by record length.
	SealedRecordSize = 512

	// MaxRecordSize is the largest record plaintext: 512 − nonce(24) −
	// tag(16) − length(2) = 470 bytes.
	MaxRecordSize = SealedRecordSize - 24 - secretbox.Overhead - 2

	recordLabel = "record"
)

// recordKey is HMAC(K_record, "record" ‖ epoch(8)): a record sealed for one
// epoch does not open as another's.
func (pk *PairKeys) recordKey(epoch uint64) *[32]byte {
	k := macEpoch(pk.record[:], epoch, []byte(recordLabel))
	return &k
}

// macEpoch is HMAC-SHA256(key, parts… ‖ epoch(8)), the shape of every
// per-epoch derivation here.
func macEpoch(key []byte, epoch uint64, parts ...[]byte) [32]byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], epoch)
	m.Write(e[:])
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// SealRecord seals a rendezvous record (for example the current transport
// peer ID and addresses) for the friend, for one epoch. The output is always
// SealedRecordSize bytes: nonce(24) ‖ secretbox(len(2) ‖ record ‖ zeros).
// It reads 24 bytes from rand.
func (pk *PairKeys) SealRecord(rand io.Reader, epoch uint64, record []byte) ([]byte, error) {
	return sealRecordKey(rand, pk.recordKey(epoch), record)
}

func sealRecordKey(rand io.Reader, key *[32]byte, record []byte) ([]byte, error) {
	if len(record) > MaxRecordSize {
		return nil, fmt.Errorf("crypto: seal record: %d bytes: %w", len(record), ErrTooLarge)
	}
	var nonce [24]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("crypto: seal record: %w", err)
	}
	var plain [MaxRecordSize + 2]byte
	binary.BigEndian.PutUint16(plain[:2], uint16(len(record)))
	copy(plain[2:], record)
	out := make([]byte, 0, SealedRecordSize)
	out = append(out, nonce[:]...)
	return secretbox.Seal(out, plain[:], &nonce, key), nil
}

// OpenRecord opens a record the friend (or this device) sealed for epoch.
func (pk *PairKeys) OpenRecord(epoch uint64, sealed []byte) ([]byte, error) {
	return openRecordKey(sealed, pk.recordKey(epoch))
}

func openRecordKey(sealed []byte, key *[32]byte) ([]byte, error) {
	if len(sealed) != SealedRecordSize {
		return nil, fmt.Errorf("crypto: open record: %d bytes: %w", len(sealed), ErrMalformed)
	}
	var nonce [24]byte
	copy(nonce[:], sealed[:24])
	plain, ok := secretbox.Open(nil, sealed[24:], &nonce, key)
	if !ok {
		return nil, fmt.Errorf("crypto: open record: %w", ErrOpen)
	}
	n := int(binary.BigEndian.Uint16(plain[:2]))
	if n > MaxRecordSize || !allZero(plain[2+n:]) {
		return nil, fmt.Errorf("crypto: open record: bad padding: %w", ErrOpen)
	}
	return plain[2 : 2+n], nil
}

// Shared records: a device announcing to many friends at once seals its
// record once under a fresh random seed and gives each friend only a
// RecordShareSize-byte share of that seed, so an epoch's upload is one
// record plus a few bytes per friend instead of a record per friend.
//
// share = seed ⊕ HMAC(K_record, "record-share" ‖ sender box pub ‖ epoch)[:16]
//
// The pad is per pair, per sender and per epoch, and known only to the
// pair, so a relay learns nothing about the seed; a relay that alters a
// share only makes the record fail to open. Every friend of the device
// learns the same seed, which opens only the one record all of them were
// meant to read. Two different seeds under one pad (a re-announce in the
// same epoch) reveal only their XOR, which says nothing about either.
const (
	// RecordShareSize is the length of a record seed and of each share.
	RecordShareSize = 16

	shareLabel        = "record-share"
	sharedRecordLabel = "imigee/shared-record/v1"
)

// RecordSeed is the secret a shared record is sealed under.
type RecordSeed [RecordShareSize]byte

// NewRecordSeed reads a fresh seed from rand.
func NewRecordSeed(rand io.Reader) (RecordSeed, error) {
	var s RecordSeed
	if _, err := io.ReadFull(rand, s[:]); err != nil {
		return s, fmt.Errorf("crypto: record seed: %w", err)
	}
	return s, nil
}

// key is HMAC(seed, "imigee/shared-record/v1" ‖ epoch(8)).
func (s RecordSeed) key(epoch uint64) *[32]byte {
	k := macEpoch(s[:], epoch, []byte(sharedRecordLabel))
	return &k
}

// SealSharedRecord seals record under seed for one epoch, in SealRecord's
// fixed-size format.
func SealSharedRecord(rand io.Reader, seed RecordSeed, epoch uint64, record []byte) ([]byte, error) {
	return sealRecordKey(rand, seed.key(epoch), record)
}

// sharePad is the pad of sender's shares for epoch.
func (pk *PairKeys) sharePad(sender *[32]byte, epoch uint64) [RecordShareSize]byte {
	m := macEpoch(pk.record[:], epoch, []byte(shareLabel), sender[:])
	return [RecordShareSize]byte(m[:RecordShareSize])
}

// RecordShare is this device's share of seed for the friend, for epoch.
func (pk *PairKeys) RecordShare(epoch uint64, seed RecordSeed) [RecordShareSize]byte {
	p := pk.sharePad(&pk.myBox, epoch)
	for i := range p {
		p[i] ^= seed[i]
	}
	return p
}

// OpenSharedRecord opens a shared record the friend sealed for epoch, with
// the share the friend made for this device.
func (pk *PairKeys) OpenSharedRecord(epoch uint64, share, sealed []byte) ([]byte, error) {
	if len(share) != RecordShareSize {
		return nil, fmt.Errorf("crypto: open shared record: share of %d bytes: %w", len(share), ErrMalformed)
	}
	seed := RecordSeed(pk.sharePad(&pk.friendBox, epoch))
	for i := range seed {
		seed[i] ^= share[i]
	}
	return openRecordKey(sealed, seed.key(epoch))
}
