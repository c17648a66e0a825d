package mobile

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/imigee/imigee/node"
)

// Config configures a Node. Zero fields take node's defaults.
type Config struct {
	DataDir  string
	StoreKey []byte // 32 bytes from the platform keystore
	// Relays is a comma- or newline-separated list of relay multiaddrs
	// ending in /p2p/<id>.
	Relays       string
	EpochSeconds int
	EnableMDNS   bool
	// Logger receives log lines at LogLevel and above; nil: no logs.
	Logger Logger
	// LogLevel is LogDebug, LogInfo (the default, 0), LogWarn or LogError.
	LogLevel int
	// Crash receives scrubbed reports of recovered panics; nil: logged
	// only. It is registered process-wide (SetCrashReporter).
	Crash CrashReporter
	// ContactsRegion is the default country of phone numbers written
	// without "+" (ISO code, e.g. "FR").
	ContactsRegion string
	// ContactsNetworkJSON describes the network's contact matching, from
	// its published configuration: {"chain":[{"relay":"/ip4/…/p2p/…",
	// "public_key":"hex"}…],"directory":["/ip4/…/p2p/…"]}. Empty: the
	// first relay does it all (a single-relay network).
	ContactsNetworkJSON string
	// ContactsAutoAccept accepts every contact match as it arrives.
	ContactsAutoAccept bool
	// AnalyticsJSON turns anonymous analytics on: {"leader":"/ip4/…/p2p/…",
	// "leader_key":"hex","helper_key":"hex"}. Empty (the default): off,
	// nothing is counted or sent.
	AnalyticsJSON string
	// Platform is "android" or "ios" (counted in analytics, if on).
	Platform string
	// AppVersion is the app's version (e.g. "2.3.1"); analytics, if on,
	// carry only its hash bucket (one of 8), never the text.
	AppVersion string
	// TimeZone is the IANA name of the device's zone (e.g.
	// "Europe/Paris"), in which share-policy windows are read; empty: the
	// process's local zone. SetTimeZone changes it later.
	TimeZone string
}

// Node wraps node.Node.
type Node struct {
	n *node.Node
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' })
}

// NewNode opens the node's store; h may be nil (no events). A nil cfg
// gives CodeBadArgument. It does no network I/O.
func NewNode(cfg *Config, h EventHandler) (m *Node, err error) {
	defer guard("NewNode", &err)
	if cfg == nil {
		return nil, errCode(CodeBadArgument, "mobile: nil config")
	}
	if cfg.Crash != nil {
		SetCrashReporter(cfg.Crash)
	}
	inject("NewNode")
	c := node.Config{DataDir: cfg.DataDir, StoreKey: cfg.StoreKey, Relays: splitList(cfg.Relays),
		EpochSeconds: cfg.EpochSeconds, EnableMDNS: cfg.EnableMDNS, ListenAddrs: testListenAddrs}
	if err := contactsConfig(cfg, &c); err != nil {
		return nil, err
	}
	if cfg.TimeZone != "" {
		loc, err := loadZone(cfg.TimeZone)
		if err != nil {
			return nil, err
		}
		c.TimeZone = loc
	}
	if h != nil {
		c.Events = handler{h}
	}
	if cfg.Logger != nil {
		c.Logger = newLogger(cfg.Logger, cfg.LogLevel)
		crashHooks.mu.Lock()
		crashHooks.log = c.Logger
		crashHooks.mu.Unlock()
	} else {
		c.Logger = discardLogger
	}
	n, err := node.New(c)
	if err != nil {
		return nil, err
	}
	addCrashCounter(n)
	return &Node{n: n}, nil
}

// node returns the wrapped node, running the test panic hook first.
func (m *Node) node(method string) (*node.Node, error) {
	if m == nil || m.n == nil {
		return nil, errCode(CodeBadArgument, "mobile: nil node")
	}
	inject(method)
	return m.n, nil
}

// Start starts networking. It returns when the host listens (relay
// trouble is retried in the background); Start after Stop works.
func (m *Node) Start() error {
	return m.do("Start", func(n *node.Node) error { return n.Start(context.Background()) })
}

// Close stops the node for good and closes its store.
func (m *Node) Close() error {
	return m.do("Close", func(n *node.Node) error {
		removeCrashCounter(n)
		return n.Close()
	})
}

// ID returns this device's friend ID ("" on a nil node).
func (m *Node) ID() string {
	defer guardQuiet("ID")
	n, err := m.node("ID")
	if err != nil {
		return ""
	}
	return n.ID()
}

// Invite returns a single-use invite (text and QR payload).
func (m *Node) Invite() (s string, err error) {
	return call(m, "Invite", func(n *node.Node) (string, error) { return n.Invite() })
}

// Link answers an invite: the new friend's ID, and whether the link is
// still pending (the inviter was offline; see LinkResult). It blocks up to
// timeoutMs (<= 0: 30 s; node.LinkTimeout caps it at 20 s); an offline
// inviter costs the direct-dial attempt (a few seconds) before the request
// is parked.
func (m *Node) Link(invite string, timeoutMs int) (res *LinkResult, err error) {
	defer guard("Link", &err)
	n, err := m.node("Link")
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(timeoutMs)
	defer cancel()
	id, err := n.Link(ctx, invite)
	if err != nil {
		return nil, err
	}
	f, err := n.Friend(id)
	if err != nil {
		return nil, err
	}
	return &LinkResult{FriendID: id, Pending: f.Pending}, nil
}

func withTimeout(ms int) (context.Context, context.CancelFunc) {
	if ms <= 0 {
		ms = 30000
	}
	return context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
}

// toJSON encodes v; a nil slice becomes "[]".
func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return "[]"
	}
	return string(b)
}

// FriendsJSON returns the friends as a JSON array of node.Friend.
func (m *Node) FriendsJSON() (s string) {
	s = "[]" // also after a recovered panic
	defer guardQuiet("FriendsJSON")
	n, err := m.node("FriendsJSON")
	if err != nil {
		return "[]"
	}
	return toJSON(n.Friends())
}

// SafetyNumber returns the number to compare in person.
func (m *Node) SafetyNumber(friendID string) (s string, err error) {
	return call(m, "SafetyNumber", func(n *node.Node) (string, error) { return n.SafetyNumber(friendID) })
}

// Unfriend forgets a friend.
func (m *Node) Unfriend(friendID string) error {
	return m.do("Unfriend", func(n *node.Node) error { return n.Unfriend(friendID) })
}

// SetPrecision sets PrecisionClose, PrecisionCasual or PrecisionOff for a
// friend.
func (m *Node) SetPrecision(friendID, precision string) (err error) {
	defer guard("SetPrecision", &err)
	n, err := m.node("SetPrecision")
	if err != nil {
		return err
	}
	p, err := node.ParsePrecision(precision)
	if err != nil {
		return err
	}
	return n.SetPrecision(friendID, p)
}

// AddQuietZone adds a place where nothing is announced.
func (m *Node) AddQuietZone(lat, lng, radiusMeters float64) (id string, err error) {
	return call(m, "AddQuietZone", func(n *node.Node) (string, error) { return n.AddQuietZone(lat, lng, radiusMeters) })
}

// RemoveQuietZone removes one.
func (m *Node) RemoveQuietZone(id string) {
	defer guardQuiet("RemoveQuietZone")
	if n, err := m.node("RemoveQuietZone"); err == nil {
		n.RemoveQuietZone(id)
	}
}

// QuietZonesJSON lists the quiet zones as a JSON array of node.QuietZone.
func (m *Node) QuietZonesJSON() (s string) {
	s = "[]" // also after a recovered panic
	defer guardQuiet("QuietZonesJSON")
	n, err := m.node("QuietZonesJSON")
	if err != nil {
		return "[]"
	}
	return toJSON(n.QuietZones())
}

// SetLocation passes the device position; it never leaves the device.
func (m *Node) SetLocation(lat, lng, accuracy float64) error {
	return m.do("SetLocation", func(n *node.Node) error { return n.SetLocation(lat, lng, accuracy) })
}

// ClearLocation forgets the position.
func (m *Node) ClearLocation() {
	defer guardQuiet("ClearLocation")
	if n, err := m.node("ClearLocation"); err == nil {
		n.ClearLocation()
	}
}

// SetAppOpen says whether the app is in the foreground (announcing only);
// SetAppState also pauses networking.
func (m *Node) SetAppOpen(open bool) {
	defer guardQuiet("SetAppOpen")
	if n, err := m.node("SetAppOpen"); err == nil {
		n.SetAppOpen(open)
	}
}

// SharePhoto shares a photo with comma-separated friend IDs (empty: the
// share policy decides).
func (m *Node) SharePhoto(path, friendIDs string) (id string, err error) {
	return call(m, "SharePhoto", func(n *node.Node) (string, error) { return n.SharePhoto(path, splitList(friendIDs)) })
}

// ShareVideo shares a video file, streamed.
func (m *Node) ShareVideo(path, friendIDs string) (id string, err error) {
	return call(m, "ShareVideo", func(n *node.Node) (string, error) { return n.ShareVideo(path, splitList(friendIDs)) })
}

// SendMessage sends a text message.
func (m *Node) SendMessage(friendID, text string) (id string, err error) {
	return call(m, "SendMessage", func(n *node.Node) (string, error) { return n.SendMessage(friendID, text) })
}

// Like likes an item.
func (m *Node) Like(friendID, itemID string) (id string, err error) {
	return call(m, "Like", func(n *node.Node) (string, error) { return n.Like(friendID, itemID) })
}

// Accept accepts an offered item.
func (m *Node) Accept(itemID string) error {
	return m.do("Accept", func(n *node.Node) error { return n.Accept(itemID) })
}

// Reject declines an offered item.
func (m *Node) Reject(itemID string) error {
	return m.do("Reject", func(n *node.Node) error { return n.Reject(itemID) })
}

// SetAutoAccept accepts a friend's items without asking.
func (m *Node) SetAutoAccept(friendID string, on bool) error {
	return m.do("SetAutoAccept", func(n *node.Node) error { return n.SetAutoAccept(friendID, on) })
}

// SetSharePolicyJSON sets the sender policy from JSON of node.SharePolicy,
// e.g. {"Mode":"nearby"}, {"Mode":"windows","Windows":[{"StartMinute":540,"EndMinute":1020}]}
// (minutes in the device's zone: SetTimeZone) or {"Mode":"together","Auto":true}
// (friends nearby at the capture time; see SharePhotoTogether).
func (m *Node) SetSharePolicyJSON(policy string) (err error) {
	defer guard("SetSharePolicyJSON", &err)
	n, err := m.node("SetSharePolicyJSON")
	if err != nil {
		return err
	}
	var p node.SharePolicy
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		return node.ErrBadArgument
	}
	return n.SetSharePolicy(p)
}

// InboxJSON returns every inbox item (received, offered, being received,
// rejected and not deleted) as a JSON array of node.InboxEntry, in arrival
// order; InboxPage pages it.
func (m *Node) InboxJSON() (s string) {
	s = "[]" // also after a recovered panic
	defer guardQuiet("InboxJSON")
	n, err := m.node("InboxJSON")
	if err != nil {
		return "[]"
	}
	es, err := n.InboxPage(0, 0)
	if err != nil {
		return "[]"
	}
	return toJSON(es)
}

// PendingJSON returns items still being delivered as a JSON array.
func (m *Node) PendingJSON() (s string) {
	s = "[]" // also after a recovered panic
	defer guardQuiet("PendingJSON")
	n, err := m.node("PendingJSON")
	if err != nil {
		return "[]"
	}
	return toJSON(n.Pending())
}

// Forget removes every trace at the relays and wipes the device store; the
// node is closed afterwards.
func (m *Node) Forget(timeoutMs int) (err error) {
	defer guard("Forget", &err)
	n, err := m.node("Forget")
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(timeoutMs)
	defer cancel()
	return n.Forget(ctx)
}

// BLEAdvertisement returns the bytes to broadcast over Bluetooth now.
func (m *Node) BLEAdvertisement() []byte {
	defer guardQuiet("BLEAdvertisement")
	n, err := m.node("BLEAdvertisement")
	if err != nil {
		return nil
	}
	return n.BLEAdvertisement()
}

// OnBLEScan feeds scanned advertisement bytes.
func (m *Node) OnBLEScan(data []byte) {
	defer guardQuiet("OnBLEScan")
	if n, err := m.node("OnBLEScan"); err == nil {
		n.OnBLEScan(data)
	}
}
