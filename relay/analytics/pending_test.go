package analytics

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestPendingIsACount: Pending is a count kept beside the reports bucket
// (no walk per metrics scrape): a repeated report does not move it, a
// refused one does not either, summing brings it to zero, and a reopened
// collector starts from what its file holds.
func TestPendingIsACount(t *testing.T) {
	p := newPair(t, 2)
	const day = 20500
	vals := make([]uint64, len(protocol.AnalyticsFields))
	vals[0] = 1
	for range 5 {
		p.report(t, day, vals, "a")
	}
	if p.lead.Pending() != 5 {
		t.Fatalf("pending %d, want 5", p.lead.Pending())
	}
	// The same report twice: one key, one count.
	rep := p.build(t, day, vals)
	p.serve(t, rep, "b")
	p.serve(t, rep, "b")
	if ack := p.report(t, day+9, vals, "c"); ack.Error == nil {
		t.Fatal("a future day was taken")
	}
	if p.lead.Pending() != 6 {
		t.Fatalf("pending %d after a repeat and a refusal, want 6", p.lead.Pending())
	}
	// Reopen: the count comes back from the file.
	path := p.lead.db.Path()
	cfg := p.lead.cfg
	p.lead.Close()
	re, err := New(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	p.lead = re
	t.Cleanup(func() { re.Close() })
	if re.Pending() != 6 {
		t.Fatalf("pending %d after reopening, want 6", re.Pending())
	}
	p.clk.add(3 * 24 * time.Hour)
	if err := re.RunDue(context.Background(), p.call); err != nil {
		t.Fatal(err)
	}
	if re.Pending() != 0 || len(re.Published()) != 1 || re.Published()[0].Count != 6 {
		t.Fatalf("pending %d, published %+v", re.Pending(), re.Published())
	}
}

// TestOpenDaySummedInFullBatches: a day still open for reports is summed
// in full batches (the leader keeps fewer than a batch of its reports,
// not the whole day's) and not published; once its window closes, the
// rest is summed and the day published with the true totals.
func TestOpenDaySummedInFullBatches(t *testing.T) {
	p := newPair(t, 2)
	p.lead.cfg.Batch = 16
	day := uint32(p.clk.now().Unix() / 86400)
	n := 2*16 + 5
	vals := make([]uint64, len(protocol.AnalyticsFields))
	vals[0], vals[5] = 1, 3
	for i := range n {
		p.report(t, day, vals, string(rune('a'+i%20)))
	}
	if err := p.lead.RunDue(context.Background(), p.call); err != nil {
		t.Fatal(err)
	}
	if p.lead.Pending() != 5 || len(p.lead.Published()) != 0 {
		t.Fatalf("open day: %d pending (want 5), published %+v", p.lead.Pending(), p.lead.Published())
	}
	p.clk.add(3 * 24 * time.Hour)
	if err := p.lead.RunDue(context.Background(), p.call); err != nil {
		t.Fatal(err)
	}
	pub := p.lead.Published()
	if p.lead.Pending() != 0 || len(pub) != 1 || pub[0].Count != uint64(n) || pub[0].Totals[protocol.AnalyticsFields[5]] != uint64(3*n) {
		t.Fatalf("closed day: %d pending, published %+v", p.lead.Pending(), pub)
	}
}

// TestLatestKeptInMemory: Latest (read by one gauge per field on every
// metrics scrape) follows each publish and comes back from the file when
// the collector is reopened.
func TestLatestKeptInMemory(t *testing.T) {
	p := newPair(t, 2)
	const day = 20500
	vals := make([]uint64, len(protocol.AnalyticsFields))
	vals[0] = 1
	if p.lead.Latest().Count != 0 {
		t.Fatal("a fresh collector has a latest day")
	}
	for range 3 {
		p.report(t, day, vals, "a")
	}
	p.clk.add(3 * 24 * time.Hour)
	if err := p.lead.RunDue(context.Background(), p.call); err != nil {
		t.Fatal(err)
	}
	want := p.lead.Published()
	if l := p.lead.Latest(); len(want) != 1 || !reflect.DeepEqual(l, want[0]) {
		t.Fatalf("latest %+v after publishing %+v", l, want)
	}
	path, cfg := p.lead.db.Path(), p.lead.cfg
	p.lead.Close()
	re, err := New(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	p.lead = re
	t.Cleanup(func() { re.Close() })
	if l := re.Latest(); !reflect.DeepEqual(l, want[0]) {
		t.Fatalf("latest %+v after reopening, want %+v", l, want[0])
	}
}

// TestConcurrentRunsPublishOnce: the background loop's RunDue and an
// operator's RunNow may overlap. Every report must reach the published
// total. Two runs at once each sent the same reports to the helper, which
// summed them once; the later run's store dropped the earlier's, the
// collectors' counts then differed and the day was never published.
func TestConcurrentRunsPublishOnce(t *testing.T) {
	p := newPair(t, 2)
	const day = 20500
	vals := make([]uint64, len(protocol.AnalyticsFields))
	vals[0] = 1
	const reports = 20
	for range reports {
		p.report(t, day, vals, "a")
	}
	p.clk.add(3 * 24 * time.Hour)
	var mu sync.Mutex
	call := func(ctx context.Context, req *pb.AggRequest) (*pb.AggResponse, error) {
		mu.Lock() // the test pair's call counter is not synchronised
		defer mu.Unlock()
		return p.call(ctx, req)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = p.lead.RunDue(context.Background(), call)
			} else {
				errs[i] = p.lead.RunNow(context.Background(), call)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	pub := p.lead.Published()
	if len(pub) != 1 || pub[0].Count != reports || pub[0].Totals["reports"] != reports {
		t.Fatalf("published %+v, want one day of %d reports", pub, reports)
	}
}
