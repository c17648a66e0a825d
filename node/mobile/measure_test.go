package mobile

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/imigee/imigee/relay"
)

// Measurements for docs/mobile.md, off by default (minutes of wall time):
//
//	MOBILE_MEASURE=1 [MOBILE_MEASURE_WINDOW=60s] go test -run Measure -v ./node/mobile

func measureWindow(t *testing.T) time.Duration {
	t.Helper()
	if os.Getenv("MOBILE_MEASURE") == "" {
		t.Skip("set MOBILE_MEASURE=1 to measure")
	}
	if d, err := time.ParseDuration(os.Getenv("MOBILE_MEASURE_WINDOW")); err == nil {
		return d
	}
	return time.Minute
}

// TestMeasureIdleTraffic counts the datagrams and bytes between one idle
// node (one friend, nothing pending) and its relay in each app state, and
// scales them to an hour.
func TestMeasureIdleTraffic(t *testing.T) {
	win := measureWindow(t)
	srv, _ := pushEndpoint(t)
	r := startRelay(t, func(c *relay.Config) {
		c.Push.AllowHosts = []string{"127.0.0.1"}
		c.Push.AllowHTTP = true
	})
	addr, up := relayQUIC(t, r)
	fw := newUDPCounter(t, up)
	a, _ := newStarted(t, fw.addr(r))
	b, _ := newStarted(t, addr)
	linkPair(t, a, b)
	time.Sleep(2 * time.Second) // settle: link, subscription, catch-up
	measure := func(name string) {
		d0, b0 := fw.dgrams.Load(), fw.bytes.Load()
		time.Sleep(win)
		d, by := fw.dgrams.Load()-d0, fw.bytes.Load()-b0
		scale := float64(time.Hour) / float64(win)
		t.Logf("%-28s %6d datagrams %8d bytes in %v  => %8.0f datagrams/h %10.0f bytes/h",
			name, d, by, win, float64(d)*scale, float64(by)*scale)
	}
	measure("foreground")
	d0, b0 := fw.dgrams.Load(), fw.bytes.Load()
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	time.Sleep(closeSettle)
	t.Logf("going to sleep without push (closing the connection): %d datagrams %d bytes",
		fw.dgrams.Load()-d0, fw.bytes.Load()-b0)
	measure("background, no push")
	if err := a.SetAppState(AppForeground); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPushEndpoint(srv.URL + "/up/x"); err != nil {
		t.Fatal(err)
	}
	d0, b0 = fw.dgrams.Load(), fw.bytes.Load()
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	time.Sleep(closeSettle)
	t.Logf("going to sleep with push (registration, then close): %d datagrams %d bytes",
		fw.dgrams.Load()-d0, fw.bytes.Load()-b0)
	measure("background, push registered")
}

// TestMeasureSyncOnce100Friends times SyncOnce for a backgrounded node
// with 100 friends: with nothing new (a catch-up over 100 friends'
// mailboxes) and with 10 messages waiting from 10 friends.
func TestMeasureSyncOnce100Friends(t *testing.T) {
	measureWindow(t)
	friends := 100
	if s := os.Getenv("MOBILE_MEASURE_FRIENDS"); s != "" {
		friends, _ = strconv.Atoi(s)
	}
	r := startRelay(t, nil)
	addr, _ := relayQUIC(t, r)
	a, _ := newStarted(t, addr)
	var senders []*Node
	for i := 0; i < friends; i++ {
		f, _ := newStarted(t, addr)
		linkPair(t, a, f)
		if i < 10 {
			senders = append(senders, f)
		} else if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	sync := func(name string) {
		t0 := time.Now()
		s, err := a.SyncOnce(60000)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-34s %v  %s", name, time.Since(t0).Round(time.Millisecond), s)
	}
	sync("SyncOnce, nothing new")
	sync("SyncOnce, nothing new (again)")
	for _, f := range senders {
		if _, err := f.SendMessage(a.ID(), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	// Each sender gives up its direct attempt (DirectDialBudget) and posts.
	time.Sleep(5 * time.Second)
	sync("SyncOnce, 10 messages waiting")
}
