package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/analytics"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay"
)

// peerLog records every peer that connects to a host.
type peerLog struct {
	mu    sync.Mutex
	peers []peer.ID
}

func (l *peerLog) Connected(_ network.Network, c network.Conn) {
	l.mu.Lock()
	l.peers = append(l.peers, c.RemotePeer())
	l.mu.Unlock()
}
func (l *peerLog) Disconnected(network.Network, network.Conn) {}
func (l *peerLog) Listen(network.Network, ma.Multiaddr)       {}
func (l *peerLog) ListenClose(network.Network, ma.Multiaddr)  {}
func (l *peerLog) snapshot() []peer.ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]peer.ID(nil), l.peers...)
}

type collectors struct {
	leader, helper *relay.Relay
	leaderDir      string
	lpub, hpub     *[32]byte
	leaderAddr     string
	seen           *peerLog
}

func startCollectors(t *testing.T, clock *testClock, minBatch int) *collectors {
	t.Helper()
	var vk [32]byte
	rand.Read(vk[:])
	mk := func(role, partner string, id p2pcrypto.PrivKey) (*relay.Relay, string, *[32]byte) {
		pub, priv, _ := crypto.NewCollectorKey(rand.Reader)
		cfg := relay.DefaultConfig()
		cfg.Identity = id
		cfg.DataDir = t.TempDir()
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
		cfg.Logger = quietLogger()
		cfg.Now = clock.Now
		cfg.NoSync = true
		cfg.Analytics = relay.AnalyticsConfig{Role: role, Partner: partner, MinBatch: minBatch, ReportsPerPrefixDay: 1000, BoxPub: pub, BoxPriv: priv, VerifyKey: &vk}
		r, err := relay.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r, cfg.DataDir, pub
	}
	// The helper answers only the leader's peer ID, so the leader's key is
	// made first; the leader dials the helper's address.
	lkey, _, _ := p2pcrypto.GenerateEd25519Key(rand.Reader)
	lid, _ := peer.IDFromPrivateKey(lkey)
	c := &collectors{seen: &peerLog{}}
	helper, _, hpub := mk("helper", "/p2p/"+lid.String(), nil)
	c.helper, c.hpub = helper, hpub
	leader, dir, lpub := mk("leader", relayAddrs(helper)[0], lkey)
	c.leader, c.leaderDir, c.lpub = leader, dir, lpub
	c.leaderAddr = relayAddrs(leader)[0]
	leader.Host().Network().Notify(c.seen)
	return c
}

func (c *collectors) col() analytics.Collectors {
	return analytics.Collectors{Leader: c.leaderAddr, LeaderKey: c.lpub, HelperKey: c.hpub}
}

// TestAnalyticsAggregatesOnly (P13): 150 phones' reports, each sent from a
// one-off transport identity, are checked and summed by two collector
// relays; the published totals equal the true sums. A day below the
// minimum batch is never published. A real node with analytics on counts
// its events and reports on two days from two different transport
// identities, with reports of one size; the leader's database holds no
// device or transport identifier. A node with analytics off sends nothing.
func TestAnalyticsAggregatesOnly(t *testing.T) {
	clock := newTestClock()
	c := startCollectors(t, clock, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	day := uint32(clock.Now().Unix() / 86400)
	n := len(protocol.AnalyticsFields)
	want := make([]uint64, n)
	sender := newTestNode(t, clock, nil)
	for i := range 150 {
		vals := make([]uint64, n)
		vals[0] = 1
		vals[1+i%4] = uint64(i % 7)
		for j := range vals {
			want[j] += vals[j]
		}
		rep, err := analytics.Build(day, vals, c.col())
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.sendReport(ctx, rep, c.leaderAddr); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	// A smaller day: 20 reports.
	for range 20 {
		rep, _ := analytics.Build(day-1, make([]uint64, n), c.col())
		if err := sender.sendReport(ctx, rep, c.leaderAddr); err != nil {
			t.Fatal(err)
		}
	}
	// Every report came from its own transport identity.
	ids := map[peer.ID]bool{}
	for _, p := range c.seen.snapshot() {
		ids[p] = true
	}
	if len(ids) < 170 {
		t.Fatalf("170 reports came from %d transport identities", len(ids))
	}
	clock.Add(3 * 24 * time.Hour)
	if err := c.leader.RunAnalytics(ctx); err != nil {
		t.Fatal(err)
	}
	res := c.leader.AnalyticsResults()
	if len(res) != 1 || res[0].Day != day || res[0].Count != 150 {
		t.Fatalf("published %+v", res)
	}
	for i, f := range protocol.AnalyticsFields {
		if res[0].Totals[f] != want[i] {
			t.Fatalf("%s: %d, want %d", f, res[0].Totals[f], want[i])
		}
	}

	// A real node: counts, then reports twice from fresh identities.
	on := newTestNode(t, clock, nil, func(cfg *Config) {
		cfg.Analytics = AnalyticsConfig{Enabled: true, Leader: c.leaderAddr, LeaderKey: c.lpub[:], HelperKey: c.hpub[:], Platform: "desktop"}
	})
	on.countEvent(&Event{Kind: EventItemReceived, Type: "photo"})
	if pv := on.AnalyticsPreview(); pv["received_photo"] != 1 || pv["platform_desktop"] != 1 || pv["reports"] != 1 {
		t.Fatalf("preview %v", pv)
	}
	before := len(c.seen.snapshot())
	clock.Add(24 * time.Hour)
	on.countEvent(&Event{Kind: EventFriendNearby})
	if k, err := on.SendAnalytics(ctx); err != nil || k != 1 {
		t.Fatalf("first day: %d %v", k, err)
	}
	clock.Add(24 * time.Hour)
	if k, err := on.SendAnalytics(ctx); err != nil || k != 1 {
		t.Fatalf("second day: %d %v", k, err)
	}
	got := c.seen.snapshot()[before:]
	if len(got) != 2 || got[0] == got[1] || got[0] == peer.ID(on.TransportID()) || got[1] == peer.ID(on.TransportID()) {
		t.Fatalf("two reports of one phone came from %v (node transport %s)", got, on.TransportID())
	}
	r1, _ := analytics.Build(day, make([]uint64, n), c.col())
	vals := make([]uint64, n)
	for i := range vals {
		vals[i] = 1<<protocol.AnalyticsBits - 1
	}
	r2, _ := analytics.Build(day, vals, c.col())
	if proto.Size(r1) != proto.Size(r2) {
		t.Fatalf("report sizes differ: %d and %d", proto.Size(r1), proto.Size(r2))
	}
	// The leader's file holds no identifier of the phone.
	db, err := os.ReadFile(filepath.Join(c.leaderDir, relay.AnalyticsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{on.ID(), on.TransportID(), string(got[0]), string(got[1])} {
		if bytes.Contains(db, []byte(id)) {
			t.Fatal("the leader's database holds a device or transport identifier")
		}
	}

	// Analytics off: nothing counted, nothing sent, no connection.
	off := newTestNode(t, clock, nil)
	off.countEvent(&Event{Kind: EventItemReceived, Type: "photo"})
	before = len(c.seen.snapshot())
	if _, err := off.SendAnalytics(ctx); !errors.Is(err, ErrAnalyticsOff) {
		t.Fatalf("off: %v", err)
	}
	if off.AnalyticsPreview() != nil || len(c.seen.snapshot()) != before {
		t.Fatal("a node with analytics off counted or connected")
	}
}
