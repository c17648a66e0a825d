package analytics

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// BenchmarkCollectorStorage measures, for a batch of 400 reports, the
// leader's store time per report and the bbolt pages per report while the
// reports wait (what a day of 1M phones costs on disk until summed, ×1M),
// the helper's pages per summed report (seen nonces, until the day is
// collected), and both
// collectors' summing time per report over the real exchange (RunDue
// through the wire encoding).
func BenchmarkCollectorStorage(b *testing.B) {
	const n = 400
	vals := make([]uint64, len(protocol.AnalyticsFields))
	vals[0] = 1
	var storeNs, sumNs, leadBytes, helpBytes float64
	for b.Loop() {
		q := newPair(b, 2)
		reps := make([]*pb.AnalyticsReport, n) // sealed to q's keys
		for i := range reps {
			reps[i] = q.build(b, 20500, vals)
		}
		start := time.Now()
		for i, r := range reps {
			q.serve(b, r, string(rune('a'+i%20)))
		}
		storeNs = float64(time.Since(start).Nanoseconds()) / n
		// Pages the waiting reports take (the file grows in larger steps).
		_ = q.lead.db.View(func(tx *bolt.Tx) error {
			bs := tx.Bucket(bReports).Stats()
			leadBytes = float64(bs.LeafAlloc+bs.BranchAlloc) / n
			return nil
		})
		// The open day: one full batch summed, the helper's seen nonces
		// measured before the day is collected (which drops them).
		start = time.Now()
		if err := q.lead.RunDue(context.Background(), q.call); err != nil {
			b.Fatal(err)
		}
		_ = q.help.db.View(func(tx *bolt.Tx) error {
			bs := tx.Bucket(bSeen).Stats()
			helpBytes = float64(bs.LeafAlloc+bs.BranchAlloc) / float64(bs.KeyN)
			return nil
		})
		q.clk.add(3 * 24 * time.Hour)
		if err := q.lead.RunDue(context.Background(), q.call); err != nil {
			b.Fatal(err)
		}
		sumNs = float64(time.Since(start).Nanoseconds()) / n
		if len(q.lead.Published()) != 1 {
			b.Fatal("not published")
		}
	}
	b.ReportMetric(storeNs, "store-ns/report")
	b.ReportMetric(sumNs, "sum-ns/report")
	b.ReportMetric(leadBytes, "leader-page-bytes/report")
	b.ReportMetric(helpBytes, "helper-page-bytes/report")
}
