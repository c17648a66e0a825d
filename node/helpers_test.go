package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/relay"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// libp2p and quic-go keep a few process-wide goroutines.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
	)
}

// testClock is an injected clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// testDelays are the P12 random waits shortened for tests.
func testDelays() privacyDelays {
	return privacyDelays{attach: 50 * time.Millisecond, receiptMin: 10 * time.Millisecond, receiptMax: 200 * time.Millisecond, dayCatchUp: 300 * time.Millisecond}
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLogger() *slog.Logger {
	if os.Getenv("NODE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startRelay runs a real relay on 127.0.0.1.
func startRelay(t testing.TB, clock *testClock) *relay.Relay {
	t.Helper()
	return startRelayWith(t, clock, nil)
}

// startRelayWith is startRelay with a change to the config (mod may be
// nil; it sees DataDir set).
func startRelayWith(t testing.TB, clock *testClock, mod func(*relay.Config)) *relay.Relay {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
	cfg.Logger = quietLogger()
	cfg.Store.SweepInterval = -1
	cfg.Limits.ResourceMemory = 256 << 20
	if clock != nil {
		cfg.Now = clock.Now
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func relayAddrs(r *relay.Relay) []string {
	var out []string
	for _, a := range r.Addrs() {
		out = append(out, a.String()+"/p2p/"+r.ID().String())
	}
	return out
}

// events collects a node's events.
type events struct {
	mu   sync.Mutex
	all  []Event
	wake chan struct{}
}

func newEvents() *events { return &events{wake: make(chan struct{}, 1)} }

func (e *events) OnEvent(ev *Event) {
	e.mu.Lock()
	e.all = append(e.all, *ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *events) snapshot() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.all...)
}

func (e *events) count(kind string) int {
	n := 0
	for _, ev := range e.snapshot() {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// wait returns the first event of kind matching match, failing after d.
func (e *events) wait(t testing.TB, kind string, match func(Event) bool, d time.Duration) Event {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		for _, ev := range e.snapshot() {
			if ev.Kind == kind && (match == nil || match(ev)) {
				return ev
			}
		}
		select {
		case <-e.wake:
		case <-deadline.C:
			t.Fatalf("no %s event within %v; got %+v", kind, d, e.snapshot())
		}
	}
}

type testNode struct {
	*Node
	ev  *events
	dir string
	key []byte
	pre func(*Node) // runs between New and Start
}

type nodeOpt func(*Config)

func newTestNode(t testing.TB, clock *testClock, relays []string, opts ...nodeOpt) *testNode {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tn := &testNode{ev: newEvents(), dir: t.TempDir(), key: key}
	tn.Node = tn.open(t, clock, relays, opts...)
	return tn
}

// newRecordedNode is newTestNode with every byte sent to relays recorded.
func newRecordedNode(t testing.TB, clock *testClock, relays []string, rec func(string, []byte)) *testNode {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tn := &testNode{ev: newEvents(), dir: t.TempDir(), key: key, pre: func(n *Node) { n.relayRec = rec }}
	tn.Node = tn.open(t, clock, relays)
	return tn
}

func (tn *testNode) open(t testing.TB, clock *testClock, relays []string, opts ...nodeOpt) *Node {
	t.Helper()
	cfg := Config{
		DataDir:      tn.dir,
		StoreKey:     tn.key,
		Relays:       relays,
		ListenAddrs:  []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"},
		EpochSeconds: 600,
		Now:          clock.Now,
		Logger:       quietLogger(),
		Events:       tn.ev,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.TransportRotation == 0 {
		// Tests move the clock by hours (retry back-off); an announce
		// identity that rotates under them would turn direct deliveries
		// into mailbox ones. Rotation tests set it.
		cfg.TransportRotation = MaxTransportRotation
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.delays = testDelays()
	if tn.pre != nil {
		tn.pre(n)
	}
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// restart closes the node and opens it again on the same data.
func (tn *testNode) restart(t testing.TB, clock *testClock, relays []string) {
	t.Helper()
	if err := tn.Node.Close(); err != nil {
		t.Fatal(err)
	}
	tn.Node = tn.open(t, clock, relays)
}

// link makes a and b friends; it returns (b's ID at a, a's ID at b).
func link(t testing.TB, a, b *testNode) (string, string) {
	t.Helper()
	inv, err := a.Invite()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	aID, err := b.Link(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, EventFriendLinked, nil, 10*time.Second)
	return b.ID(), aID
}

func writeFile(t testing.TB, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	p := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// sharePhoto has from share a random photo of size bytes with to and
// returns the item ID and the photo's bytes.
func sharePhoto(t testing.TB, from *testNode, to []string, size int) (string, []byte) {
	t.Helper()
	path, data := writeFile(t, size)
	id, err := from.SharePhoto(path, to)
	if err != nil {
		t.Fatal(err)
	}
	return id, data
}

func sameFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received file differs: %d bytes, want %d", len(got), len(want))
	}
}

// waitRetrying is wait for events that a delivery retry may have to
// produce: retries are scheduled on the node's injected clock, which tests
// freeze, so a first attempt that failed on a loaded machine would never be
// retried. Every few seconds without the event it moves the clock past the
// longest back-off and wakes the node's loop, as time passing would.
func (e *events) waitRetrying(t testing.TB, n *Node, clock *testClock, kind string, match func(Event) bool, d time.Duration) Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, ev := range e.snapshot() {
			if ev.Kind == kind && (match == nil || match(ev)) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %v; got %+v", kind, d, e.snapshot())
		}
		select {
		case <-e.wake:
		case <-time.After(5 * time.Second):
			clock.Add(RetryMax + time.Second)
			n.wake()
		}
	}
}

// messageToAbsent closes b and has a send it a message, returning once
// the message is queued at b's relay mailbox; it returns the item's ID.
func messageToAbsent(t *testing.T, clock *testClock, a, b *testNode, bID, text string) string {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, err := a.SendMessage(bID, text)
	if err != nil {
		t.Fatal(err)
	}
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
	return id
}
