package simnet

// Shared signature checks (lite mode).
//
// Every relay of a run checks the libp2p signature of every gossip
// message (pubsub StrictSign), and every host checks the signed peer
// records it receives: the same (key, data, signature) is verified once
// per relay, in one process — a tenth of a lite run's CPU at 10 relays
// (ed25519 verification, profile in docs/testnet.md). The answer cannot
// differ between relays, so in lite mode libp2p's Ed25519 public-key
// unmarshaller (crypto.PubKeyUnmarshallers, the registry libp2p keeps for
// key types) hands out keys whose Verify remembers its answers in a
// bounded table shared by the run. Nothing else changes: the same
// messages are checked and the same ones rejected, by unchanged relay and
// node code. QUIC mode keeps the plain keys (its TLS handshake converts
// keys to the standard library's by concrete type).

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"testing"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	lpb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// SigMemoEntries bounds the shared table: when full it starts over
// (65,536 entries, about 4 MB). Relays check a message within moments of
// each other, so a small table catches nearly every repeat.
const SigMemoEntries = 1 << 16

type sigMemo struct {
	mu   sync.Mutex
	seen map[[32]byte]bool
	hits int64
	miss int64
}

func (m *sigMemo) verify(k lcrypto.PubKey, data, sig []byte) (bool, error) {
	raw, err := k.Raw()
	if err != nil {
		return k.Verify(data, sig)
	}
	h := sha256.New()
	var n [8]byte
	for _, b := range [][]byte{raw, sig, data} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var key [32]byte
	h.Sum(key[:0])
	m.mu.Lock()
	ok, found := m.seen[key]
	if found {
		m.hits++
	}
	m.mu.Unlock()
	if found {
		return ok, nil
	}
	ok, err = k.Verify(data, sig)
	if err != nil {
		return ok, err
	}
	m.mu.Lock()
	m.miss++
	if len(m.seen) >= SigMemoEntries {
		clear(m.seen)
	}
	m.seen[key] = ok
	m.mu.Unlock()
	return ok, nil
}

// memoKey is an Ed25519 public key whose Verify goes through the memo.
// Equals, Raw and Type are the embedded key's (libp2p compares foreign
// key types by type and raw bytes).
type memoKey struct {
	lcrypto.PubKey
	m *sigMemo
}

func (k memoKey) Verify(data, sig []byte) (bool, error) { return k.m.verify(k.PubKey, data, sig) }

// shareSignatureChecks installs the memo for the rest of test t.
func shareSignatureChecks(t *testing.T) *sigMemo {
	m := &sigMemo{seen: map[[32]byte]bool{}}
	prev := lcrypto.PubKeyUnmarshallers[lpb.KeyType_Ed25519]
	lcrypto.PubKeyUnmarshallers[lpb.KeyType_Ed25519] = func(b []byte) (lcrypto.PubKey, error) {
		k, err := prev(b)
		if err != nil {
			return nil, err
		}
		return memoKey{PubKey: k, m: m}, nil
	}
	t.Cleanup(func() { lcrypto.PubKeyUnmarshallers[lpb.KeyType_Ed25519] = prev })
	return m
}
