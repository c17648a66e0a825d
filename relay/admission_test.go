package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// openRawFrom opens a raw mailbox stream to r over QUIC on the loopback of
// one IP family, so tests can play two sources (127.0.0.1 and ::1).
func openRawFrom(t *testing.T, h host.Host, r *Relay, ip int) *rawStream {
	t.Helper()
	ai := peer.AddrInfo{ID: r.ID()}
	for _, a := range r.Addrs() {
		if _, err := a.ValueForProtocol(ip); err == nil {
			if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, r.ID(), lprotocol.ID(protocol.MailboxProtocol))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	return &rawStream{t: t, s: s, r: protocol.NewReader(s, protocol.MaxMailboxResponse)}
}

func dualStackConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip6/::1/udp/0/quic-v1"}
	return cfg
}

// TestPutAllowancePerSource: one address with eight identities cannot
// store more than its allowance; another address still can. The old relay
// let one party fill the global quota and then refused everyone.
func TestPutAllowancePerSource(t *testing.T) {
	cfg := dualStackConfig(t)
	cfg.Store.PutBurstPerSource = 4 << 20
	cfg.Store.PutBytesPerSourcePerDay = 1 << 20 // ≈ 12 B/s: no refill during the test
	cfg.Store.PutSharePerConn = 0.5             // 2 MiB per connection
	cfg.Store.GlobalQuota = 64 << 20
	r := startRelay(t, cfg)
	blob := make([]byte, 512<<10)
	stored := 0
	for i := range 8 {
		_, mbox := newKey(t)
		s := openRawFrom(t, clientHost(t, "quic"), r, ma.P_IP4)
		for range 4 {
			resp := s.put(mbox, blob)
			if resp.GetPut() != nil {
				stored += len(blob)
				continue
			}
			if code(resp) != pb.ErrorCode_QUOTA_EXCEEDED {
				t.Fatalf("identity %d: %v", i, resp.GetError())
			}
		}
	}
	if stored > 4<<20 {
		t.Fatalf("one address stored %d bytes, allowance 4 MiB", stored)
	}
	_, mbox := newKey(t)
	legit := openRawFrom(t, clientHost(t, "quic"), r, ma.P_IP6)
	for range 4 {
		if resp := legit.put(mbox, blob); resp.GetPut() == nil {
			t.Fatalf("another address refused: %v", resp.GetError())
		}
	}
}

// TestFairShareWhenNearlyFull: once the store is above FairShareAbove of
// its quota, a mailbox beyond its fair share takes no more, while other
// mailboxes still get the rest of the quota.
func TestFairShareWhenNearlyFull(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store.GlobalQuota = 8 << 20
	cfg.Store.MailboxQuota = 8 << 20
	cfg.Store.FairShareAbove = 0.5
	cfg.Store.FairShareMailbox = 1 << 20
	r := startRelay(t, cfg)
	blob := make([]byte, 512<<10)
	_, hog := newKey(t)
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	n := 0
	for ; n < 16; n++ {
		if resp := s.put(hog, blob); resp.GetPut() == nil {
			if code(resp) != pb.ErrorCode_QUOTA_EXCEEDED {
				t.Fatal(resp.GetError())
			}
			break
		}
	}
	if got := int64(n) * int64(len(blob)); got > 5<<20 {
		t.Fatalf("one mailbox took %d bytes of an 8 MiB store", got)
	}
	// Other mailboxes (small, as friends' daily mailboxes are) still get space.
	for i := range 4 {
		_, mbox := newKey(t)
		if resp := s.put(mbox, blob); resp.GetPut() == nil {
			t.Fatalf("mailbox %d refused: %v", i, resp.GetError())
		}
	}
}

// TestPutAllowancePerConn: one connection may use only its share (here a
// quarter) of its address's put allowance, so it cannot take what other
// users behind the same address need; another connection from the same
// address still puts, and the address's allowance still caps them all.
// The old relay let one connection use the address's whole allowance.
func TestPutAllowancePerConn(t *testing.T) {
	cfg := dualStackConfig(t)
	cfg.Store.PutBurstPerSource = 4 << 20
	cfg.Store.PutBytesPerSourcePerDay = 1 << 20 // no refill during the test
	cfg.Store.PutSharePerConn = 0.25            // 1 MiB per connection
	cfg.Store.GlobalQuota = 64 << 20
	r := startRelay(t, cfg)
	blob := make([]byte, 512<<10)
	puts := func(s *rawStream, n int) (stored int, last *pb.MailboxResponse) {
		t.Helper()
		_, mbox := newKey(t)
		for range n {
			last = s.put(mbox, blob)
			if last.GetPut() == nil {
				return stored, last
			}
			stored += len(blob)
		}
		return stored, last
	}
	first := openRawFrom(t, clientHost(t, "quic"), r, ma.P_IP4)
	got, last := puts(first, 4)
	if got != 1<<20 || code(last) != pb.ErrorCode_QUOTA_EXCEEDED {
		t.Fatalf("one connection stored %d bytes (share 1 MiB), last %v", got, last)
	}
	if !strings.Contains(last.GetError().GetDetail(), "connection") {
		t.Fatalf("refused for %q, want the connection's allowance", last.GetError().GetDetail())
	}
	// Another connection from the same address gets its own share ...
	total := got
	for i := range 4 {
		s := openRawFrom(t, clientHost(t, "quic"), r, ma.P_IP4)
		n, _ := puts(s, 2)
		if i < 3 && n != 1<<20 {
			t.Fatalf("connection %d stored %d bytes, want its 1 MiB share", i+2, n)
		}
		total += n
	}
	// ... but all of them together no more than the address's 4 MiB.
	if total != 4<<20 {
		t.Fatalf("five connections of one address stored %d bytes, allowance 4 MiB", total)
	}
}
