package analytics

import (
	"bytes"
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type pair struct {
	lead, help *Collector
	lpub, hpub *[32]byte
	clk        *clock
	calls      int
}

func newPair(t testing.TB, minBatch int) *pair {
	t.Helper()
	clk := &clock{t: time.Unix(20500*86400+3600, 0)}
	var vk [32]byte
	rand.Read(vk[:])
	p := &pair{clk: clk}
	mk := func(role string) (*Collector, *[32]byte) {
		pub, priv, _ := crypto.NewCollectorKey(rand.Reader)
		c, err := New(Config{Role: role, BoxPub: pub, BoxPriv: priv, VerifyKey: vk, MinBatch: minBatch, Now: clk.now, NoSync: true},
			filepath.Join(t.TempDir(), role+".db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, pub
	}
	p.lead, p.lpub = mk(Leader)
	p.help, p.hpub = mk(Helper)
	return p
}

// call is the leader's link to the helper, through the wire encoding.
func (p *pair) call(_ context.Context, req *pb.AggRequest) (*pb.AggResponse, error) {
	p.calls++
	b, _ := proto.Marshal(req)
	var back pb.AggRequest
	if err := proto.Unmarshal(b, &back); err != nil {
		return nil, err
	}
	if err := protocol.ValidateAggRequest(&back); err != nil {
		return nil, err
	}
	return p.help.HandleAgg(&back), nil
}

type memStream struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (m *memStream) Read(b []byte) (int, error)  { return m.r.Read(b) }
func (m *memStream) Write(b []byte) (int, error) { return m.w.Write(b) }
func (m *memStream) SetDeadline(time.Time) error { return nil }

func (p *pair) report(t *testing.T, day uint32, vals []uint64, prefix string) *pb.AnalyticsAck {
	t.Helper()
	return p.serve(t, p.build(t, day, vals), prefix)
}

// build makes one report as a phone would.
func (p *pair) build(t testing.TB, day uint32, vals []uint64) *pb.AnalyticsReport {
	t.Helper()
	v, _ := crypto.NewReportVDAF(uint(len(protocol.AnalyticsFields)), protocol.AnalyticsBits)
	sh, err := v.ShardDay(vals, day, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := crypto.SealReportShare(sh.Leader, p.lpub, rand.Reader)
	hs, _ := crypto.SealReportShare(sh.Helper, p.hpub, rand.Reader)
	return &pb.AnalyticsReport{Day: day, Nonce: sh.Nonce[:], PublicShare: sh.Public, LeaderShare: ls, HelperShare: hs, Schema: protocol.AnalyticsSchema}
}

// serve hands one report to the leader through the wire encoding.
func (p *pair) serve(t testing.TB, rep *pb.AnalyticsReport, prefix string) *pb.AnalyticsAck {
	t.Helper()
	var buf bytes.Buffer
	_ = protocol.WriteMsg(&buf, rep)
	st := &memStream{r: bytes.NewReader(buf.Bytes())}
	p.lead.ServeReport(st, prefix)
	var ack pb.AnalyticsAck
	if err := protocol.ReadMsg(&st.w, &ack, protocol.MaxAnalyticsFrame); err != nil {
		t.Fatal(err)
	}
	return &ack
}

// TestCollectorsPublishTrueSums: 150 phones report; after the day's window
// the leader and helper check and sum them and publish totals equal to the
// true sums; the reports are gone from the leader, the sums from both.
// A second day with 40 reports is below the minimum: never published, and
// the helper refuses to hand over its sum even when asked.
func TestCollectorsPublishTrueSums(t *testing.T) {
	p := newPair(t, 100)
	const day = 20500
	n := len(protocol.AnalyticsFields)
	want := make([]uint64, n)
	rng := mrand.New(mrand.NewPCG(3, 4))
	for i := range 150 {
		vals := make([]uint64, n)
		for j := range vals {
			vals[j] = uint64(rng.IntN(20))
			want[j] += vals[j]
		}
		if ack := p.report(t, day, vals, "p"+string(rune('a'+i%26))); ack.Error != nil {
			t.Fatalf("report %d: %v", i, ack.Error)
		}
	}
	for range 40 {
		p.report(t, day-1, make([]uint64, n), "q")
	}
	if p.lead.Pending() != 190 {
		t.Fatalf("%d pending", p.lead.Pending())
	}
	ctx := context.Background()
	if err := p.lead.RunDue(ctx, p.call); err != nil {
		t.Fatal(err)
	}
	if len(p.lead.Published()) != 0 || p.lead.Pending() != 190 || p.lead.Latest().Count != 0 {
		t.Fatal("summed before the day's window closed")
	}
	p.clk.add(3 * 24 * time.Hour)
	if err := p.lead.RunDue(ctx, p.call); err != nil {
		t.Fatal(err)
	}
	pub := p.lead.Published()
	if len(pub) != 1 || pub[0].Day != day || pub[0].Count != 150 {
		t.Fatalf("published %+v", pub)
	}
	if l := p.lead.Latest(); !reflect.DeepEqual(l, pub[0]) {
		t.Fatalf("Latest %+v; want %+v", l, pub[0])
	}
	for i, f := range protocol.AnalyticsFields {
		if pub[0].Totals[f] != want[i] {
			t.Fatalf("%s: %d, want %d", f, pub[0].Totals[f], want[i])
		}
	}
	if p.lead.Pending() != 0 {
		t.Fatalf("%d reports kept after summing", p.lead.Pending())
	}
	// The small day: the helper refuses, whoever asks.
	r := p.help.HandleAgg(&pb.AggRequest{Body: &pb.AggRequest_Collect{Collect: &pb.AggCollect{Day: day - 1, Count: 40}}})
	if r.GetError().GetCode() != pb.ErrorCode_REJECTED {
		t.Fatalf("helper handed over a small batch: %v", r.Error)
	}
}

// TestCollectorRefusesLiesAndReplays: a report with a tampered share fails
// the joint proof and is not counted; a leader replaying an item gets no
// second prep message; a late or future day and a flood from one prefix
// are refused.
func TestCollectorRefusesLiesAndReplays(t *testing.T) {
	p := newPair(t, 2)
	const day = 20500
	n := len(protocol.AnalyticsFields)
	v, _ := crypto.NewReportVDAF(uint(n), protocol.AnalyticsBits)
	vals := make([]uint64, n)
	vals[0] = 1
	sh, _ := v.ShardDay(vals, day, rand.Reader)
	sh.Leader[40] ^= 1 // a lying phone
	ls, _ := crypto.SealReportShare(sh.Leader, p.lpub, rand.Reader)
	hs, _ := crypto.SealReportShare(sh.Helper, p.hpub, rand.Reader)
	var buf bytes.Buffer
	_ = protocol.WriteMsg(&buf, &pb.AnalyticsReport{Day: day, Nonce: sh.Nonce[:], PublicShare: sh.Public, LeaderShare: ls, HelperShare: hs, Schema: protocol.AnalyticsSchema})
	p.lead.ServeReport(&memStream{r: bytes.NewReader(buf.Bytes())}, "x")
	p.report(t, day, vals, "y")
	p.report(t, day, vals, "y")
	p.clk.add(3 * 24 * time.Hour)
	if err := p.lead.RunDue(context.Background(), p.call); err != nil {
		t.Fatal(err)
	}
	pub := p.lead.Published()
	if len(pub) != 1 || pub[0].Count != 2 || pub[0].Totals["reports"] != 2 {
		t.Fatalf("published %+v (the lying report must not count)", pub)
	}
	if ack := p.report(t, day, vals, "z"); ack.GetError().GetCode() != pb.ErrorCode_STALE {
		t.Fatalf("report for a closed day: %v", ack.Error)
	}
	if ack := p.report(t, day+5, vals, "z"); ack.GetError().GetCode() != pb.ErrorCode_STALE {
		t.Fatalf("report for a future day: %v", ack.Error)
	}
	today := uint32(p.clk.now().Unix() / 86400)
	for i := range 64 {
		if ack := p.report(t, today, vals, "flood"); ack.Error != nil {
			t.Fatalf("report %d: %v", i, ack.Error)
		}
	}
	if ack := p.report(t, today, vals, "flood"); ack.GetError().GetCode() != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("65th report from one prefix: %v", ack.Error)
	}
	// A replayed item: the helper sums each nonce once.
	sh2, _ := v.ShardDay(vals, today, rand.Reader)
	lsh, _ := crypto.SealReportShare(sh2.Helper, p.hpub, rand.Reader)
	lp, _ := v.PrepInit(&p.lead.cfg.VerifyKey, sh2.Nonce, 0, sh2.Public, sh2.Leader)
	item := &pb.AggItem{Nonce: sh2.Nonce[:], PublicShare: sh2.Public, HelperShare: lsh, LeaderPrep: lp.Share}
	req := &pb.AggRequest{Body: &pb.AggRequest_Prepare{Prepare: &pb.AggPrepare{Day: today, Items: []*pb.AggItem{item, item}}}}
	r := p.help.HandleAgg(req)
	if len(r.PrepMessages) != 2 || len(r.PrepMessages[0]) == 0 || len(r.PrepMessages[1]) != 0 {
		t.Fatalf("replayed item summed twice: %d, %d", len(r.PrepMessages[0]), len(r.PrepMessages[1]))
	}
}

// BenchmarkCollectorPerReport is the two collectors' work for one report
// (open both shares, both prep inits, combine, both finishes), with the
// report's wire size and the leader's stored bytes per report.
func BenchmarkCollectorPerReport(b *testing.B) {
	v, _ := crypto.NewReportVDAF(uint(len(protocol.AnalyticsFields)), protocol.AnalyticsBits)
	lpub, lpriv, _ := crypto.NewCollectorKey(rand.Reader)
	hpub, hpriv, _ := crypto.NewCollectorKey(rand.Reader)
	var vk [32]byte
	sh, _ := v.Shard(make([]uint64, len(protocol.AnalyticsFields)), rand.Reader)
	ls, _ := crypto.SealReportShare(sh.Leader, lpub, rand.Reader)
	hs, _ := crypto.SealReportShare(sh.Helper, hpub, rand.Reader)
	rep := &pb.AnalyticsReport{Day: 1, Nonce: sh.Nonce[:], PublicShare: sh.Public, LeaderShare: ls, HelperShare: hs, Schema: protocol.AnalyticsSchema}
	la, ha := v.NewAgg(), v.NewAgg()
	// The raw baseline: opening the two sealed shares, nothing else.
	b.Run("raw-open", func(b *testing.B) {
		for b.Loop() {
			_, _ = crypto.OpenReportShare(ls, lpub, lpriv)
			_, _ = crypto.OpenReportShare(hs, hpub, hpriv)
		}
	})
	b.Run("both-collectors", func(b *testing.B) {
		for b.Loop() {
			l, _ := crypto.OpenReportShare(ls, lpub, lpriv)
			h, _ := crypto.OpenReportShare(hs, hpub, hpriv)
			pl, _ := v.PrepInit(&vk, sh.Nonce, 0, sh.Public, l)
			ph, _ := v.PrepInit(&vk, sh.Nonce, 1, sh.Public, h)
			msg, err := v.Combine(pl.Share, ph.Share)
			if err != nil {
				b.Fatal(err)
			}
			_ = la.Finish(pl, msg)
			_ = ha.Finish(ph, msg)
		}
		b.ReportMetric(float64(proto.Size(rep)), "report-bytes")
	})
}
