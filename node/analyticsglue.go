package node

// Anonymous analytics (DESIGN.md P13; node/analytics). Off by default:
// when off nothing is counted and nothing is sent. When on, the node counts
// events by kind (never their IDs, names or contents) per day and, once a
// day at a random time, sends the finished days' reports from a one-off
// transport identity to the network's leader collector.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/imigee/imigee/node/analytics"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// AnalyticsConfig configures anonymous analytics.
type AnalyticsConfig struct {
	// Enabled turns counting and the daily report on. Default off.
	Enabled bool
	// Leader is the leader collector's multiaddr ending in /p2p/ID.
	Leader string
	// LeaderKey and HelperKey are the collectors' 32-byte X25519 public
	// keys, from the network configuration.
	LeaderKey, HelperKey []byte
	// Platform is "android", "ios" or "desktop" (one-hot in the report).
	Platform string
	// AppVersion is the app's version string; the report carries only its
	// bucket (protocol.AnalyticsHashBucket, one-hot app_version_*), never
	// the text. Empty: no bucket set.
	AppVersion string
}

// ErrAnalyticsOff: SendAnalytics while analytics are off (nothing sent).
var ErrAnalyticsOff = errors.New("node: analytics are off")

const settingAnalytics = "analytics-counters"

func (n *Node) openAnalytics() {
	if !n.cfg.Analytics.Enabled {
		return
	}
	saved := map[uint32][]uint64{}
	_ = n.getJSON(localstore.Settings, settingAnalytics, &saved)
	n.an = analytics.NewCounters(saved)
	n.anDirty = make(chan struct{}, 1)
	n.anSend = make(chan struct{}, 1)
}

func (n *Node) analyticsDay() uint32 { return uint32(n.cfg.Now().Unix() / 86400) }

// countEvent turns an event into counts: its kind, item type and path
// only. Deliveries are counted where their time to deliver is known
// (markDelivered → countDelivered).
func (n *Node) countEvent(e *Event) {
	if n.an == nil {
		return
	}
	switch e.Kind {
	case EventItemReceived:
		n.count("received_"+e.Type, "accepted")
	case EventMessage:
		n.count("received_message")
	case EventLike:
		n.count("received_like")
	case EventItemOffered:
		n.count("offered")
	case EventDeliveryFailed:
		if e.Err == FailRejected {
			n.count("delivery_failed", "rejected")
		} else {
			n.count("delivery_failed")
		}
	case EventFriendNearby:
		n.count("friend_nearby") // a live meeting
	case EventFriendWasNearby:
		n.count("friend_was_nearby") // a late meeting (issue 10)
	case EventFriendLinked:
		n.count("friend_linked")
	case EventContactMatch:
		n.count("contact_match")
	}
}

// persistAnalytics asks the persister goroutine to write the counters.
// One goroutine writes, always the latest snapshot it takes after the
// wake-up, so a write of an older snapshot can never land after a newer
// one (a day already sent could otherwise come back after a restart), and
// no caller waits on the disk.
func (n *Node) persistAnalytics() {
	select {
	case n.anDirty <- struct{}{}:
	default: // a write is pending already; it will see this change
	}
}

// analyticsPersister is the one writer of the counters, owned by the node
// (n.wg); a last write happens when the node stops.
func (n *Node) analyticsPersister(ctx context.Context) {
	for {
		select {
		case <-n.anDirty:
		case <-ctx.Done():
			select {
			case <-n.anDirty:
				_ = n.putJSON(localstore.Settings, settingAnalytics, n.an.Snapshot())
			default:
			}
			return
		}
		_ = n.putJSON(localstore.Settings, settingAnalytics, n.an.Snapshot())
	}
}

// AnalyticsPreview returns what today's report would contain, field by
// field (nil when analytics are off): the user can see everything sent.
func (n *Node) AnalyticsPreview() map[string]uint64 {
	if n.an == nil {
		return nil
	}
	vals := n.reportValues(n.analyticsDay())
	out := make(map[string]uint64, len(vals))
	for i, f := range protocol.AnalyticsFields {
		out[f] = vals[i]
	}
	return out
}

func (n *Node) reportValues(day uint32) []uint64 {
	vals := n.an.Values(day)
	oneHot := []string{versionField(n.cfg.Analytics.AppVersion)}
	if p := n.cfg.Analytics.Platform; p != "" {
		oneHot = append(oneHot, "platform_"+p)
	}
	for i, f := range protocol.AnalyticsFields {
		if slices.Contains(oneHot, f) {
			vals[i] = 1
		}
	}
	return vals
}

// SendAnalytics sends the report of every finished day not yet sent, each
// from its own one-off transport identity, and returns how many were
// taken. With analytics off it sends nothing and returns ErrAnalyticsOff.
func (n *Node) SendAnalytics(ctx context.Context) (int, error) {
	return n.sendDays(ctx, func(day, today uint32) bool { return day < today })
}

// SendAnalyticsToday sends today's report now and forgets today's counts,
// from its own one-off transport identity, as if the day had ended. It is
// for testnets, whose day ends with the run (test/testnet); a phone sends
// only finished days (SendAnalytics). ErrAnalyticsOff when off.
func (n *Node) SendAnalyticsToday(ctx context.Context) error {
	_, err := n.sendDays(ctx, func(day, today uint32) bool { return day == today })
	return err
}

// sendDays sends and forgets each held day that pick selects (and today,
// when pick selects it, even with nothing counted). One send runs at a
// time (anSend): two concurrent sends (the daily loop and the app's
// SendAnalytics) would each report a day before either forgot it, and
// the collectors cannot tell the two reports apart, so the phone would
// count twice in that day's totals.
func (n *Node) sendDays(ctx context.Context, pick func(day, today uint32) bool) (int, error) {
	if n.an == nil {
		return 0, ErrAnalyticsOff
	}
	a := n.cfg.Analytics
	if len(a.LeaderKey) != 32 || len(a.HelperKey) != 32 || a.Leader == "" {
		return 0, fmt.Errorf("node: analytics collectors not configured: %w", ErrBadArgument)
	}
	select {
	case n.anSend <- struct{}{}:
		defer func() { <-n.anSend }()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	col := analytics.Collectors{Leader: a.Leader, LeaderKey: (*[32]byte)(a.LeaderKey), HelperKey: (*[32]byte)(a.HelperKey)}
	today, sent := n.analyticsDay(), 0
	days := n.an.Days()
	if pick(today, today) && !slices.Contains(days, today) {
		days = append(days, today)
	}
	defer n.persistAnalytics()
	for _, day := range days {
		if !pick(day, today) {
			continue
		}
		rep, err := analytics.Build(day, n.reportValues(day), col)
		if err != nil {
			return sent, err
		}
		if err := n.sendReport(ctx, rep, a.Leader); err != nil {
			return sent, err
		}
		n.an.Forget(day)
		sent++
	}
	return sent, nil
}

// sendReport sends one report from a one-off client host made for it
// (clientHost: the same host options and Config.HostFactory as the relay
// puts), closed after it.
func (n *Node) sendReport(ctx context.Context, rep *pb.AnalyticsReport, leader string) error {
	h, err := n.clientHost()
	if err != nil {
		return fmt.Errorf("node: analytics host: %w", err)
	}
	defer h.Close()
	return analytics.Send(ctx, h, rep, leader)
}

// analyticsLoop sends the finished days once a day at a random time of the
// day (real time), until the node stops.
func (n *Node) analyticsLoop(ctx context.Context) {
	for {
		now := n.cfg.Now()
		next := now.Truncate(24 * time.Hour).Add(24*time.Hour + time.Duration(rand.Int64N(int64(20*time.Hour))))
		select {
		case <-ctx.Done():
			return
		case <-time.After(next.Sub(now)):
		}
		if _, err := n.SendAnalytics(ctx); err != nil && !errors.Is(err, ErrAnalyticsOff) {
			n.log.Debug("analytics report not sent", "err", err)
		}
	}
}
