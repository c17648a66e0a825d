package relayclient_test

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"

	"github.com/imigee/imigee/node/relayclient"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay"
)

// TestRateLimitedStreamIsDropped: after a RATE_LIMITED answer the client
// resets the stream instead of returning it to its pool (the relay voids
// that stream's challenges, and a clean stream after back-off is what the
// protocol asks). On the old client the stream went back to the pool and
// stayed open.
func TestRateLimitedStreamIsDropped(t *testing.T) {
	r := startRelay(t, func(c *relay.Config) {
		c.Limits.RequestsPerSecond = 0.5
		c.Limits.RequestBurst = 3
	})
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.Transport(quic.NewTransport))
	if err != nil {
		t.Fatal(err)
	}
	c := relayclient.New(h, info(r, "quic"), relayclient.Config{})
	t.Cleanup(func() { c.Close(); h.Close() })
	_, mbox := newKey(t)
	open := func() int {
		n := 0
		for _, conn := range h.Network().ConnsToPeer(r.ID()) {
			for _, s := range conn.GetStreams() {
				if string(s.Protocol()) == protocol.MailboxProtocol {
					n++
				}
			}
		}
		return n
	}
	limited := false
	for range 10 {
		_, err := c.Put(ctx(t), mbox, classBlob([]byte("x")))
		if errors.Is(err, protocol.ErrRateLimited) {
			limited = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if open() != 1 {
			t.Fatalf("%d pooled streams after a good put, want 1", open())
		}
	}
	if !limited {
		t.Fatal("never rate limited")
	}
	deadline := time.Now().Add(5 * time.Second)
	for open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d mailbox streams still open after RATE_LIMITED", open())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
