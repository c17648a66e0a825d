package node

import (
	"os"
	"sync"
	"testing"
	"time"
)

// BenchmarkTransferTimeline8MiB splits one 8 MiB share (sealed beforehand,
// auto-accepted, one friend) into its phases, medians in ms from the
// moment deliveries are released: the first and last chunk read at the
// recipient (its chunk hook), item_received there, delivered back at the
// sender. It explains BenchmarkTransfer8MiB's ratio (docs/BENCH.md): the
// raw fsynced stream has no offer before its data and one fsync and one
// byte after it.
func BenchmarkTransferTimeline8MiB(b *testing.B) {
	w := newShareWorld(b, 1, benchSize)
	r := w.rnodes[0]
	var mu sync.Mutex
	var first, last time.Time
	r.xf.mu.Lock()
	r.xf.recvHook = func(_ string, i int64) {
		now := time.Now()
		mu.Lock()
		if first.IsZero() {
			first = now
		}
		last = now
		mu.Unlock()
	}
	r.xf.mu.Unlock()
	var tFirst, tLast, tRecv, tDeliv, tData, tTail []time.Duration
	for i := 0; i < b.N; i++ {
		mu.Lock()
		first, last = time.Time{}, time.Time{}
		mu.Unlock()
		w.a.holdDeliveries(true)
		id, err := w.a.ShareVideo(w.path, w.ids)
		if err != nil {
			b.Fatal(err)
		}
		w.a.waitSealed(id)
		start := time.Now()
		w.a.holdDeliveries(false)
		var recvAt, delivAt time.Time
		var path string
		for recvAt.IsZero() || delivAt.IsZero() {
			select {
			case e := <-w.rs[0].received:
				recvAt, path = time.Now(), e.Path
			case <-w.aev.delivered:
				delivAt = time.Now()
			case <-time.After(120 * time.Second):
				b.Fatal("transfer did not finish")
			}
		}
		mu.Lock()
		tFirst = append(tFirst, first.Sub(start))
		tLast = append(tLast, last.Sub(start))
		mu.Unlock()
		tRecv = append(tRecv, recvAt.Sub(start))
		tDeliv = append(tDeliv, delivAt.Sub(start))
		tData = append(tData, tLast[len(tLast)-1]-tFirst[len(tFirst)-1])
		tTail = append(tTail, delivAt.Sub(start)-tLast[len(tLast)-1])
		_ = os.Remove(path)
		drain(w.aev.sealed)
	}
	ms := func(d []time.Duration) float64 { return float64(medianDur(d).Microseconds()) / 1e3 }
	b.ReportMetric(ms(tFirst), "first-chunk-ms")
	b.ReportMetric(ms(tLast), "last-chunk-ms")
	b.ReportMetric(ms(tRecv), "received-ms")
	b.ReportMetric(ms(tDeliv), "delivered-ms")
	// Per share, medians: the data phase (first to last chunk) and the
	// tail (last chunk to delivered: syncs, rename, receipt, commits).
	b.ReportMetric(ms(tData), "data-ms")
	b.ReportMetric(ms(tTail), "tail-ms")
}
