package relayclient_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/imigee/imigee/node/relayclient"
	"github.com/imigee/imigee/relay"
)

// TestRelayRestartKeepsClientWorking: a relay restarts (same identity,
// data and ports) while the client holds idle pooled streams to it. The
// first requests afterwards succeed (the dead streams are dropped, not
// used), and a put acknowledged before the restart is still there. Before
// the fix the first put after the restart failed on a stale stream.
func TestRelayRestartKeepsClientWorking(t *testing.T) {
	for _, tr := range []string{"quic", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			key, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var listen []string
			r := startRelay(t, func(c *relay.Config) { c.Identity, c.DataDir = key, dir })
			for _, a := range r.Addrs() {
				listen = append(listen, a.String())
			}
			c := client(t, r, tr)
			mkey, mbox := newKey(t)
			if _, err := c.Put(ctx(t), mbox, classBlob([]byte("before"))); err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}
			startRelay(t, func(c *relay.Config) { c.Identity, c.DataDir, c.ListenAddrs = key, dir, listen })
			if _, err := c.Put(ctx(t), mbox, classBlob([]byte("after"))); err != nil {
				t.Fatalf("first put after the restart: %v", err)
			}
			blobs, _, err := c.Fetch(ctx(t), []ed25519.PrivateKey{mkey}, relayclient.FetchOptions{})
			if err != nil {
				t.Fatalf("first fetch after the restart: %v", err)
			}
			if len(blobs) != 2 || !bytes.Equal(blobs[0].Data, classBlob([]byte("before"))) || !bytes.Equal(blobs[1].Data, classBlob([]byte("after"))) {
				t.Fatalf("got %d blobs after the restart, want the acknowledged one and the new one", len(blobs))
			}
		})
	}
}
