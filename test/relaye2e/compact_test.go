package relaye2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay"
)

// TestCompactOffline: `compact` refuses a database the relay holds open,
// compacts it once the relay stopped (in place, and to a copy with -o), and
// the relay restarted on the compacted file serves exactly the blobs that
// were pending.
func TestCompactOffline(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	r := startRelay(t, dataDir, "")
	r.waitReady(t)
	h, err := newClientHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := openWithRetry(ctx, h, r.info)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	mb := crypto.MailboxIDFromPub(key.Public().(ed25519.PublicKey))
	var ids [][]byte
	for range 40 {
		blob := make([]byte, protocol.SmallBlobSize)
		rand.Read(blob)
		id, err := c.put(mb, blob)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := c.ack(key, ids[:30]); err != nil {
		t.Fatal(err)
	}
	c.Close()
	h.Network().ClosePeer(r.info.ID)

	if testing.Short() {
		t.Log("skipping the locked-database check in -short mode (it waits for the lock timeout)")
	} else if code, out := runCmd(t, "compact", "-data-dir", dataDir); code == 0 {
		t.Fatalf("compact succeeded while the relay holds the database:\n%s", out)
	}
	r.stop(t)

	backup := filepath.Join(t.TempDir(), "backup.db")
	if code, out := runCmd(t, "compact", "-data-dir", dataDir, "-o", backup); code != 0 || !strings.Contains(out, "compacted") {
		t.Fatalf("compact -o: exit %d\n%s", code, out)
	}
	if code, out := runCmd(t, "compact", "-data-dir", dataDir); code != 0 || !strings.Contains(out, "compacted "+filepath.Join(dataDir, relay.StoreFile)) {
		t.Fatalf("compact: exit %d\n%s", code, out)
	}

	r2 := startRelay(t, dataDir, "")
	r2.waitReady(t)
	c2, err := openWithRetry(ctx, h, r2.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	blobs, err := c2.fetchAll(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 10 {
		t.Fatalf("after compact: %d blobs pending, want 10", len(blobs))
	}
	for i, b := range blobs {
		if string(b.BlobId) != string(ids[30+i]) {
			t.Fatalf("blob %d: id %x, want %x", i, b.BlobId, ids[30+i])
		}
	}
	c2.Close()
	r2.stop(t)
}
