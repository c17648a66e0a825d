package node

// Where the analytics counters (analyticsglue.go, DESIGN.md P13) are fed
// from, beyond the events countEvent sees: deliveries with their time to
// deliver, discovery delay, location accuracy, network changes, relay
// connects, the app version and crash signatures. Every feed turns what it
// knows into one coarse bucket on the spot; no time, place, ID or text is
// kept for analytics.

import (
	"strconv"
	"time"

	"github.com/imigee/imigee/protocol"
)

// anLocEvery is the finest rate location fixes are counted at: one a
// minute (a GPS gives one a second; the 16-bit fields would saturate).
const anLocEvery = time.Minute

// count adds one to each field for today; nothing when analytics are off.
func (n *Node) count(fields ...string) {
	if n.an == nil || len(fields) == 0 {
		return
	}
	day := n.analyticsDay()
	for _, f := range fields {
		_ = n.an.Add(day, f, 1) // an unknown name (type, path) is not counted
	}
	n.persistAnalytics()
}

// ttdBucket is the time-to-deliver field for d.
func ttdBucket(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return "ttd_under_10s"
	case d < time.Minute:
		return "ttd_under_1m"
	case d < 10*time.Minute:
		return "ttd_under_10m"
	case d < time.Hour:
		return "ttd_under_1h"
	case d < 24*time.Hour:
		return "ttd_under_1d"
	}
	return "ttd_over_1d"
}

// discBucket is the discovery-delay field for d.
func discBucket(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "disc_under_1m"
	case d < 5*time.Minute:
		return "disc_under_5m"
	case d < 15*time.Minute:
		return "disc_under_15m"
	case d < time.Hour:
		return "disc_under_1h"
	}
	return "disc_over_1h"
}

// accBucket is the location-accuracy field for a fix of acc metres: four
// bands, never a place (P3/P4).
func accBucket(acc float64) string {
	switch {
	case acc < 10:
		return "loc_acc_under_10m"
	case acc < 50:
		return "loc_acc_under_50m"
	case acc < 200:
		return "loc_acc_under_200m"
	}
	return "loc_acc_over_200m"
}

// netField is the network-change field of a NetworkChanged kind.
func netField(kind string) string {
	switch kind {
	case NetworkWifi:
		return "net_wifi"
	case NetworkCellular:
		return "net_cellular"
	case NetworkNone:
		return "net_none"
	}
	return "net_other"
}

// versionField is the app_version_* field of a version string ("" when
// none is configured).
func versionField(v string) string {
	if v == "" {
		return ""
	}
	return "app_version_" + strconv.Itoa(protocol.AnalyticsHashBucket(v))
}

// countDelivered counts one item delivered to one friend: its type, its
// path and its time from share (created, unix seconds) to the receipt.
func (n *Node) countDelivered(typ, via string, created int64) {
	if n.an == nil {
		return
	}
	ttd := n.cfg.Now().Sub(time.Unix(created, 0))
	n.count("shared_"+typ, "delivered_"+via, ttdBucket(max(ttd, 0)))
}

// countDiscovery counts the delay from arriving at the current place
// (since) to a friend found there. Only the later of two friends to arrive
// counts it (the caller's match answered its own announcement), so each
// meeting is counted once and the delay is the true one.
func (n *Node) countDiscovery(since time.Time) {
	if n.an != nil && !since.IsZero() {
		n.count(discBucket(max(n.cfg.Now().Sub(since), 0)))
	}
}

// countLocation counts a location fix's accuracy band, at most once per
// anLocEvery.
func (n *Node) countLocation(acc float64) {
	if n.an == nil {
		return
	}
	now := n.cfg.Now().Unix()
	last := n.anLocAt.Load()
	if now-last < int64(anLocEvery/time.Second) || !n.anLocAt.CompareAndSwap(last, now) {
		return
	}
	n.count(accBucket(acc))
}

// countRelayConnect counts an attempt to attach to a relay.
func (n *Node) countRelayConnect(ok bool) {
	if ok {
		n.count("relay_connect_ok")
	} else {
		n.count("relay_connect_failed")
	}
}

// CountCrash counts one crash caught at the mobile boundary, in the
// bucket of its top function's name (protocol.AnalyticsHashBucket): the
// name itself is neither kept nor sent. top may be "" (bucket of "").
func (n *Node) CountCrash(top string) {
	n.count("crash", "crash_sig_"+strconv.Itoa(protocol.AnalyticsHashBucket(top)))
}
