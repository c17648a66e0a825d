package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/node/analytics"
	"github.com/imigee/imigee/protocol"
)

// identifiers lists what must not be in a collector's state: each
// transport identity that reported (its peer ID in binary and text, its
// public key), the phones' device and transport IDs, and the address
// prefix they reported from.
func identifiers(t *testing.T, peers []peer.ID, extra ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"address prefix": []byte("127.0.0.0"), "address": []byte("127.0.0.1")}
	for _, p := range peers {
		out["peer id "+p.String()] = []byte(p)
		out["peer id text "+p.String()] = []byte(p.String())
		pk, err := p.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := pk.Raw()
		out["transport key "+p.String()] = raw
	}
	for _, s := range extra {
		out["phone id "+s] = []byte(s)
	}
	return out
}

// TestAnalyticsCollectorStateHoldsNoIdentifiers (P13, the memory half):
// phones report to two real collector relays; the state each collector
// keeps — every string and byte reachable from its Collector value,
// unexported fields, maps and its bbolt file included — holds none of the
// reporting transport identities (peer IDs, public keys), the phones'
// device or transport IDs, or the address prefix they came from, both
// while the reports wait and after the day is summed and published.
// Positive controls: the same scanner finds the peer IDs in the leader's
// connection log, an ID hidden behind an interface in a map in an
// unexported field, and one stored in a bbolt file. The old collector
// kept its per-prefix report counts keyed by the prefix text and failed
// here.
func TestAnalyticsCollectorStateHoldsNoIdentifiers(t *testing.T) {
	clock := newTestClock()
	c := startCollectors(t, clock, 10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	day := uint32(clock.Now().Unix() / 86400)
	sender := newTestNode(t, clock, nil)
	for i := range 12 {
		vals := make([]uint64, len(protocol.AnalyticsFields))
		vals[0], vals[1+i%4] = 1, uint64(i)
		rep, err := analytics.Build(day, vals, c.col())
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.sendReport(ctx, rep, c.leaderAddr); err != nil {
			t.Fatal(err)
		}
	}
	on := newTestNode(t, clock, nil, func(cfg *Config) {
		cfg.Analytics = AnalyticsConfig{Enabled: true, Leader: c.leaderAddr, LeaderKey: c.lpub[:], HelperKey: c.hpub[:], Platform: "android"}
	})
	on.countEvent(&Event{Kind: EventFriendNearby})
	clock.Add(24 * time.Hour)
	if k, err := on.SendAnalytics(ctx); err != nil || k != 1 {
		t.Fatalf("phone report: %d %v", k, err)
	}
	peers := c.seen.snapshot()
	if len(peers) < 13 {
		t.Fatalf("%d transport identities seen", len(peers))
	}
	needles := identifiers(t, peers, on.ID(), on.TransportID(), sender.ID(), sender.TransportID())
	lead, help := c.leader.AnalyticsCollector(), c.helper.AnalyticsCollector()

	check := func(stage string) {
		t.Helper()
		for role, col := range map[string]any{"leader": lead, "helper": help} {
			m := scanMemory(col)
			if m.size() < 1000 {
				t.Fatalf("%s: %s state scanned only %d bytes", stage, role, m.size())
			}
			for what, b := range needles {
				if m.contains(b) {
					t.Errorf("%s: the %s collector's state holds %s", stage, role, what)
				}
			}
		}
	}
	if lead.Pending() != 13 {
		t.Fatalf("%d reports pending", lead.Pending())
	}
	check("reports waiting")
	clock.Add(3 * 24 * time.Hour)
	if err := c.leader.RunAnalytics(ctx); err != nil {
		t.Fatal(err)
	}
	if res := c.leader.AnalyticsResults(); len(res) != 1 || res[0].Count != 13 {
		t.Fatalf("published %+v", res)
	}
	check("day published")

	// Positive controls: the scanner does find identifiers where they are.
	if m := scanMemory(c.seen); !m.contains([]byte(peers[0])) {
		t.Fatal("control: the connection log's peer IDs not found")
	}
	type hidden struct{ v any }
	type holder struct {
		m map[[16]byte]hidden
	}
	h := &holder{m: map[[16]byte]hidden{{1}: {v: &struct{ s []byte }{s: []byte(peers[1])}}}}
	if m := scanMemory(h); !m.contains([]byte(peers[1])) {
		t.Fatal("control: an ID behind an interface in a map in an unexported field not found")
	}
	if m := scanMemory(&struct{ prefixes map[string]int }{map[string]int{"127.0.0.0": 1}}); !m.contains(needles["address prefix"]) {
		t.Fatal("control: a per-prefix map keyed by the prefix (the old collector) not found")
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "control.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		return b.Put([]byte("k"), []byte(peers[2].String()))
	})
	if m := scanMemory(&struct{ db *bolt.DB }{db}); !m.contains([]byte(peers[2].String())) {
		t.Fatal("control: an ID in a bbolt file not found")
	}
}
