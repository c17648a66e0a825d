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
	m := hmac.New(sha256.New, pk.record[:])
	m.Write([]byte(recordLabel))
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], epoch)
	m.Write(e[:])
	var k [32]byte
	m.Sum(k[:0])
	return &k
}

// SealRecord seals a rendezvous record (for example the current transport
// peer ID and addresses) for the friend, for one epoch. The output is always
// SealedRecordSize bytes: nonce(24) ‖ secretbox(len(2) ‖ record ‖ zeros).
// It reads 24 bytes from rand.
func (pk *PairKeys) SealRecord(rand io.Reader, epoch uint64, record []byte) ([]byte, error) {
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
	return secretbox.Seal(out, plain[:], &nonce, pk.recordKey(epoch)), nil
}

// OpenRecord opens a record the friend (or this device) sealed for epoch.
func (pk *PairKeys) OpenRecord(epoch uint64, sealed []byte) ([]byte, error) {
	if len(sealed) != SealedRecordSize {
		return nil, fmt.Errorf("crypto: open record: %d bytes: %w", len(sealed), ErrMalformed)
	}
	var nonce [24]byte
	copy(nonce[:], sealed[:24])
	plain, ok := secretbox.Open(nil, sealed[24:], &nonce, pk.recordKey(epoch))
	if !ok {
		return nil, fmt.Errorf("crypto: open record: %w", ErrOpen)
	}
	n := int(binary.BigEndian.Uint16(plain[:2]))
	if n > MaxRecordSize || !allZero(plain[2+n:]) {
		return nil, fmt.Errorf("crypto: open record: bad padding: %w", ErrOpen)
	}
	return plain[2 : 2+n], nil
}
