package relay

import (
	"testing"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
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
