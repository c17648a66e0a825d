package relayclient_test

// These tests run the client against a real relay (package relay) over
// real libp2p hosts on 127.0.0.1. The dependency is test-only: package
// relayclient itself never imports the relay.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/relayclient"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startRelay(t *testing.T, mutate func(*relay.Config)) *relay.Relay {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Limits.ResourceMemory = 256 << 20
	cfg.Store.SweepInterval = -1
	if mutate != nil {
		mutate(&cfg)
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

// client returns a client on a fresh host that reaches r over transport.
func client(t *testing.T, r *relay.Relay, transport string) *relayclient.Client {
	t.Helper()
	opts := []libp2p.Option{libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{})}
	if transport == "tcp" {
		opts = append(opts, libp2p.Transport(tcp.NewTCPTransport))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c := relayclient.New(h, info(r, transport), relayclient.Config{})
	t.Cleanup(func() { c.Close(); h.Close() })
	return c
}

func info(r *relay.Relay, transport string) peer.AddrInfo {
	ai := peer.AddrInfo{ID: r.ID()}
	for _, a := range r.Addrs() {
		_, err := a.ValueForProtocol(ma.P_TCP)
		if (transport == "tcp") == (err == nil) {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	return ai
}

func newKey(t *testing.T) (ed25519.PrivateKey, crypto.MailboxID) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, crypto.MailboxIDFromPub(pub)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

var _ host.Host // keep the import for documentation of what client builds

// TestDeliveryFlow proves P2's path end to end through the client: put →
// pushed notify → fetch → ack → gone, over QUIC and TCP.
func TestDeliveryFlow(t *testing.T) {
	for _, tr := range []string{"quic", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			r := startRelay(t, nil)
			key, mbox := newKey(t)
			recv, send := client(t, r, tr), client(t, r, tr)
			notes := make(chan relayclient.Notify, 4)
			sub, err := recv.Subscribe(ctx(t), []ed25519.PrivateKey{key}, func(n relayclient.Notify) { notes <- n })
			if err != nil {
				t.Fatal(err)
			}
			if sub.Pending != 0 {
				t.Fatalf("pending %d", sub.Pending)
			}
			blob := bytes.Repeat([]byte{7}, protocol.SmallBlobSize)
			id, err := send.Put(ctx(t), mbox, blob)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case n := <-notes:
				if n.ID != id || n.Mailbox != mbox || n.Size != len(blob) {
					t.Fatalf("notify %+v", n)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no notification")
			}
			blobs, more, err := recv.Fetch(ctx(t), []ed25519.PrivateKey{key}, relayclient.FetchOptions{})
			if err != nil || more || len(blobs) != 1 || !bytes.Equal(blobs[0].Data, blob) {
				t.Fatalf("fetch: %v %v %d", err, more, len(blobs))
			}
			n, err := recv.Ack(ctx(t), []ed25519.PrivateKey{key}, []relayclient.Ref{blobs[0].Ref()})
			if err != nil || n != 1 {
				t.Fatalf("ack: %d %v", n, err)
			}
			// A repeated ack is harmless.
			if n, err := recv.Ack(ctx(t), []ed25519.PrivateKey{key}, []relayclient.Ref{blobs[0].Ref()}); err != nil || n != 0 {
				t.Fatalf("second ack: %d %v", n, err)
			}
			if left, err := recv.List(ctx(t), []ed25519.PrivateKey{key}); err != nil || len(left) != 0 {
				t.Fatalf("left after ack: %d %v", len(left), err)
			}
			if err := sub.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReconnectListsEverything: a recipient offline during many puts
// subscribes on reconnect, learns the pending count and lists all (P2).
func TestReconnectListsEverything(t *testing.T) {
	r := startRelay(t, func(c *relay.Config) { c.Limits.RequestsPerSecond = 1e6; c.Limits.RequestBurst = 1e6 })
	k1, m1 := newKey(t)
	k2, m2 := newKey(t)
	send := client(t, r, "quic")
	const n = 1500 // more than one listing page
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := m1
			if i%2 == 1 {
				m = m2
			}
			if _, err := send.Put(ctx(t), m, classBlob([]byte{byte(i), byte(i >> 8)})); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recv := client(t, r, "tcp")
	keys := []ed25519.PrivateKey{k1, k2}
	sub, err := recv.Subscribe(ctx(t), keys, func(relayclient.Notify) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if sub.Pending != n {
		t.Fatalf("pending %d, want %d", sub.Pending, n)
	}
	all, err := recv.List(ctx(t), keys)
	if err != nil || len(all) != n {
		t.Fatalf("listed %d, %v", len(all), err)
	}
	refs := make([]relayclient.Ref, len(all))
	for i, b := range all {
		refs[i] = b.Ref()
	}
	if d, err := recv.Ack(ctx(t), keys, refs); err != nil || d != n {
		t.Fatalf("acked %d, %v", d, err)
	}
}

// TestErrorsAreProtocolErrors: relay refusals reach the caller as
// protocol sentinels, and the client stays usable.
func TestErrorsAreProtocolErrors(t *testing.T) {
	r := startRelay(t, func(c *relay.Config) { c.Store.MailboxQuota = 2048; c.Store.MaxBlobSize = 1024 })
	c := client(t, r, "quic")
	_, mbox := newKey(t)
	if _, err := c.Put(ctx(t), mbox, make([]byte, 1025)); !errors.Is(err, protocol.ErrTooLarge) {
		t.Fatalf("oversized put: %v", err)
	}
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		_, err = c.Put(ctx(t), mbox, make([]byte, 1024))
	}
	if !errors.Is(err, protocol.ErrQuotaExceeded) {
		t.Fatalf("over quota: %v", err)
	}
	_, other := newKey(t)
	if _, err := c.Put(ctx(t), other, classBlob([]byte("ok"))); err != nil {
		t.Fatalf("client unusable after errors: %v", err)
	}
}

// TestRendezvousSessions: two clients meet (immediate match for the
// second, pushed match for the first); Forget withdraws entries (P8).
func TestRendezvousSessions(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	r := startRelay(t, func(c *relay.Config) { c.Now = clk.Now })
	epoch := uint64(clk.Now().Unix()) / 600
	a, b := client(t, r, "quic"), client(t, r, "tcp")
	pushed := make(chan relayclient.Match, 1)
	ra, err := a.Rendezvous(ctx(t), func(m relayclient.Match) { pushed <- m })
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Rendezvous(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := relayclient.Token{Value: [8]byte{1, 2, 3}, Here: true}
	if n, ms, err := ra.Announce(ctx(t), 600, epoch, []relayclient.Announcement{{Tokens: []relayclient.Token{tok}, Record: []byte("A")}}); err != nil || n != 1 || len(ms) != 0 {
		t.Fatalf("a: %d %d %v", n, len(ms), err)
	}
	_, ms, err := rb.Announce(ctx(t), 600, epoch, []relayclient.Announcement{{Tokens: []relayclient.Token{{Value: tok.Value}}, Record: []byte("B")}})
	if err != nil || len(ms) != 1 || string(ms[0].Record) != "A" {
		t.Fatalf("b: %v %v", ms, err)
	}
	select {
	case m := <-pushed:
		if string(m.Record) != "B" || m.Token != tok.Value || m.Epoch != epoch {
			t.Fatalf("pushed %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no pushed match")
	}
	if _, _, err := rb.Announce(ctx(t), 600, epoch+3, []relayclient.Announcement{{Tokens: []relayclient.Token{tok}, Record: []byte("B")}}); !errors.Is(err, protocol.ErrStale) {
		t.Fatalf("stale epoch: %v", err)
	}
	if n, err := rb.Withdraw(ctx(t)); err != nil || n != 1 {
		t.Fatalf("withdraw %d %v", n, err)
	}
	// Forget on a's connection drops a's rendezvous entry too.
	key, _ := newKey(t)
	if _, err := a.Forget(ctx(t), []ed25519.PrivateKey{key}); err != nil {
		t.Fatal(err)
	}
	if _, ms, _ := rb.Announce(ctx(t), 600, epoch, []relayclient.Announcement{{Tokens: []relayclient.Token{tok}, Record: []byte("B")}}); len(ms) != 0 {
		t.Fatal("matched an entry that forget should have removed")
	}
	ra.Close()
	rb.Close()
}

// TestRelayShutdownEndsSessions: Shutdown ends subscriptions (Done closes)
// and later calls fail cleanly.
func TestRelayShutdownEndsSessions(t *testing.T) {
	r := startRelay(t, nil)
	key, mbox := newKey(t)
	c := client(t, r, "quic")
	sub, err := c.Subscribe(ctx(t), []ed25519.PrivateKey{key}, func(relayclient.Notify) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx(t), mbox, classBlob([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(ctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription outlived the relay")
	}
	if _, err := c.Put(ctx(t), mbox, classBlob([]byte("y"))); err == nil {
		t.Fatal("put succeeded on a closed relay")
	}
}

// classBlob pads b with zeros to the small blob size class: relays store
// only size classes (protocol.BlobSizes).
func classBlob(b []byte) []byte {
	return append(b, make([]byte, protocol.SmallBlobSize-len(b))...)
}
