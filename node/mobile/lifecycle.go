package mobile

import (
	"context"
	"encoding/json"
	"time"

	"github.com/imigee/imigee/node"
)

// App states of SetAppState.
const (
	AppForeground = node.AppForeground
	AppInactive   = node.AppInactive
	AppBackground = node.AppBackground
)

// Network kinds of NetworkChanged.
const (
	NetworkWifi     = node.NetworkWifi
	NetworkCellular = node.NetworkCellular
	NetworkEthernet = node.NetworkEthernet
	NetworkOther    = node.NetworkOther
	NetworkNone     = node.NetworkNone
)

// EventSyncDone ends every SyncOnce (and every wake-up the node makes on
// its own in the background); Event.Text holds the summary JSON.
const EventSyncDone = node.EventSyncDone

// DefaultSyncTimeoutMs is SyncOnce's time-out when given <= 0: 25 s, inside
// the ~30 s iOS grants a background fetch or push handler.
const DefaultSyncTimeoutMs = 25000

// testListenAddrs, if set (tests only), replaces the listen addresses so
// tests bind 127.0.0.1 only.
var testListenAddrs []string

// Stop stops networking and keeps the store open: the data API still
// works, and Start brings networking back (with a fresh transport
// identity). Blocks until every network goroutine ended (well under a
// second).
func (m *Node) Stop() error {
	return m.do("Stop", func(n *node.Node) error { return n.Stop() })
}

// SetAppState tells the node AppForeground, AppInactive or AppBackground.
// In the background the node closes every connection (no keepalives) and
// wakes only for its own retry timers or when told (SyncOnce,
// NetworkChanged, a new share). Going to the background returns once the
// host is closed; coming back blocks like Start. Call it off the main
// thread.
func (m *Node) SetAppState(state string) error {
	return m.do("SetAppState", func(n *node.Node) error { return n.SetAppState(state) })
}

// SyncOnce is for a background fetch or a push handler: it brings the
// network up if needed, catches up every mailbox, flushes receipts and
// pending deliveries, puts the network back as the app state wants, emits
// EventSyncDone and returns a summary as JSON (node.SyncSummary). It
// blocks up to timeoutMs (<= 0: DefaultSyncTimeoutMs); a time-out returns
// CodeTimeout with nothing lost (what was not done is retried later).
func (m *Node) SyncOnce(timeoutMs int) (summary string, err error) {
	defer guard("SyncOnce", &err)
	n, err := m.node("SyncOnce")
	if err != nil {
		return "", err
	}
	if timeoutMs <= 0 {
		timeoutMs = DefaultSyncTimeoutMs
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond)
	defer cancel()
	s, err := n.SyncOnce(ctx)
	b, _ := json.Marshal(s)
	return string(b), err
}

// NetworkChanged tells the node the device's network changed (a Network*
// kind) and whether it is metered. It returns at once; reconnecting runs
// in the background.
func (m *Node) NetworkChanged(kind string, metered bool) error {
	return m.do("NetworkChanged", func(n *node.Node) error { return n.NetworkChanged(kind, metered) })
}

// SetPushEndpoint sets the push endpoint (an absolute http(s) URL from
// the platform's push provider: a UnifiedPush endpoint, or a WebPush
// endpoint of a gateway for FCM/APNs) at which the relays wake this device
// while it sleeps; "" removes it. The node registers it at its relays
// each time it goes to the background; the relay POSTs an empty body, and
// the app's push handler should call SyncOnce. docs/mobile.md says what the
// provider and the relay learn.
func (m *Node) SetPushEndpoint(endpoint string) error {
	return m.do("SetPushEndpoint", func(n *node.Node) error { return n.SetPushEndpoint(endpoint) })
}
