package relaye2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay"
	"github.com/imigee/imigee/test/internal/e2e"
)

// p1Items is how many sealed items carry the marker.
const p1Items = 24

// TestP1NoPlaintextAtRelay proves DESIGN.md P1 for the relay: items sealed
// on the "sender" with crypto's envelope, whose plaintext contains a
// marker, are put, fetched, opened (so the marker really was inside) and
// partly acknowledged; afterwards the marker is in neither the relay's
// bbolt file, nor its log (at debug level), nor anywhere in its live
// process memory. As a control, a second marker put unsealed IS found in
// memory by the same search, and the file search finds a bucket name, so
// a "not found" means something (the unsealed control is not in the file
// either: the store seals blobs at rest).
func TestP1NoPlaintextAtRelay(t *testing.T) {
	e2e.RequireProcMem(t)
	// Random markers, built at run time: they exist only in this test
	// process and in whatever the relay receives.
	marker := []byte("P1-SEALED-MARKER-" + randHex(t, 16))
	control := []byte("P1-CONTROL-MARKER-" + randHex(t, 16))

	dataDir := filepath.Join(t.TempDir(), "data")
	r := startRelay(t, dataDir, "", "-log-level", "debug")
	r.waitReady(t)

	sender, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	recipient, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, mbKey, _ := ed25519.GenerateKey(rand.Reader)
	_, ctlKey, _ := ed25519.GenerateKey(rand.Reader)
	mb := crypto.MailboxIDFromPub(mbKey.Public().(ed25519.PublicKey))
	ctl := crypto.MailboxIDFromPub(ctlKey.Public().(ed25519.PublicKey))

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
	defer c.Close()

	for i := range p1Items {
		payload := bytes.Repeat(append(append([]byte("photo caption "), marker...), ' '), 4+i%8)
		var item [16]byte
		rand.Read(item[:])
		sealed, err := crypto.Seal(rand.Reader, sender, recipient.BoxPub(), crypto.TypeMessage, item, payload)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, marker) {
			t.Fatal("sealing left the marker visible")
		}
		if _, err := c.put(mb, sealed); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if _, err := c.put(ctl, padClass(bytes.Repeat(control, 8))); err != nil {
		t.Fatalf("put control: %v", err)
	}

	blobs, err := c.fetchAll(mbKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != p1Items {
		t.Fatalf("fetched %d blobs, want %d", len(blobs), p1Items)
	}
	var ackIDs [][]byte
	opener := recipient.Recipient()
	for i, b := range blobs {
		o, err := opener.Open(b.Data)
		if err != nil {
			t.Fatalf("open blob %d: %v", i, err)
		}
		if !bytes.Contains(o.Payload, marker) {
			t.Fatalf("blob %d does not carry the marker: the test would prove nothing", i)
		}
		if i%2 == 0 {
			ackIDs = append(ackIDs, b.BlobId)
		}
	}
	if n, err := c.ack(mbKey, ackIDs); err != nil || int(n) != len(ackIDs) {
		t.Fatalf("ack: deleted %d of %d, err %v", n, len(ackIDs), err)
	}

	// While the relay runs (idle: every request answered).
	dbPath := filepath.Join(dataDir, relay.StoreFile)
	// The store seals every blob at rest (relay/store atrest.go), so even
	// the unsealed control is not in the file; the file search's own
	// control is a bucket name the file always holds.
	mustFind(t, "control in the database file (sealed at rest)", dbPath, control, false)
	mustFind(t, "bucket name in the database file", dbPath, []byte("expiry"), true)
	mustFind(t, "marker in the database file", dbPath, marker, false)
	memSearch(t, r.Pid(), control, true)
	memSearch(t, r.Pid(), marker, false)

	// After a clean stop: the final database file and the whole log.
	c.Close()
	r.stop(t)
	mustFind(t, "marker in the database file after stop", dbPath, marker, false)
	mustFind(t, "control in the database file after stop (sealed at rest)", dbPath, control, false)
	mustFind(t, "marker in the log", r.LogPath, marker, false)
	mustFind(t, "control in the log", r.LogPath, control, false)
	// Control for the log search: something the relay does log.
	mustFind(t, "startup line in the log", r.LogPath, []byte("relay started"), true)
}

func mustFind(t *testing.T, what, path string, needle []byte, want bool) {
	t.Helper()
	got, err := e2e.SearchFile(path, needle)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: found=%v, want %v", what, got, want)
	}
}

func memSearch(t *testing.T, pid int, needle []byte, want bool) {
	t.Helper()
	res, err := e2e.SearchProcessMemory(pid, needle)
	if err != nil {
		t.Fatalf("search relay memory: %v", err)
	}
	if res.Regions == 0 {
		t.Fatal("search relay memory: no readable region")
	}
	if res.Found != want {
		t.Fatalf("relay memory (%d regions, %d MiB, %d unreadable): found=%v want %v (region %+v)",
			res.Regions, res.BytesRead>>20, res.Unreadable, res.Found, want, res.FoundRegion)
	}
	t.Logf("relay memory: %d regions, %d MiB read, %d unreadable, found=%v", res.Regions, res.BytesRead>>20, res.Unreadable, res.Found)
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// padClass pads b with zeros to the smallest blob size class (relays
// store only protocol.BlobSizes).
func padClass(b []byte) []byte {
	return append(b, make([]byte, protocol.BlobClass(len(b))-len(b))...)
}
