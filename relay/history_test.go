package relay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/history"
)

// hAnn builds an Announce for one friend: here and near tokens, a record
// (key share), a shared record and a forget tag (either may be empty).
func hAnn(epoch uint64, rec, shared string, tag []byte, here, near []uint64) *pb.Announce {
	a := &pb.Announcement{SealedRecord: []byte(rec)}
	for _, n := range here {
		a.Tokens = append(a.Tokens, &pb.Token{Value: tokenN(n), Kind: pb.TokenKind_HERE})
	}
	for _, n := range near {
		a.Tokens = append(a.Tokens, &pb.Token{Value: tokenN(n), Kind: pb.TokenKind_NEAR})
	}
	return &pb.Announce{Epoch: epoch, EpochSeconds: 600, SharedRecord: []byte(shared), ForgetTag: tag, Announcements: []*pb.Announcement{a}}
}

func live(a *pb.Announce) *pb.RendezvousRequest {
	return &pb.RendezvousRequest{Body: &pb.RendezvousRequest_Announce{Announce: a}}
}

func late(a *pb.Announce) *pb.RendezvousRequest {
	return &pb.RendezvousRequest{Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: a}}
}

func forgetReq(ss ...*pb.ForgetSecret) *pb.RendezvousRequest {
	return &pb.RendezvousRequest{Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: &pb.HistoryForget{Secrets: ss}}}
}

// forgetKey returns one device's forget secret and tag for an epoch.
func forgetKey(b byte, epoch uint64) (secret, tag []byte) {
	var k [32]byte
	k[0] = b
	s := crypto.HistoryForgetSecret(&k, epoch)
	tg := crypto.HistoryForgetTag(s[:])
	return s[:], tg[:]
}

func matchRecords(ms []*pb.Match) map[string]string {
	out := make(map[string]string)
	for _, m := range ms {
		out[string(m.SealedRecord)] = string(m.SharedRecord)
	}
	return out
}

// TestLateMatchesHistory (QUIC and TCP): a live announcement is in the
// history when it is acknowledged; hours later a late announcement of that
// epoch matches it with the stored side's records (here=here and
// here=near, never near=near), and a second late one matches both stored
// sides. A late announcement never enters live matching: a live announce
// of the same token in the same epoch neither matches it nor pushes it.
func TestLateMatchesHistory(t *testing.T) {
	for _, tr := range []string{"quic", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			clk := newTestClock()
			cfg := testConfig(t)
			cfg.Now = clk.Now
			r := startRelay(t, cfg)
			e := uint64(clk.Now().Unix()) / 600
			a := openRaw(t, clientHost(t, tr), r, tr, protocol.RendezvousProtocol)
			_, tag := forgetKey(1, e)
			if res := a.rv(live(hAnn(e, "A-share", "A-shared", tag, []uint64{1}, []uint64{2, 3}))); code(res) != pb.ErrorCode_OK {
				t.Fatalf("live: %v", res.Error)
			}
			if got := r.HistoryStats().Entries; got != 3 {
				t.Fatalf("history holds %d entries after the ack, want 3", got)
			}
			clk.Add(5 * time.Hour) // B comes back online
			b := openRaw(t, clientHost(t, tr), r, tr, protocol.RendezvousProtocol)
			res := b.rv(late(hAnn(e, "B-share", "B-shared", nil, []uint64{2}, []uint64{1, 3})))
			got := res.GetAnnounce()
			if code(res) != pb.ErrorCode_OK || got.GetAccepted() != 3 {
				t.Fatalf("late: %v", res)
			}
			// B here 2 = A near 2; B near 1 = A here 1; B near 3 vs A near 3: no.
			if len(got.Matches) != 2 {
				t.Fatalf("late matches %v", got.Matches)
			}
			for _, m := range got.Matches {
				if m.Epoch != e || string(m.SealedRecord) != "A-share" || string(m.SharedRecord) != "A-shared" {
					t.Fatalf("match %v", m)
				}
				if n := m.Token[7]; n != 1 && n != 2 {
					t.Fatalf("match names token %x, not B's own matched token", m.Token)
				}
			}
			// C, late too, matches the stored live AND the stored late side.
			c := openRaw(t, clientHost(t, tr), r, tr, protocol.RendezvousProtocol)
			res = c.rv(late(hAnn(e, "C-share", "", nil, []uint64{3}, nil)))
			if m := matchRecords(res.GetAnnounce().GetMatches()); len(m) != 2 || m["A-share"] != "A-shared" || m["B-share"] != "B-shared" {
				t.Fatalf("C's matches %v", res)
			}
			// A late announcement of the current epoch stays out of live
			// matching: neither side of a live announce hears of it.
			now := uint64(clk.Now().Unix()) / 600
			if res := b.rv(late(hAnn(now, "B-now", "", nil, []uint64{50}, nil))); code(res) != pb.ErrorCode_OK || len(res.GetAnnounce().Matches) != 0 {
				t.Fatalf("late now: %v", res)
			}
			if res := a.rv(live(hAnn(now, "A-now", "", nil, []uint64{50}, nil))); len(res.GetAnnounce().GetMatches()) != 0 {
				t.Fatalf("a late announcement matched live: %v", res)
			}
			if r.rv.Stats().Entries != 1 {
				t.Fatalf("live engine holds %d entries, want only A's live one", r.rv.Stats().Entries)
			}
		})
	}
}

// TestLateStaleAndOff: outside the window (too old or in the future) a
// late announcement gets STALE; with history off it gets UNSUPPORTED, a
// forget too, and no history file exists. Nothing is stored either way.
func TestLateStaleAndOff(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r := startRelay(t, cfg)
	e := uint64(clk.Now().Unix()) / 600
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	back := uint64(72 * 6) // 72 h of 600-s epochs
	for _, bad := range []uint64{e + 1, e + 1000, e - back - 1} {
		if c := code(s.rv(late(hAnn(bad, "x", "", nil, []uint64{1}, nil)))); c != pb.ErrorCode_STALE {
			t.Fatalf("epoch %+d: %v", int64(bad)-int64(e), c)
		}
	}
	a := hAnn(e-1, "x", "", nil, []uint64{1}, nil)
	a.EpochSeconds = 300
	if c := code(s.rv(late(a))); c != pb.ErrorCode_BAD_REQUEST {
		t.Fatalf("other epoch length: %v", c)
	}
	if st := r.HistoryStats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("refused late announcements stored: %+v", st)
	}
	if c := code(s.rv(late(hAnn(e-back, "x", "", nil, []uint64{1}, nil)))); c != pb.ErrorCode_OK {
		t.Fatalf("oldest epoch in the window: %v", c)
	}

	off := testConfig(t)
	off.Now = clk.Now
	off.History.Window = 0
	ro := startRelay(t, off)
	so := openRaw(t, clientHost(t, "tcp"), ro, "tcp", protocol.RendezvousProtocol)
	res := so.rv(late(hAnn(e-1, "x", "", nil, []uint64{1}, nil)))
	if code(res) != pb.ErrorCode_UNSUPPORTED || res.Error.Detail != "history off" {
		t.Fatalf("history off: %v", res)
	}
	sec, _ := forgetKey(1, e)
	if c := code(so.rv(forgetReq(&pb.ForgetSecret{Epoch: e, Secret: sec}))); c != pb.ErrorCode_UNSUPPORTED {
		t.Fatalf("forget with history off: %v", c)
	}
	if res := so.rv(live(hAnn(e, "x", "", nil, []uint64{1}, nil))); code(res) != pb.ErrorCode_OK {
		t.Fatalf("live with history off: %v", res)
	}
	if _, err := os.Stat(filepath.Join(off.DataDir, HistoryFile)); !os.IsNotExist(err) {
		t.Fatalf("history off, yet %s exists (%v)", HistoryFile, err)
	}
}

// TestHistoryForget: the right secret erases (count), a wrong one or the
// right one for another epoch erases nothing; afterwards a late
// announcement no longer matches what was erased.
func TestHistoryForget(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r := startRelay(t, cfg)
	e := uint64(clk.Now().Unix()) / 600
	a := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	sec, tag := forgetKey(1, e)
	a.rv(live(hAnn(e, "A", "", tag, []uint64{1, 2}, nil)))
	a.rv(live(hAnn(e, "A2", "", nil, []uint64{3}, nil))) // untagged: stays
	b := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.RendezvousProtocol)
	other, _ := forgetKey(2, e)
	nextSec, _ := forgetKey(1, e+1)
	for _, fs := range []*pb.ForgetSecret{{Epoch: e, Secret: other}, {Epoch: e + 1, Secret: sec}, {Epoch: e, Secret: nextSec}, {Epoch: e, Secret: tag}} {
		if res := b.rv(forgetReq(fs)); code(res) != pb.ErrorCode_OK || res.GetHistoryForget().GetErased() != 0 {
			t.Fatalf("bogus secret erased: %v", res)
		}
	}
	if got := r.HistoryStats().Entries; got != 3 {
		t.Fatalf("entries %d after bogus forgets", got)
	}
	if res := a.rv(forgetReq(&pb.ForgetSecret{Epoch: e, Secret: sec})); res.GetHistoryForget().GetErased() != 1 {
		t.Fatalf("forget: %v", res)
	}
	if got := r.HistoryStats().Entries; got != 1 {
		t.Fatalf("entries %d after forget", got)
	}
	clk.Add(time.Hour)
	ms := b.rv(late(hAnn(e, "B", "", nil, []uint64{1, 2, 3}, nil))).GetAnnounce().GetMatches()
	if m := matchRecords(ms); len(m) != 1 || m["A2"] != "" {
		t.Fatalf("after forget: %v", ms)
	}
}

// twoRelays starts relays A and B of one network, gossiping.
func twoRelays(t *testing.T, clk *testClock) (*Relay, *Relay) {
	kb, _, _ := lcrypto.GenerateEd25519Key(nil)
	cfgB := testConfig(t)
	cfgB.Identity, cfgB.Now, cfgB.Network = kb, clk.Now, "test-"+t.Name()
	cfgA := testConfig(t)
	cfgA.Now, cfgA.Network = clk.Now, cfgB.Network
	ka, _, _ := lcrypto.GenerateEd25519Key(nil)
	idA, _ := peer.IDFromPrivateKey(ka)
	cfgA.Identity = ka
	cfgB.Peers = []string{"/p2p/" + idA.String()}
	b := startRelay(t, cfgB)
	for _, a := range b.Addrs() {
		cfgA.Peers = append(cfgA.Peers, a.String()+"/p2p/"+b.ID().String())
	}
	a := startRelay(t, cfgA)
	eventually(t, "gossip mesh A—B", func() bool { return gaugeValue(a.m.gossipMesh) >= 1 && gaugeValue(b.m.gossipMesh) >= 1 })
	return a, b
}

// TestGossipLateMatch: live at relay 1 and late at relay 2 match (relay 2
// stored relay 1's live gossip); relay 2's late announcement reaches relay
// 1's history; a forget at relay 2 erases at relay 1 too.
func TestGossipLateMatch(t *testing.T) {
	clk := newTestClock()
	r1, r2 := twoRelays(t, clk)
	e := uint64(clk.Now().Unix()) / 600
	a := openRaw(t, clientHost(t, "quic"), r1, "quic", protocol.RendezvousProtocol)
	secA, tagA := forgetKey(1, e)
	a.rv(live(hAnn(e, "A", "A-shared", tagA, []uint64{7}, nil)))
	eventually(t, "A's live announcement in relay 2's history", func() bool { return r2.HistoryStats().Entries == 1 })
	clk.Add(3 * time.Hour)
	b := openRaw(t, clientHost(t, "tcp"), r2, "tcp", protocol.RendezvousProtocol)
	secB, tagB := forgetKey(2, e)
	res := b.rv(late(hAnn(e, "B", "", tagB, []uint64{7, 8}, nil)))
	if m := matchRecords(res.GetAnnounce().GetMatches()); len(m) != 1 || m["A"] != "A-shared" {
		t.Fatalf("late at relay 2: %v", res)
	}
	eventually(t, "B's late announcement in relay 1's history", func() bool { return r1.HistoryStats().Entries == 3 })
	// A third phone, late at relay 1, now matches both.
	c := openRaw(t, clientHost(t, "quic"), r1, "quic", protocol.RendezvousProtocol)
	if m := matchRecords(c.rv(late(hAnn(e, "C", "", nil, []uint64{7}, nil))).GetAnnounce().GetMatches()); len(m) != 2 {
		t.Fatalf("late at relay 1: %v", m)
	}
	eventually(t, "C at relay 2", func() bool { return r2.HistoryStats().Entries == 4 })
	// Forgets at relay 2 erase at relay 1 (by gossip) as well.
	if res := b.rv(forgetReq(&pb.ForgetSecret{Epoch: e, Secret: secB}, &pb.ForgetSecret{Epoch: e, Secret: secA})); res.GetHistoryForget().GetErased() != 2 {
		t.Fatalf("forget at relay 2: %v", res)
	}
	eventually(t, "forget applied at relay 1", func() bool { return r1.HistoryStats().Entries == 1 })
	if got := r2.HistoryStats().Entries; got != 1 {
		t.Fatalf("relay 2 holds %d", got)
	}
}

// TestHistoryRestart: a closed and reopened relay keeps its history.
func TestHistoryRestart(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := uint64(clk.Now().Unix()) / 600
	a := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	a.rv(live(hAnn(e, "A", "sh", nil, []uint64{4}, nil)))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Hour)
	r2 := startRelay(t, cfg)
	b := openRaw(t, clientHost(t, "tcp"), r2, "tcp", protocol.RendezvousProtocol)
	if m := matchRecords(b.rv(late(hAnn(e, "B", "", nil, []uint64{4}, nil))).GetAnnounce().GetMatches()); m["A"] != "sh" {
		t.Fatalf("after restart: %v", m)
	}
	// 72 h after the epoch's end the sweep drops it.
	clk.Add(63 * time.Hour)
	if err := r2.SweepHistory(); err != nil {
		t.Fatal(err)
	}
	if st := r2.HistoryStats(); st.Entries != 0 {
		t.Fatalf("expired history holds %+v", st)
	}
}

// TestHistoryConfigBounds: a window above 720 h or below 0 is refused at
// New; 0 is off and opens no file.
func TestHistoryConfigBounds(t *testing.T) {
	for _, w := range []time.Duration{721 * time.Hour, -time.Second} {
		cfg := testConfig(t)
		cfg.History.Window = Duration(w)
		if r, err := New(cfg); err == nil {
			r.Close()
			t.Fatalf("window %v accepted", w)
		}
	}
	cfg := testConfig(t)
	cfg.History.Window = Duration(720 * time.Hour)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// TestHistoryFileHoldsNoClientIdentity plays the operator who reads
// history.db: after live and late announcements and a forget from two
// clients, the file holds neither client's peer ID (raw or text), nor its
// address or port, nor a forget secret, nor a shared record in the clear
// (relay/history's TestAtRest* scan for tokens and records after forget
// and expiry).
func TestHistoryFileHoldsNoClientIdentity(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := uint64(clk.Now().Unix()) / 600
	ha, hb := clientHost(t, "quic"), clientHost(t, "tcp")
	a := openRaw(t, ha, r, "quic", protocol.RendezvousProtocol)
	b := openRaw(t, hb, r, "tcp", protocol.RendezvousProtocol)
	secA, tagA := forgetKey(1, e)
	secB, tagB := forgetKey(2, e-1)
	if res := a.rv(live(hAnn(e, "A", "A-shared", tagA, []uint64{1}, []uint64{2}))); code(res) != pb.ErrorCode_OK {
		t.Fatalf("live: %v", res.GetError())
	}
	if res := b.rv(late(hAnn(e, "B", "", tagB, []uint64{2}, nil))); len(res.GetAnnounce().GetMatches()) != 1 {
		t.Fatalf("late: %v", res)
	}
	if res := b.rv(late(hAnn(e-1, "B1", "", tagB, []uint64{3}, nil))); code(res) != pb.ErrorCode_OK {
		t.Fatalf("late: %v", res.GetError())
	}
	if res := b.rv(forgetReq(&pb.ForgetSecret{Epoch: e - 1, Secret: secB})); res.GetHistoryForget().GetErased() != 1 {
		t.Fatalf("forget: %v", res)
	}
	if r.HistoryStats().Entries == 0 {
		t.Fatal("nothing stored: the scan below would prove nothing")
	}
	var secrets [][]byte
	for _, h := range []host.Host{ha, hb} {
		secrets = append(secrets, []byte(h.ID()), []byte(h.ID().String()))
		for _, c := range h.Network().ConnsToPeer(r.ID()) {
			la := c.LocalMultiaddr()
			secrets = append(secrets, la.Bytes(), []byte(la.String()))
			for _, p := range []int{ma.P_UDP, ma.P_TCP} {
				if port, err := la.ValueForProtocol(p); err == nil {
					secrets = append(secrets, []byte(":"+port), []byte("/"+port))
				}
			}
		}
	}
	secrets = append(secrets, []byte("127.0.0.1"), secA, secB)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(filepath.Join(cfg.DataDir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: this file (with its key dir) holds A's entry:
	// opened by the history, it matches A's token with A's shared record.
	// The raw bytes do not show it: values are sealed at rest.
	hs, err := history.Open(history.Config{Path: filepath.Join(cfg.DataDir, HistoryFile), Window: cfg.History.Window.D(), Now: clk.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var tok1 [history.TokenSize]byte
	copy(tok1[:], tokenN(1))
	ms, _, _, err := hs.Late(&history.Announce{EpochSeconds: 600, Epoch: e, Origin: [history.OriginSize]byte{0xcc},
		Announcements: []history.Announcement{{Tokens: []history.Token{{Value: tok1, Here: true}}, Record: []byte("probe")}}}, 10)
	if cerr := hs.Close(); err != nil || cerr != nil || len(ms) != 1 || string(ms[0].Shared) != "A-shared" {
		t.Fatalf("positive control: the file read is not the history: %+v %v %v", ms, err, cerr)
	}
	if bytes.Contains(disk, []byte("A-shared")) {
		t.Fatal("history.db holds a shared record in the clear")
	}
	for _, s := range secrets {
		if bytes.Contains(disk, s) {
			t.Fatalf("history.db holds %q", s)
		}
	}
}
