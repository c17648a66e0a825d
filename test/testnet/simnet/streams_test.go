package simnet

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/imigee/imigee/test/testnet"
)

// TestComponentLabel: the component of the calling goroutine is read
// back from its pprof labels (the runtime layout streams.go relies on),
// and goroutines started inside a component inherit it.
func TestComponentLabel(t *testing.T) {
	if c := currentComponent(); c != "" {
		t.Fatalf("unlabelled goroutine has component %q", c)
	}
	testnet.InComponent("node/7", func() {
		if c := currentComponent(); c != "node/7" {
			t.Errorf("component %q, want node/7", c)
		}
		done := make(chan string)
		go func() { done <- currentComponent() }()
		if c := <-done; c != "node/7" {
			t.Errorf("child goroutine has component %q, want node/7", c)
		}
	})
	if c := currentComponent(); c != "" {
		t.Errorf("label not restored: %q", c)
	}
}

// TestStreamsIndependent: what one component draws does not depend on
// what others drew before it (the bug of one shared seeded stream), and
// equal seeds give equal bytes.
func TestStreamsIndependent(t *testing.T) {
	draw := func(seed uint64, othersFirst bool) []byte {
		seedRandom(t, seed)
		if othersFirst {
			testnet.InComponent("node/1", func() { rand.Read(make([]byte, 100)) })
		}
		var b [16]byte
		testnet.InComponent("node/2", func() { rand.Read(b[:]) })
		return b[:]
	}
	a, b := draw(5, false), draw(5, true)
	if !bytes.Equal(a, b) {
		t.Errorf("node/2's bytes moved when node/1 drew first: %x vs %x", a, b)
	}
	if c := draw(6, false); bytes.Equal(a, c) {
		t.Error("seeds 5 and 6 gave the same bytes")
	}
}

// TestCryptoDrawsPerComponent: what the standard library's crypto draws
// for a component (ECDSA keys and signatures: the TLS certificate and
// CertificateVerify of every libp2p handshake) comes from that
// component's stream too. It came from cryptotest's one process-wide
// stream before, consumed in goroutine order, and a DER signature is 70
// to 72 bytes depending on its random nonce: handshake packets changed
// size from run to run, and every later packet time on that link moved
// (docs/testnet.md, "Simulated network: determinism"). Several
// signatures, so that crypto/internal/randutil.MaybeReadByte (one byte
// read or not at random per call under cryptocustomrand=1) would show.
func TestCryptoDrawsPerComponent(t *testing.T) {
	digest := sha256.Sum256([]byte("handshake transcript"))
	sign := func() (out [][]byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sig)
		}
		return out
	}
	draw := func(othersFirst bool) (sigs [][]byte) {
		seedRandom(t, 5)
		if othersFirst {
			testnet.InComponent("node/1", func() { sign() })
		}
		testnet.InComponent("node/2", func() { sigs = sign() })
		return sigs
	}
	a, b := draw(false), draw(true)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("node/2's signature %d changed when node/1 signed first:\n%x\n%x", i, a[i], b[i])
		}
	}
}
