// Package mobile is the gomobile-bindable facade of package node: only
// strings, []byte, bool, int, int64, float64, error and pointers to structs
// of those cross the boundary. Lists come back as JSON strings; lists go in
// as comma-separated IDs. Events arrive through the EventHandler callback
// interface, implemented in Kotlin or Swift.
//
// Concurrency: every method is safe to call from any thread. OnEvent is
// called from one node goroutine, in order; hand work to the UI thread.
//
// Build: gomobile bind -target=android|ios github.com/imigee/imigee/node/mobile
package mobile

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/imigee/imigee/node"
)

// Event is one notification; see node.Event for the kinds. It never holds a
// location, cell or distance.
type Event struct {
	Kind     string
	FriendID string
	ItemID   string
	Type     string
	Text     string
	Path     string
	Done     int64
	Total    int64
	Err      string
	Via      string // node.ViaDirect, ViaCircuit or ViaMailbox
}

// EventHandler receives events.
type EventHandler interface {
	OnEvent(e *Event)
}

// Config configures a Node. Zero fields take node's defaults.
type Config struct {
	DataDir  string
	StoreKey []byte // 32 bytes from the platform keystore
	// Relays is a comma- or newline-separated list of relay multiaddrs
	// ending in /p2p/<id>.
	Relays       string
	EpochSeconds int
	EnableMDNS   bool
}

// Node wraps node.Node.
type Node struct {
	n *node.Node
}

type handler struct{ h EventHandler }

func (h handler) OnEvent(e *node.Event) {
	h.h.OnEvent(&Event{Kind: e.Kind, FriendID: e.FriendID, ItemID: e.ItemID, Type: e.Type,
		Text: e.Text, Path: e.Path, Done: e.Done, Total: e.Total, Err: e.Err, Via: e.Via})
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' })
}

// NewNode opens the node's store; h may be nil.
func NewNode(cfg *Config, h EventHandler) (*Node, error) {
	c := node.Config{DataDir: cfg.DataDir, StoreKey: cfg.StoreKey, Relays: splitList(cfg.Relays),
		EpochSeconds: cfg.EpochSeconds, EnableMDNS: cfg.EnableMDNS}
	if h != nil {
		c.Events = handler{h}
	}
	n, err := node.New(c)
	if err != nil {
		return nil, err
	}
	return &Node{n: n}, nil
}

// Start starts networking.
func (m *Node) Start() error { return m.n.Start(context.Background()) }

// Close stops the node.
func (m *Node) Close() error { return m.n.Close() }

// ID returns this device's friend ID.
func (m *Node) ID() string { return m.n.ID() }

// Invite returns a single-use invite (text and QR payload).
func (m *Node) Invite() (string, error) { return m.n.Invite() }

// Link answers an invite and returns the new friend's ID; timeoutMs <= 0
// means 30 s.
func (m *Node) Link(invite string, timeoutMs int) (string, error) {
	ctx, cancel := withTimeout(timeoutMs)
	defer cancel()
	return m.n.Link(ctx, invite)
}

func withTimeout(ms int) (context.Context, context.CancelFunc) {
	if ms <= 0 {
		ms = 30000
	}
	return context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "[]"
	}
	return string(b)
}

// FriendsJSON returns the friends as a JSON array of node.Friend.
func (m *Node) FriendsJSON() string { return toJSON(m.n.Friends()) }

// SafetyNumber returns the number to compare in person.
func (m *Node) SafetyNumber(friendID string) (string, error) { return m.n.SafetyNumber(friendID) }

// Unfriend forgets a friend.
func (m *Node) Unfriend(friendID string) error { return m.n.Unfriend(friendID) }

// SetPrecision sets "close", "casual" or "off" for a friend.
func (m *Node) SetPrecision(friendID, precision string) error {
	p, err := node.ParsePrecision(precision)
	if err != nil {
		return err
	}
	return m.n.SetPrecision(friendID, p)
}

// AddQuietZone adds a place where nothing is announced.
func (m *Node) AddQuietZone(lat, lng, radiusMeters float64) (string, error) {
	return m.n.AddQuietZone(lat, lng, radiusMeters)
}

// RemoveQuietZone removes one.
func (m *Node) RemoveQuietZone(id string) { m.n.RemoveQuietZone(id) }

// QuietZonesJSON lists the quiet zones as a JSON array of node.QuietZone.
func (m *Node) QuietZonesJSON() string { return toJSON(m.n.QuietZones()) }

// SetLocation passes the device position; it never leaves the device.
func (m *Node) SetLocation(lat, lng, accuracy float64) error {
	return m.n.SetLocation(lat, lng, accuracy)
}

// ClearLocation forgets the position.
func (m *Node) ClearLocation() { m.n.ClearLocation() }

// SetAppOpen says whether the app is in the foreground.
func (m *Node) SetAppOpen(open bool) { m.n.SetAppOpen(open) }

// SharePhoto shares a photo with comma-separated friend IDs (empty: the
// share policy decides).
func (m *Node) SharePhoto(path, friendIDs string) (string, error) {
	return m.n.SharePhoto(path, splitList(friendIDs))
}

// ShareVideo shares a video file, streamed.
func (m *Node) ShareVideo(path, friendIDs string) (string, error) {
	return m.n.ShareVideo(path, splitList(friendIDs))
}

// SendMessage sends a text message.
func (m *Node) SendMessage(friendID, text string) (string, error) {
	return m.n.SendMessage(friendID, text)
}

// Like likes an item.
func (m *Node) Like(friendID, itemID string) (string, error) { return m.n.Like(friendID, itemID) }

// Accept accepts an offered item.
func (m *Node) Accept(itemID string) error { return m.n.Accept(itemID) }

// Reject declines an offered item.
func (m *Node) Reject(itemID string) error { return m.n.Reject(itemID) }

// SetAutoAccept accepts a friend's items without asking.
func (m *Node) SetAutoAccept(friendID string, on bool) error { return m.n.SetAutoAccept(friendID, on) }

// SetSharePolicyJSON sets the sender policy from JSON of node.SharePolicy,
// e.g. {"Mode":"nearby"} or {"Mode":"windows","Windows":[{"StartMinute":540,"EndMinute":1020}]}.
func (m *Node) SetSharePolicyJSON(policy string) error {
	var p node.SharePolicy
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		return node.ErrBadArgument
	}
	return m.n.SetSharePolicy(p)
}

// InboxJSON returns received and offered items as a JSON array of node.Item.
func (m *Node) InboxJSON() string { return toJSON(m.n.Inbox()) }

// PendingJSON returns items still being delivered as a JSON array.
func (m *Node) PendingJSON() string { return toJSON(m.n.Pending()) }

// Forget removes every trace at the relays and wipes the device store; the
// node is closed afterwards.
func (m *Node) Forget(timeoutMs int) error {
	ctx, cancel := withTimeout(timeoutMs)
	defer cancel()
	return m.n.Forget(ctx)
}

// BLEAdvertisement returns the bytes to broadcast over Bluetooth now.
func (m *Node) BLEAdvertisement() []byte { return m.n.BLEAdvertisement() }

// OnBLEScan feeds scanned advertisement bytes.
func (m *Node) OnBLEScan(data []byte) { m.n.OnBLEScan(data) }
