package relay

import (
	"errors"
	"net"
	"testing"

	"github.com/imigee/imigee/protocol"
)

// TestMemBudgetShares: a reservation must fit the relay-wide limit, the
// connection's share and the source's share; a refusal changes nothing;
// releases return every byte.
func TestMemBudgetShares(t *testing.T) {
	refused := 0
	b := newMemBudget(Limits{MemoryBudget: 100, MemoryPerConn: 40, MemoryPerSource: 60}, func() { refused++ })
	a1, a2 := &connState{source: "a"}, &connState{source: "a"}
	c := &connState{source: "c"}
	must := func(st *connState, n int, ok bool) {
		t.Helper()
		err := b.reserve(st, n)
		if ok != (err == nil) {
			t.Fatalf("reserve %d: %v, want ok=%v", n, err, ok)
		}
		if err != nil && !errors.Is(err, protocol.ErrUnavailable) {
			t.Fatalf("refusal %v is not UNAVAILABLE", err)
		}
	}
	must(a1, 40, true)
	must(a1, 1, false)  // connection share
	must(a2, 21, false) // source share
	must(a2, 20, true)
	must(c, 40, true)
	must(c, 1, false)                       // relay-wide? no: connection share again
	must(&connState{source: "d"}, 1, false) // relay-wide limit
	if b.inUse() != 100 || refused != 4 {
		t.Fatalf("in use %d, refused %d", b.inUse(), refused)
	}
	b.release(a1, 40)
	b.release(a2, 20)
	b.release(c, 40)
	if b.inUse() != 0 || len(b.sources) != 0 || a1.mem != 0 {
		t.Fatalf("after release: %d in use, %d sources", b.inUse(), len(b.sources))
	}
	if b.shouldTrim() {
		t.Fatal("trim after a 100-byte peak")
	}
	big := newMemBudget(Limits{MemoryBudget: 1 << 30, MemoryPerConn: 1 << 30, MemoryPerSource: 1 << 30}, func() {})
	st := &connState{}
	must2 := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must2(big.reserve(st, 20<<20))
	big.release(st, 18<<20)
	if !big.shouldTrim() || big.shouldTrim() {
		t.Fatal("want one trim after 18 of 20 MiB were released")
	}
}

// TestSourceOfIP: IPv4 addresses are sources of their own; IPv6 addresses
// share a source per /64.
func TestSourceOfIP(t *testing.T) {
	same := sourceOfIP(net.ParseIP("2001:db8:1:2::1")) == sourceOfIP(net.ParseIP("2001:db8:1:2:ffff::9"))
	other := sourceOfIP(net.ParseIP("2001:db8:1:3::1")) != sourceOfIP(net.ParseIP("2001:db8:1:2::1"))
	v4 := sourceOfIP(net.ParseIP("192.0.2.1")) != sourceOfIP(net.ParseIP("192.0.2.2"))
	if !same || !other || !v4 {
		t.Fatalf("same /64 %v, other /64 %v, v4 distinct %v", same, other, v4)
	}
}
