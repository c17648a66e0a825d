package relay

import (
	"context"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/rendezvous"
)

func manyTokens(from, n uint64) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = from + uint64(i)
	}
	return out
}

// TestLateBudgetsAgainstALiar plays a client that floods late
// announcements and bogus forgets from several connections of one
// prefix: past its connection's and its prefix's budgets it gets
// RATE_LIMITED and nothing changes; bogus secrets erase nothing; the
// budget is all or nothing.
func TestLateBudgetsAgainstALiar(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.History.LateUnitsPerConn = 100
	cfg.History.LateUnitsPerPrefixDay = 150
	r := startRelay(t, cfg)
	e := uint64(clk.Now().Unix())/600 - 3
	one := func(n uint64) *pb.Announce {
		a := hAnn(e, "x", "", nil, nil, nil)
		a.Announcements = nil
		for i := uint64(0); i < n; i += 32 {
			k := min(32, n-i)
			a.Announcements = append(a.Announcements, hAnn(e, "x", "", nil, manyTokens(1000*n+i, k), nil).Announcements[0])
		}
		return a
	}
	s1 := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	if c := code(s1.rv(late(one(64)))); c != pb.ErrorCode_OK {
		t.Fatalf("first batch: %v", c)
	}
	st := r.HistoryStats()
	if c := code(s1.rv(late(one(40)))); c != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("over the connection's budget: %v", c)
	}
	bogus := make([]*pb.ForgetSecret, 40)
	for i := range bogus {
		bogus[i] = &pb.ForgetSecret{Epoch: e, Secret: make([]byte, 32)}
	}
	if c := code(s1.rv(forgetReq(bogus...))); c != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("forgets over the budget: %v", c)
	}
	if res := s1.rv(forgetReq(bogus[:30]...)); code(res) != pb.ErrorCode_OK || res.GetHistoryForget().GetErased() != 0 {
		t.Fatalf("bogus secrets: %v", res)
	}
	if got := r.HistoryStats(); got.Entries != st.Entries || got.Bytes != st.Bytes {
		t.Fatalf("refused requests changed the history: %+v → %+v", st, got)
	}
	// A fresh identity and connection from the same prefix shares its
	// day budget (94 spent of 150).
	s2 := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.RendezvousProtocol)
	if c := code(s2.rv(late(one(64)))); c != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("over the prefix's budget: %v", c)
	}
	if c := code(s2.rv(late(one(50)))); c != pb.ErrorCode_OK {
		t.Fatalf("within the prefix's budget: %v", c)
	}
	// The next UTC day the prefix budget is fresh; the connection's is not.
	clk.Add(24 * time.Hour)
	if c := code(s1.rv(late(hAnn(e+144, "x", "", nil, manyTokens(1, 10), nil)))); c != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("connection budget after a day: %v", c)
	}
	s3 := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	if c := code(s3.rv(late(hAnn(e+144, "x", "", nil, []uint64{1}, nil)))); c != pb.ErrorCode_OK {
		t.Fatalf("new day: %v", c)
	}
	if v := gaugeValue(r.hm.refusals.WithLabelValues(histBudget)); v != 4 {
		t.Fatalf("budget refusals counted %v, want 4", v)
	}
}

// TestLateHugeBatchMemory: the largest valid late batch (8192 tokens,
// 1024 announcements of 512-byte records) is stored whole, its answer fits
// one frame even when every token matches, and the relay's memory
// reservations return to where they were.
func TestLateHugeBatchMemory(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r := startRelay(t, cfg)
	e := uint64(clk.Now().Unix())/600 - 1
	big := func(rec byte) *pb.Announce {
		a := &pb.Announce{Epoch: e, EpochSeconds: 600, SharedRecord: make([]byte, protocol.MaxSealedRecord)}
		for i := range protocol.MaxAnnouncements {
			an := &pb.Announcement{SealedRecord: make([]byte, protocol.MaxSealedRecord)}
			an.SealedRecord[0] = rec
			for j := range 8 {
				an.Tokens = append(an.Tokens, &pb.Token{Value: tokenN(uint64(i*8 + j + 1))})
			}
			an.Tokens[0].Kind = pb.TokenKind_HERE
			a.Announcements = append(a.Announcements, an)
		}
		for _, an := range a.Announcements {
			for _, tk := range an.Tokens {
				tk.Kind = pb.TokenKind_HERE
			}
		}
		return a
	}
	base := r.mem.inUse()
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	s.r = protocol.NewReader(s.s, protocol.MaxRendezvousResponse)
	if res := s.rv(late(big(1))); code(res) != pb.ErrorCode_OK || res.GetAnnounce().GetAccepted() != 8192 {
		t.Fatalf("huge batch: %v", res.GetError())
	}
	s2 := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.RendezvousProtocol)
	s2.r = protocol.NewReader(s2.s, protocol.MaxRendezvousResponse)
	res := s2.rv(late(big(2)))
	if code(res) != pb.ErrorCode_OK {
		t.Fatalf("second huge batch: %v", res.GetError())
	}
	ms := len(res.GetAnnounce().GetMatches())
	if ms == 0 || ms > protocol.MaxMatchesPerResult {
		t.Fatalf("%d matches", ms)
	}
	if d := gaugeValue(r.hm.lateDropped); int(d)+ms != 8192 {
		t.Fatalf("%d returned + %v dropped, want 8192", ms, d)
	}
	if got := r.HistoryStats().Entries; got != 2*8192 {
		t.Fatalf("history holds %d entries", got)
	}
	s.s.Reset()
	s2.s.Reset()
	eventually(t, "memory back to baseline", func() bool { return r.mem.inUse() <= base })
}

// TestHistoryFullKeepsLiveMatching: over max_bytes a live announcement is
// still matched live and acknowledged but not stored (counted); a late one
// gets QUOTA_EXCEEDED and stores nothing.
func TestHistoryFullKeepsLiveMatching(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.History.MaxBytes = 300
	r := startRelay(t, cfg)
	e := uint64(clk.Now().Unix()) / 600
	a := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	b := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.RendezvousProtocol)
	a.rv(live(hAnn(e, "A", "", nil, []uint64{1}, nil)))
	st := r.HistoryStats()
	if st.Entries != 1 {
		t.Fatalf("first announcement not stored: %+v", st)
	}
	res := b.rv(live(hAnn(e, "B", "", nil, manyTokens(1, 20), nil)))
	if code(res) != pb.ErrorCode_OK || len(res.GetAnnounce().GetMatches()) != 1 {
		t.Fatalf("live over the cap: %v", res)
	}
	if r.HistoryStats() != st {
		t.Fatal("stored over the cap")
	}
	if v := gaugeValue(r.hm.notStored.WithLabelValues(histFull)); v != 1 {
		t.Fatalf("not-stored counter %v", v)
	}
	if c := code(b.rv(late(hAnn(e-1, "B", "", nil, manyTokens(1, 20), nil)))); c != pb.ErrorCode_QUOTA_EXCEEDED {
		t.Fatalf("late over the cap: %v", c)
	}
	if r.HistoryStats().Entries != st.Entries {
		t.Fatal("late stored over the cap")
	}
}

// TestGossipHistoryQueueFull: gossiped history writes wait in a bounded
// queue holding their messages' memory; past it they are dropped, counted
// and their memory released at once.
func TestGossipHistoryQueueFull(t *testing.T) {
	cfg := testConfig(t)
	cfg.History.WriteQueue = 1
	r, err := New(cfg) // not started: nothing drains the queue
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g := &gossip{r: r, mem: newGossipMem(r.mem), remote: make(map[remoteKey]*rendezvous.Session)}
	from := peer.ID("other-relay")
	r.trusted[from] = true
	e := uint64(time.Now().Unix())/600 - 2
	msg := func(tok uint64) *pubsub.Message {
		a := hAnn(e, "r", "", nil, []uint64{tok}, nil)
		b, err := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Epoch: e, EpochSeconds: 600, Announcements: a.Announcements, Late: true})
		if err != nil {
			t.Fatal(err)
		}
		m := &pubsub.Message{Message: &pubsubpb.Message{Data: b}, ReceivedFrom: from}
		if g.validate(context.Background(), from, m) != pubsub.ValidationAccept {
			t.Fatal("refused")
		}
		return m
	}
	m1, m2 := msg(1), msg(2)
	held := r.mem.inUse()
	if !g.apply(from, from, m1.ValidatorData.(*pb.RendezvousGossipBatch), m1) {
		t.Fatal("first write not queued")
	}
	if g.apply(from, from, m2.ValidatorData.(*pb.RendezvousGossipBatch), m2) {
		t.Fatal("second write queued past the cap")
	}
	g.mem.done(m2) // what the loop does when apply keeps nothing
	if v := gaugeValue(r.hm.notStored.WithLabelValues("queue")); v != 1 {
		t.Fatalf("queue drops counted %v", v)
	}
	if r.mem.inUse() >= held {
		t.Fatal("the dropped message's memory is still reserved")
	}
	h := <-r.hw
	if _, err := r.hist.Apply(h.ops); err != nil {
		t.Fatal(err)
	}
	g.mem.done(h.msg)
	if r.mem.inUse() != 0 || r.HistoryStats().Entries != 1 {
		t.Fatalf("after the write: %d reserved, %d entries", r.mem.inUse(), r.HistoryStats().Entries)
	}
}

// TestHistoryFairShare: once the history is nearly full, a source that
// stored its day's share stores no more (live: matched, acknowledged, not
// kept and counted; late: QUOTA_EXCEEDED), while another source (::1 here,
// 127.0.0.1 there) still stores.
func TestHistoryFairShare(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.ListenAddrs = append(cfg.ListenAddrs, "/ip6/::1/udp/0/quic-v1")
	cfg.History.MaxBytes = 2000
	cfg.History.FairShareAbove = 0.25
	cfg.History.FairSharePerSourceDay = 20
	r := startRelay(t, cfg)
	e := uint64(clk.Now().Unix()) / 600
	dial := func(ip6 bool) *rawStream {
		h := clientHost(t, "quic")
		ai := peer.AddrInfo{ID: r.ID()}
		for _, a := range r.Addrs() {
			_, err6 := a.ValueForProtocol(ma.P_IP6)
			_, errT := a.ValueForProtocol(ma.P_TCP)
			if errT != nil && (err6 == nil) == ip6 {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Connect(ctx, ai); err != nil {
			t.Fatal(err)
		}
		s, err := h.NewStream(ctx, r.ID(), lprotocol.ID(protocol.RendezvousProtocol))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Reset() })
		return &rawStream{t: t, s: s, r: protocol.NewReader(s, protocol.MaxRendezvousResponse)}
	}
	a := dial(false)
	if res := a.rv(live(hAnn(e, "A", "", nil, manyTokens(1, 30), nil))); code(res) != pb.ErrorCode_OK {
		t.Fatalf("first: %v", res.GetError())
	}
	st := r.HistoryStats()
	if st.Entries != 30 || float64(st.Bytes) <= 0.25*2000 {
		t.Fatalf("setup: %+v", st)
	}
	b := dial(true)
	res := a.rv(live(hAnn(e, "A2", "", nil, []uint64{500}, nil)))
	if code(res) != pb.ErrorCode_OK {
		t.Fatalf("live past the share: %v", res.GetError())
	}
	if r.HistoryStats().Entries != 30 || gaugeValue(r.hm.notStored.WithLabelValues(histFair)) != 1 {
		t.Fatalf("live past the share was stored: %+v", r.HistoryStats())
	}
	// Still matched live: B (another source) announcing the token hears of it.
	if ms := b.rv(live(hAnn(e, "B", "", nil, []uint64{500}, nil))).GetAnnounce().GetMatches(); len(ms) != 1 || string(ms[0].SealedRecord) != "A2" {
		t.Fatalf("live match past the share: %v", ms)
	}
	if got := r.HistoryStats().Entries; got != 31 {
		t.Fatalf("the other source's announcement not stored: %d entries", got)
	}
	if c := code(a.rv(late(hAnn(e-1, "A3", "", nil, []uint64{7}, nil)))); c != pb.ErrorCode_QUOTA_EXCEEDED {
		t.Fatalf("late past the share: %v", c)
	}
	if c := code(b.rv(late(hAnn(e-1, "B2", "", nil, []uint64{7}, nil)))); c != pb.ErrorCode_OK {
		t.Fatalf("late from the other source: %v", c)
	}
	// The next UTC day the share is fresh.
	clk.Add(24 * time.Hour)
	if c := code(a.rv(late(hAnn(e+140, "A4", "", nil, []uint64{8}, nil)))); c != pb.ErrorCode_OK {
		t.Fatalf("late the next day: %v", c)
	}
}
