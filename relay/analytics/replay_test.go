package analytics

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestHelperRefusesDifferencingReplays plays a dishonest leader that kept
// a summed report to difference it out of a second total: presenting it
// under another day gets no prep message (its nonce names its own day,
// and the proof covers the nonce), and once a day's sum was collected the
// helper refuses any further item of that day. A phone's report whose
// nonce does not name its day is refused by the leader. The old helper
// summed both replays.
func TestHelperRefusesDifferencingReplays(t *testing.T) {
	p := newPair(t, 2)
	const day = 20500
	n := len(protocol.AnalyticsFields)
	v, _ := crypto.NewReportVDAF(uint(n), protocol.AnalyticsBits)
	vals := make([]uint64, n)
	vals[0], vals[7] = 1, 42
	sh, _ := v.ShardDay(vals, day, rand.Reader)
	hs, _ := crypto.SealReportShare(sh.Helper, p.hpub, rand.Reader)
	lp, err := v.PrepInit(&p.lead.cfg.VerifyKey, sh.Nonce, 0, sh.Public, sh.Leader)
	if err != nil {
		t.Fatal(err)
	}
	item := &pb.AggItem{Nonce: sh.Nonce[:], PublicShare: sh.Public, HelperShare: hs, LeaderPrep: lp.Share}
	prepare := func(d uint32) *pb.AggResponse {
		return p.help.HandleAgg(&pb.AggRequest{Body: &pb.AggRequest_Prepare{Prepare: &pb.AggPrepare{Day: d, Items: []*pb.AggItem{item}}}})
	}
	if r := prepare(day); r.Error != nil || len(r.PrepMessages[0]) == 0 {
		t.Fatalf("the honest item was not summed: %+v", r)
	}
	if r := prepare(day + 1); r.Error == nil && len(r.PrepMessages[0]) != 0 {
		t.Fatal("the same report was summed again under another day")
	}
	// A second honest report, then the day is collected.
	sh2, _ := v.ShardDay(vals, day, rand.Reader)
	hs2, _ := crypto.SealReportShare(sh2.Helper, p.hpub, rand.Reader)
	lp2, _ := v.PrepInit(&p.lead.cfg.VerifyKey, sh2.Nonce, 0, sh2.Public, sh2.Leader)
	r := p.help.HandleAgg(&pb.AggRequest{Body: &pb.AggRequest_Prepare{Prepare: &pb.AggPrepare{Day: day,
		Items: []*pb.AggItem{{Nonce: sh2.Nonce[:], PublicShare: sh2.Public, HelperShare: hs2, LeaderPrep: lp2.Share}}}}})
	if r.Error != nil || len(r.PrepMessages[0]) == 0 {
		t.Fatalf("second item: %+v", r)
	}
	if c := p.help.HandleAgg(&pb.AggRequest{Body: &pb.AggRequest_Collect{Collect: &pb.AggCollect{Day: day, Count: 2}}}); c.Error != nil {
		t.Fatalf("collect: %v", c.Error)
	}
	// The kept report again, on the collected day: refused outright.
	if r := prepare(day); r.GetError().GetCode() != pb.ErrorCode_REJECTED {
		t.Fatalf("a collected day took an item: %+v", r)
	}
	// The leader refuses a report whose nonce names another day.
	p.clk.add(time.Hour)
	rep := p.build(t, day, vals)
	rep.Nonce[3] ^= 1
	if ack := p.serve(t, rep, "x"); ack.GetError().GetCode() != pb.ErrorCode_BAD_REQUEST {
		t.Fatalf("a report with another day's nonce: %v", ack.Error)
	}
}

// TestHelperConcurrentPreparesAllSummed: the leader's link may carry two
// prepares of one day at once (the background loop and an operator's
// run-now); each valid item must reach the helper's sum. The old helper
// read the sum before its write transaction, so the later write replaced
// the earlier one: items it had marked seen (and answered) were lost
// from its total, and the counts of the two collectors no longer agreed.
func TestHelperConcurrentPreparesAllSummed(t *testing.T) {
	p := newPair(t, 2)
	const day, batches, per = 20500, 4, 3
	n := len(protocol.AnalyticsFields)
	v, _ := crypto.NewReportVDAF(uint(n), protocol.AnalyticsBits)
	vals := make([]uint64, n)
	vals[0] = 1
	reqs := make([]*pb.AggRequest, batches)
	for b := range reqs {
		var items []*pb.AggItem
		for range per {
			sh, _ := v.ShardDay(vals, day, rand.Reader)
			hs, _ := crypto.SealReportShare(sh.Helper, p.hpub, rand.Reader)
			lp, err := v.PrepInit(&p.lead.cfg.VerifyKey, sh.Nonce, 0, sh.Public, sh.Leader)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, &pb.AggItem{Nonce: sh.Nonce[:], PublicShare: sh.Public, HelperShare: hs, LeaderPrep: lp.Share})
		}
		reqs[b] = &pb.AggRequest{Body: &pb.AggRequest_Prepare{Prepare: &pb.AggPrepare{Day: day, Items: items}}}
	}
	var wg sync.WaitGroup
	answered := make([]int, batches)
	for b, req := range reqs {
		wg.Go(func() {
			for _, m := range p.help.HandleAgg(req).PrepMessages {
				if len(m) != 0 {
					answered[b]++
				}
			}
		})
	}
	wg.Wait()
	for b, a := range answered {
		if a != per {
			t.Fatalf("batch %d: %d of %d items answered", b, a, per)
		}
	}
	agg, err := p.help.loadSum(day)
	if err != nil {
		t.Fatal(err)
	}
	if agg.Count != batches*per {
		t.Fatalf("helper's sum counts %d reports, answered %d", agg.Count, batches*per)
	}
}
