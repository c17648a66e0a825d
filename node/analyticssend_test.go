package node

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestAnalyticsConcurrentSendsReportADayOnce (P13): the daily loop and the
// app's SendAnalytics may run at once. The leader, which records every
// report it takes, must get one report of the finished day, not two: the
// collectors cannot tell two reports of one phone apart, so a second
// would count the phone twice in the day's totals. The old sends each
// listed the day before either forgot it and both sent it.
func TestAnalyticsConcurrentSendsReportADayOnce(t *testing.T) {
	clock := newTestClock()
	c := startCollectors(t, clock, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	on := newTestNode(t, clock, nil, func(cfg *Config) {
		cfg.Analytics = AnalyticsConfig{Enabled: true, Leader: c.leaderAddr, LeaderKey: c.lpub[:], HelperKey: c.hpub[:], Platform: "desktop"}
	})
	on.countEvent(&Event{Kind: EventFriendNearby})
	clock.Add(24 * time.Hour)
	const callers = 3
	var wg sync.WaitGroup
	sent := make([]int, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { sent[i], errs[i] = on.SendAnalytics(ctx) })
	}
	wg.Wait()
	total := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		total += sent[i]
	}
	if total != 1 {
		t.Fatalf("the finished day was reported %d times", total)
	}
	if p := c.leader.AnalyticsCollector().Pending(); p != 1 {
		t.Fatalf("the leader holds %d reports of one phone's day", p)
	}
}
