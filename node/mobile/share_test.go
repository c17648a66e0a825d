package mobile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCancelBigShare: a 512 MiB video shared through the facade returns at
// once; cancelling it while it is being sealed stops sealing, frees the
// pending copy and reports cancelled to the recipient entry; ShareBytes
// works and a cancel of an unknown item gives its code.
func TestCancelBigShare(t *testing.T) {
	r := startRelay(t, nil)
	addr, _ := relayQUIC(t, r)
	dir := t.TempDir()
	ea := newEvs()
	a, err := NewNode(&Config{DataDir: dir, StoreKey: newKey(), Relays: addr}, ea)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	b, _ := newStarted(t, addr)
	bID := linkPair(t, a, b)

	path := filepath.Join(t.TempDir(), "big.mp4")
	f, err := os.Create(path)
	// (a sparse file: cheap to make, real bytes to hash and seal)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(512 << 20); err != nil { // sparse: cheap to make, real bytes to seal
		t.Fatal(err)
	}
	f.Close()
	start := time.Now()
	id, err := a.ShareVideo(path, bID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ShareVideo(512 MiB) returned in %v", time.Since(start))
	ea.wait(t, EventSealing, func(e Event) bool { return e.ItemID == id }, 60*time.Second)
	if err := a.CancelItem(id); err != nil {
		t.Fatal(err)
	}
	ea.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id && e.Err == FailCancelled }, 10*time.Second)
	var sealed []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Ext(p) == ".sealed" {
			sealed = append(sealed, p)
		}
		return nil
	})
	if len(sealed) != 0 {
		t.Fatalf("pending copies left after cancel: %v", sealed)
	}
	if err := a.CancelItem(id); ErrorCode(err) != CodeUnknownItem {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := a.ShareBytes("photo", "p.jpg", []byte("tiny photo"), bID); err != nil {
		t.Fatal(err)
	}
}
