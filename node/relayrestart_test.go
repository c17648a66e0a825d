package node

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/imigee/imigee/relay"
)

// restartableRelay is a real relay that can be stopped and started again
// on the same identity, data directory and ports, as an operator restarts
// one (and as the testnet's relay churn does). It listens on TCP only: a
// dial to a stopped relay's QUIC port waits out the 5 s handshake time-out
// where TCP is refused at once, and these tests dial stopped relays
// often. relayclient's TestRelayRestartKeepsClientWorking covers QUIC.
type restartableRelay struct {
	t   testing.TB
	cfg relay.Config
	r   *relay.Relay
}

func startRestartableRelay(t testing.TB, clock *testClock) *restartableRelay {
	t.Helper()
	key, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Identity = key
	cfg.Logger = quietLogger()
	cfg.Store.SweepInterval = -1
	cfg.Limits.ResourceMemory = 256 << 20
	cfg.Now = clock.Now
	rr := &restartableRelay{t: t, cfg: cfg}
	rr.start()
	// Come back on the ports the first start bound.
	rr.cfg.ListenAddrs = nil
	for _, a := range rr.r.Addrs() {
		rr.cfg.ListenAddrs = append(rr.cfg.ListenAddrs, a.String())
	}
	t.Cleanup(func() {
		if rr.r != nil {
			rr.r.Close()
		}
	})
	return rr
}

func (rr *restartableRelay) start() {
	rr.t.Helper()
	r, err := relay.New(rr.cfg)
	if err != nil {
		rr.t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		r.Close()
		rr.t.Fatal(err)
	}
	rr.r = r
}

// stop shuts the relay down gracefully (start brings it back).
func (rr *restartableRelay) stop() {
	rr.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rr.r.Shutdown(ctx); err != nil {
		rr.t.Fatal(err)
	}
	rr.r = nil
}

// restart shuts the relay down gracefully and starts it again.
func (rr *restartableRelay) restart() {
	rr.t.Helper()
	rr.stop()
	rr.start()
}

func (rr *restartableRelay) addrs() []string { return relayAddrs(rr.r) }

// fastRedial shortens n's relay redial back-off (RelayRedialMin) so tests
// do not wait seconds for it; set it as a testNode's pre hook too, so
// restarts keep it.
func fastRedial(n *Node) {
	n.mu.Lock()
	n.redialMin = 50 * time.Millisecond
	n.mu.Unlock()
}

// fastRedialAll applies fastRedial to each node now and on every restart.
func fastRedialAll(tns ...*testNode) {
	for _, tn := range tns {
		fastRedial(tn.Node)
		tn.pre = fastRedial
	}
}

// TestRelayRestartKeepsDelivering: a relay restarts. A put acknowledged
// before the restart is delivered after it, to a recipient that started
// while the relay was down; and with both friends online through a second
// restart, items posted after it reach a recipient that never went away:
// its mailbox subscription (and the sender's, for the receipts) is set up
// again once the relay is back, without waiting for the reservation
// refresh. Before the fix the subscriptions stayed dead, so the items sat
// at the relay until the recipient restarted (the testnet's small
// scenario lost 4 items of one pair this way, medium 21 of 1,570).
func TestRelayRestartKeepsDelivering(t *testing.T) {
	clock := newTestClock()
	rr := startRestartableRelay(t, clock)
	a := newTestNode(t, clock, rr.addrs())
	b := newTestNode(t, clock, rr.addrs())
	bID, aID := link(t, a, b)
	fastRedialAll(a, b)

	// An acknowledged put: b is offline, the message waits at the relay.
	m1 := messageToAbsent(t, clock, a, b, bID, "before the restart")
	// b comes back (a fresh transport ID a does not know) while the relay
	// is down, so it attaches when the relay is back; it fetches the
	// message and the receipt reaches a through its subscription, set up
	// again.
	addrs := rr.addrs()
	rr.stop()
	b.restart(t, clock, addrs)
	rr.start()
	b.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == m1 && e.FriendID == aID }, 20*time.Second)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == m1 }, 20*time.Second)

	// The relay restarts with both online. a cannot dial b (stale
	// transport ID), so the next items go by mailbox to a b that stays
	// online throughout.
	rr.restart()
	m2, err := a.SendMessage(bID, "after the restart")
	if err != nil {
		t.Fatal(err)
	}
	path, data := writeFile(t, 150<<10)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	p, err := a.SharePhoto(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	b.ev.waitRetrying(t, a.Node, clock, EventMessage, func(e Event) bool { return e.ItemID == m2 }, 30*time.Second)
	got := b.ev.waitRetrying(t, a.Node, clock, EventItemReceived, func(e Event) bool { return e.ItemID == p }, 30*time.Second)
	sameFile(t, got.Path, data)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == m2 }, 20*time.Second)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == p }, 20*time.Second)
	waitFor(t, 10*time.Second, func() bool { return relayPending(t, a.Node) == 0 && len(a.Pending()) == 0 })
}
