package node

import (
	"testing"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

// BenchmarkMeetingKnownFullWaiting: the cost of one new meeting span (a
// live one comes every epoch per friend met) with MaxTogetherWaiting
// photos waiting and none in the span, against the raw baseline of
// reading the bucket once (open every record, no decoding), alternating
// inside one loop so load drift cancels out. known/raw (goal ≤ 3,
// docs/BENCH.md) is a meeting with nothing written to the bucket since
// the last one, the usual case, which looks through the records the last
// meeting read (offerMeeting); cold/raw is a meeting right after a write
// (a photo registered, a proposal stored), which reads and decodes them
// all again.
func BenchmarkMeetingKnownFullWaiting(b *testing.B) {
	clock := newTestClock()
	r := startRelay(b, clock)
	ra := relayAddrs(r)
	noSync := func(c *Config) { c.NoSync = true }
	x := newTestNode(b, clock, ra, noSync)
	y := newTestNode(b, clock, ra, noSync)
	yID, _ := link(b, x, y)
	path, _ := writeFile(b, 100)
	for i := range MaxTogetherWaiting {
		if _, err := x.SharePhotoTogether(path, clock.Now().Add(-time.Duration(i+1)*time.Minute).Unix(), true); err != nil {
			b.Fatal(err)
		}
	}
	if st := x.TogetherStats(); st.Waiting != MaxTogetherWaiting {
		b.Fatalf("waiting %d", st.Waiting)
	}
	m := Meeting{FriendID: yID, From: clock.Now().Add(time.Hour).Unix(), To: clock.Now().Add(time.Hour + 10*time.Minute).Unix(), Kind: MeetingLive}
	var raw, known, cold time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		k := 0
		_ = x.store.ForEach(localstore.Together, func([]byte) error { k++; return nil })
		x.tg.mu.Lock()
		x.tg.recsOK = false // as a write to the bucket would
		x.tg.mu.Unlock()
		t1 := time.Now()
		x.offerMeeting(m)
		t2 := time.Now()
		x.offerMeeting(m)
		known += time.Since(t2)
		cold += t2.Sub(t1)
		raw += t1.Sub(t0)
		if k != MaxTogetherWaiting {
			b.Fatal(k)
		}
	}
	b.ReportMetric(float64(known.Microseconds())/1000/float64(b.N), "ms/meeting")
	b.ReportMetric(float64(known)/float64(raw), "known/raw")
	b.ReportMetric(float64(cold.Microseconds())/1000/float64(b.N), "cold-ms/meeting")
	b.ReportMetric(float64(cold)/float64(raw), "cold/raw")
}
