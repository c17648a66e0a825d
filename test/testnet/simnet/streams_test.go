package simnet

import (
	"bytes"
	"crypto/rand"
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
