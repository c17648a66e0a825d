package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// blockSealing makes n's sealing stop after at chunks until release is
// closed (or the item is cancelled); reached is closed when it stops.
func blockSealing(n *Node, at int64) (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	n.xf.mu.Lock()
	n.xf.sealHook = func(ctx context.Context, _ string, chunks int64) {
		if chunks != at {
			return
		}
		close(reached)
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	n.xf.mu.Unlock()
	return reached, release
}

func waitChan(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: not within 20 s", what)
	}
}

// TestFirstByteBeforeSealingEnds: ShareVideo returns the item ID before
// sealing, and the recipient gets its first chunk while the sender's
// sealing is held at 8 of 64 chunks (before, sharing sealed the whole
// file first). Progress events on both sides end at the total.
func TestFirstByteBeforeSealingEnds(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	reached, release := blockSealing(a.Node, 8)
	first := make(chan struct{})
	b.xf.mu.Lock()
	b.xf.recvHook = func(_ string, i int64) {
		if i == 0 {
			close(first)
		}
	}
	b.xf.mu.Unlock()
	path, data := writeFile(t, 64<<16)
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, reached, "sealing reached chunk 8")
	waitChan(t, first, "first chunk at the recipient while sealing is held")
	for _, e := range a.ev.snapshot() {
		if e.Kind == EventSealing && e.Done == e.Total {
			t.Fatal("sealing finished although it was held")
		}
	}
	close(release)
	got := b.ev.wait(t, EventItemReceived, nil, 20*time.Second)
	sameFile(t, got.Path, data)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	a.ev.wait(t, EventSealing, func(e Event) bool { return e.ItemID == id && e.Done == e.Total && e.Total == int64(len(data)) }, time.Second)
	last := int64(0)
	for _, e := range b.ev.snapshot() {
		if e.Kind == EventReceiveProgress && e.ItemID == id {
			if e.Done < last || e.Total != int64(len(data)) || e.FriendID != aID {
				t.Fatalf("receive progress %+v after %d", e, last)
			}
			last = e.Done
		}
	}
	if last != int64(len(data)) {
		t.Fatalf("receive progress ended at %d of %d", last, len(data))
	}
}

// TestCancelItemStopsSealing: CancelItem while sealing stops it, deletes
// the pending copy, empties the outbox and tells the app; a second
// cancel is ErrUnknownItem.
func TestCancelItemStopsSealing(t *testing.T) {
	_, _, a, _, bID, _ := pair(t)
	reached, _ := blockSealing(a.Node, 4)
	path, _ := writeFile(t, 64<<16)
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, reached, "sealing started")
	if err := a.CancelItem(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.outdir, id+".sealed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pending copy after cancel: %v", err)
	}
	if p := a.Pending(); len(p) != 0 {
		t.Fatalf("outbox after cancel: %+v", p)
	}
	a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id && e.Err == FailCancelled && e.FriendID == bID }, time.Second)
	if err := a.CancelItem(id); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("second cancel: %v", err)
	}
}

// TestCancelItemStopsSending: CancelItem in the middle of a transfer (the
// recipient holds the stream at chunk 2) resets the stream: no receipt,
// no delivered event, nothing left at the sender.
func TestCancelItemStopsSending(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	b.xf.mu.Lock()
	b.xf.recvHook = func(_ string, i int64) {
		if i == 2 {
			close(held)
			<-release
		}
	}
	b.xf.mu.Unlock()
	path, _ := writeFile(t, 64<<16)
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, held, "transfer started")
	if err := a.CancelItem(id); err != nil {
		t.Fatal(err)
	}
	close(release)
	a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id && e.Err == FailCancelled }, time.Second)
	time.Sleep(300 * time.Millisecond)
	if a.ev.count(EventDelivered) != 0 || b.ev.count(EventItemReceived) != 0 {
		t.Fatal("a cancelled item was delivered")
	}
	if _, err := os.Stat(filepath.Join(a.outdir, id+".sealed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pending copy after cancel: %v", err)
	}
}

// TestShareBytes: content given as bytes arrives intact even if the
// caller reuses its slice at once; a bad type is refused.
func TestShareBytes(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("imigee"), 50_000)
	want := bytes.Clone(data)
	id, err := a.ShareBytes(TypePhoto, "beach.jpg", data, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	clear(data)
	got := b.ev.wait(t, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	sameFile(t, got.Path, want)
	if filepath.Ext(got.Path) != ".jpg" {
		t.Fatalf("received as %s", got.Path)
	}
	if _, err := a.ShareBytes("message", "x", want, []string{bID}); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("bad type: %v", err)
	}
}

// TestSealingResumesAfterRestart: a node closed while sealing seals the
// file again when it starts (same key, so chunks already sent stay
// valid) and delivers it; bytes shared with ShareBytes are gone after a
// restart and that item fails with FailSource.
func TestSealingResumesAfterRestart(t *testing.T) {
	clock, ra, a, b, bID, aID := pair(t)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	// Nothing leaves before the restart; both items stop after their
	// first sealed chunk.
	a.holdDeliveries(true)
	reached, _ := blockSealing(a.Node, 1)
	path, data := writeFile(t, 64<<16)
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, reached, "sealing started")
	a.xf.mu.Lock()
	a.xf.sealHook = func(ctx context.Context, _ string, _ int64) { <-ctx.Done() }
	a.xf.mu.Unlock()
	bytesID, err := a.ShareBytes(TypePhoto, "p.jpg", []byte("held in memory only"), []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	a.restart(t, clock, ra)
	a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == bytesID && e.Err == FailSource }, 20*time.Second)
	got := b.ev.waitRetrying(t, b.Node, clock, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 60*time.Second)
	sameFile(t, got.Path, data)
}

// TestFileChangedWhileSealing: a file that changes between the hash pass
// and the end of sealing (its size and time differ) fails the item with
// FailSource; the pending copy and the outbox record are gone, so a copy
// that does not match the offered hash never leaves.
func TestFileChangedWhileSealing(t *testing.T) {
	_, _, a, _, bID, _ := pair(t)
	a.holdDeliveries(true)
	reached, release := blockSealing(a.Node, 1)
	path, _ := writeFile(t, 64<<16)
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, reached, "sealing started")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("edited")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	close(release)
	a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id && e.Err == FailSource && e.FriendID == bID }, 20*time.Second)
	if _, err := os.Stat(filepath.Join(a.outdir, id+".sealed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pending copy after a failed seal: %v", err)
	}
	if _, err := a.getOut(id); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("outbox record after a failed seal: %v", err)
	}
}
