package node

import (
	"testing"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

// BenchmarkMeetingKnownFullWaiting: the cost of one new meeting span (a
// live one comes every epoch per friend met) with MaxTogetherWaiting
// photos waiting and none in the span, against the raw baseline of
// reading the bucket once (open every record, no decoding), the two
// alternating inside one loop so load drift cancels out. It reports
// ms/meeting and known/raw (docs/BENCH.md; goal ≤ 3).
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
	var raw, known time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		k := 0
		_ = x.store.ForEach(localstore.Together, func([]byte) error { k++; return nil })
		t1 := time.Now()
		x.offerMeeting(m)
		known += time.Since(t1)
		raw += t1.Sub(t0)
		if k != MaxTogetherWaiting {
			b.Fatal(k)
		}
	}
	b.ReportMetric(float64(known.Microseconds())/1000/float64(b.N), "ms/meeting")
	b.ReportMetric(float64(known)/float64(raw), "known/raw")
}
