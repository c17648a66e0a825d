package simnet

import (
	"testing"
	"time"
)

// TestAddrRecheckLinked: coarserHostWork reaches go-libp2p's address
// manager period (the linkname names a variable that exists, 5 s in
// v0.51.0) and restores it.
func TestAddrRecheckLinked(t *testing.T) {
	if addrChangeTickrInterval != 5*time.Second {
		t.Fatalf("go-libp2p's address recheck period is %v, want 5s: check hostwork.go against the go-libp2p version", addrChangeTickrInterval)
	}
	restore := coarserHostWork()
	if addrChangeTickrInterval != AddrRecheck {
		t.Fatalf("period %v during a run, want %v", addrChangeTickrInterval, AddrRecheck)
	}
	restore()
	if addrChangeTickrInterval != 5*time.Second {
		t.Fatalf("period %v after the run", addrChangeTickrInterval)
	}
}
