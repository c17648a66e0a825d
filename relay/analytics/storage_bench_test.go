package analytics

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// BenchmarkCollectorStorage measures, for a batch of 400 reports, the
// leader's store time per report and its file bytes per report while the
// reports wait (what a day of 1M phones costs on disk until summed, ×1M),
// the helper's file bytes per report after summing (seen nonces), and both
// collectors' summing time per report over the real exchange (RunDue
// through the wire encoding).
func BenchmarkCollectorStorage(b *testing.B) {
	const n = 400
	p := newPair(b, 2)
	reps := make([]*pb.AnalyticsReport, n)
	vals := make([]uint64, len(protocol.AnalyticsFields))
	vals[0] = 1
	for i := range reps {
		reps[i] = p.build(b, 20500, vals)
	}
	var storeNs, sumNs, leadBytes, helpBytes float64
	for b.Loop() {
		q := newPair(b, 2)
		start := time.Now()
		for i, r := range reps {
			q.serve(b, r, string(rune('a'+i%20)))
		}
		storeNs = float64(time.Since(start).Nanoseconds()) / n
		_ = q.lead.db.Sync()
		st, _ := os.Stat(q.lead.db.Path())
		leadBytes = float64(st.Size()) / n
		q.clk.add(3 * 24 * time.Hour)
		start = time.Now()
		if err := q.lead.RunDue(context.Background(), q.call); err != nil {
			b.Fatal(err)
		}
		sumNs = float64(time.Since(start).Nanoseconds()) / n
		st, _ = os.Stat(q.help.db.Path())
		helpBytes = float64(st.Size()) / n
	}
	b.ReportMetric(storeNs, "store-ns/report")
	b.ReportMetric(sumNs, "sum-ns/report")
	b.ReportMetric(leadBytes, "leader-file-bytes/report")
	b.ReportMetric(helpBytes, "helper-file-bytes/report")
}
