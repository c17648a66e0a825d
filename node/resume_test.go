package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestTransferResumes drops the connection in the middle of a transfer and
// checks that the retry starts at the recipient's persisted resume point:
// chunks it already has are not sent again.
func TestTransferResumes(t *testing.T) {
	clock, _, a, b, bID, aID := pair(t)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	const chunks = 40
	path, data := writeFile(t, chunks*64<<10-100)
	var mu sync.Mutex
	var attempts [][]uint32
	dropAt := uint32(25)
	a.mu.Lock()
	dropped, fresh := false, true
	a.sendHook = func(_ string, i uint32) error {
		mu.Lock()
		defer mu.Unlock()
		// A new attempt starts after a drop or when the index goes back.
		if fresh || i <= attempts[len(attempts)-1][len(attempts[len(attempts)-1])-1] {
			attempts = append(attempts, nil)
			fresh = false
		}
		if !dropped && i == dropAt {
			dropped, fresh = true, true
			return errors.New("test: connection dropped")
		}
		attempts[len(attempts)-1] = append(attempts[len(attempts)-1], i)
		return nil
	}
	a.mu.Unlock()
	id, err := a.SharePhoto(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the interruption to land at the recipient.
	var have int64
	waitFor(t, 10*time.Second, func() bool {
		r, err := b.getIn(id)
		if err != nil {
			return false
		}
		have = r.Count
		return have > 0
	})
	time.Sleep(300 * time.Millisecond)
	r, _ := b.getIn(id)
	have = r.Count
	// The sender retries after its back-off.
	clock.Add(RetryMax)
	a.wake()
	got := b.ev.wait(t, EventItemReceived, nil, 20*time.Second)
	sameFile(t, got.Path, data)
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) < 2 || have == 0 || have > int64(dropAt) {
		t.Fatalf("attempts: %v; recipient had %d", attempts, have)
	}
	resent := 0
	for _, at := range attempts[1:] {
		if int64(at[0]) < have {
			t.Fatalf("a retry started at chunk %d; the recipient had %d of %d (dropped at %d)", at[0], have, chunks, dropAt)
		}
		resent += len(at)
	}
	t.Logf("first attempt sent %d chunks, recipient kept %d, retries sent %d", len(attempts[0]), have, resent)
}

// TestSweepParts: at Start the sweep deletes a part file nothing refers to
// (an auto-accepted transfer cut before its first resume point) and keeps
// one an incoming record names, one a stream is receiving now, and any
// file that is not a part file.
func TestSweepParts(t *testing.T) {
	rig := newFuzzRig(t)
	n := rig.n
	if err := os.MkdirAll(n.media, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string) string {
		p := filepath.Join(n.media, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	orphan := write("aa.part")
	stored := write("bb.part")
	if err := n.putIn(&inRec{ID: "bb", From: rig.f.id, State: StateReceiving, Part: stored}); err != nil {
		t.Fatal(err)
	}
	claimed := write("cc.part")
	if !n.claimRecv("cc") {
		t.Fatal("claim")
	}
	defer n.releaseRecv("cc")
	other := write("dd.jpg")
	n.sweepParts()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan part file kept: %v", err)
	}
	for _, p := range []string{stored, claimed, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s swept: %v", filepath.Base(p), err)
		}
	}
}

// TestSweepSealedAfterCrash: a crash after a delivery's commit but before
// its pending copy is removed (it is removed after the commit)
// leaves the copy behind; the next Start deletes it, and keeps the copy
// of an item still pending.
func TestSweepSealedAfterCrash(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	bID, aID := link(t, a, b)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	id, _ := sharePhoto(t, a, []string{bID}, 200<<10)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	pending, _ := sharePhoto(t, a, []string{bID}, 100<<10) // b is gone: stays pending
	a.ev.wait(t, EventSealing, func(e Event) bool { return e.ItemID == pending && e.Done == e.Total }, 20*time.Second)
	// What the crash leaves: the delivered item's copy, its record gone.
	left := filepath.Join(a.outdir, id+".sealed")
	if err := os.WriteFile(left, []byte("sealed chunks"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.restart(t, clock, nil)
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("pending copy of a delivered item kept after restart: %v", err)
	}
	if _, err := os.Stat(filepath.Join(a.outdir, pending+".sealed")); err != nil {
		t.Fatalf("pending copy of a live item swept: %v", err)
	}
}

// TestDeliveryDuringCloseKeepsItem: a delivery attempt that starts while
// the node is closing finds no friend (ErrClosed). It used to take that
// for an unfriended recipient, mark it failed and, with nobody else
// waiting, drop the item and its pending copy without an event: a photo
// shared just before the app closed was lost (TestSweepSealedAfterCrash
// caught it about once in twenty runs). The item must stay pending.
func TestDeliveryDuringCloseKeepsItem(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	bID, _ := link(t, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, _ := sharePhoto(t, a, []string{bID}, 10<<10)
	a.ev.wait(t, EventSealing, func(e Event) bool { return e.ItemID == id && e.Done == e.Total }, 20*time.Second)
	a.mu.Lock()
	a.closed = true // the window of Close before the store closes
	a.mu.Unlock()
	a.deliver(context.Background(), id, bID)
	a.mu.Lock()
	a.closed = false
	a.mu.Unlock()
	it, err := a.getOut(id)
	if err != nil {
		t.Fatalf("item dropped by a delivery during Close: %v", err)
	}
	if r := it.To[bID]; r == nil || r.State != rPending {
		t.Fatalf("recipient state after a delivery during Close: %+v", r)
	}
}
