package node

import (
	"strconv"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay"
)

func analyticsOn(version string) nodeOpt {
	return func(cfg *Config) {
		cfg.Analytics = AnalyticsConfig{Enabled: true, Platform: "ios", AppVersion: version}
	}
}

// want checks some preview fields and that every other field of the
// listed groups is 0.
func wantFields(t *testing.T, who string, pv map[string]uint64, want map[string]uint64, groups ...string) {
	t.Helper()
	for f, w := range want {
		if pv[f] != w {
			t.Errorf("%s: %s = %d, want %d", who, f, pv[f], w)
		}
	}
	for _, g := range groups {
		for _, f := range protocol.AnalyticsFields {
			if _, ok := want[f]; !ok && len(f) > len(g) && f[:len(g)] == g && pv[f] != 0 {
				t.Errorf("%s: %s = %d, want 0", who, f, pv[f])
			}
		}
	}
}

// TestAnalyticsFeeds (P13): the schema's fields are fed from where the
// node knows them, each as one coarse bucket. a arrives first and
// announces; b arrives 6 minutes later (app closed, then opened): only b,
// the later one, counts the discovery delay (disc_under_15m), so one
// meeting is counted once; both count a live meeting. Location fixes are
// counted by accuracy band at most once a minute. A message b sends a is
// counted at b as shared, delivered directly, with its time to deliver.
// Network changes by kind, relay attaches that work and fail, late
// meetings, the app version's bucket. With the old code the delivery,
// discovery, accuracy, network, relay and version fields stayed 0.
func TestAnalyticsFeeds(t *testing.T) {
	clock := newTestClock()
	r := startRelay(t, clock)
	ra := relayAddrs(r)
	a := newTestNode(t, clock, ra, analyticsOn("1.0.0"))
	b := newTestNode(t, clock, ra, analyticsOn("1.0.1"))
	bID, aID := link(t, a, b)

	a.SetAppOpen(true)
	if err := a.SetLocation(lat0, lng0, 5); err != nil {
		t.Fatal(err)
	}
	_ = a.SetLocation(lat0, lng0, 500) // within the minute: not counted
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 40)
	if err := b.SetLocation(lat1, lng1, 30); err != nil {
		t.Fatal(err)
	}
	// a announces (its tokens reach the relay); b (app closed, not
	// dwelling) does not.
	deadline := time.Now().Add(10 * time.Second)
	for rendezvousEntries(t, r) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a never announced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	clock.Add(6 * time.Minute) // the same proximity epoch
	b.SetAppOpen(true)
	b.ev.wait(t, EventFriendNearby, func(e Event) bool { return e.FriendID == aID }, 10*time.Second)
	a.ev.wait(t, EventFriendNearby, func(e Event) bool { return e.FriendID == bID }, 10*time.Second)

	if _, err := b.SendMessage(aID, "hello"); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventDelivered, nil, 10*time.Second)
	if err := a.NetworkChanged(NetworkWifi, false); err != nil {
		t.Fatal(err)
	}
	_ = a.NetworkChanged(NetworkNone, false)
	a.countEvent(&Event{Kind: EventFriendWasNearby, FriendID: bID, From: 1, To: 2})

	// A node whose one relay is gone: its attach fails.
	dead := startRelay(t, clock)
	deadAddrs := relayAddrs(dead)
	dead.Close()
	c := newTestNode(t, clock, deadAddrs, analyticsOn(""))

	// c's attach fails in the background (a dial to a closed port).
	deadline = time.Now().Add(20 * time.Second)
	for c.AnalyticsPreview()["relay_connect_failed"] == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	pa, pb, pc := a.AnalyticsPreview(), b.AnalyticsPreview(), c.AnalyticsPreview()
	wantFields(t, "a", pa, map[string]uint64{
		"friend_nearby": 1, "friend_was_nearby": 1, "loc_acc_under_10m": 1, "net_wifi": 1, "net_none": 1,
		"received_message": 1, "platform_ios": 1,
		"app_version_" + strconv.Itoa(protocol.AnalyticsHashBucket("1.0.0")): 1,
	}, "disc_", "loc_acc_", "app_version_", "shared_", "ttd_")
	if pa["relay_connect_ok"] < 1 || pa["relay_connect_failed"] != 0 {
		t.Errorf("a: relay connects ok %d, failed %d", pa["relay_connect_ok"], pa["relay_connect_failed"])
	}
	wantFields(t, "b", pb, map[string]uint64{
		"friend_nearby": 1, "disc_under_15m": 1, "loc_acc_under_50m": 1,
		"shared_message": 1, "delivered_direct": 1, "ttd_under_10s": 1,
		"app_version_" + strconv.Itoa(protocol.AnalyticsHashBucket("1.0.1")): 1,
	}, "disc_", "loc_acc_", "app_version_", "ttd_", "net_")
	if pc["relay_connect_failed"] < 1 || pc["relay_connect_ok"] != 0 {
		t.Errorf("c: relay connects ok %d, failed %d", pc["relay_connect_ok"], pc["relay_connect_failed"])
	}
	wantFields(t, "c", pc, map[string]uint64{}, "app_version_")
}

// rendezvousEntries reads the relay's gauge of tokens held.
func rendezvousEntries(t *testing.T, r *relay.Relay) float64 {
	t.Helper()
	mfs, err := r.MetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "imigee_relay_rendezvous_entries" {
			for _, m := range mf.GetMetric() {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}
