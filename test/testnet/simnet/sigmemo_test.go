package simnet

import (
	"crypto/rand"
	"testing"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
)

// TestSigMemoRejectsForgeries plays a relay's gossip peer that lies: once
// a (key, data, signature) has been checked and remembered, a message with
// the same signature over other data, another signature over the same
// data, or a valid signature by another key under this key's name must
// still be rejected — the memo answers only for the exact triple it
// checked, and remembers rejections as rejections.
func TestSigMemoRejectsForgeries(t *testing.T) {
	m := shareSignatureChecks(t)
	priv, pub, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lcrypto.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := lcrypto.UnmarshalPublicKey(b) // as pubsub and peer records do
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.(memoKey); !ok {
		t.Fatalf("unmarshalled key is %T, want the memo's", k)
	}
	data := []byte("gossip message")
	sig, err := priv.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), sig...)
	flipped[0] ^= 1
	check := func(name string, data, sig []byte, want bool) {
		t.Helper()
		for range 2 { // the second answer comes from the memo
			if ok, _ := k.Verify(data, sig); ok != want {
				t.Fatalf("%s: Verify = %v, want %v", name, ok, want)
			}
		}
	}
	check("genuine", data, sig, true)
	check("same signature, other data", []byte("gossip messagf"), sig, false)
	check("flipped signature", data, flipped, false)
	check("other key's signature", data, forged, false)
	check("genuine again", data, sig, true)
	if m.hits == 0 || m.miss != 4 {
		t.Fatalf("memo hits %d misses %d: want repeats answered by the memo, 4 checks done", m.hits, m.miss)
	}
}
