package node

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMailboxBigItemBoundedHeap: a 32 MiB video to an offline friend goes
// to its relay mailbox streamed from the pending copy, so the sender's heap
// grows by about mailboxPutGroup blobs (2 MiB), never by the item. The
// relay runs in this process too, so the bound (12 MiB, with the GC told to
// collect at 10 % growth) covers both; a sender that held the item's blobs
// whole would add ≥ 32 MiB (checked by setting mailboxPutGroup to the
// item's blob count: the test then fails).
func TestMailboxBigItemBoundedHeap(t *testing.T) {
	const size = 32 << 20
	clock, _, a, b, bID, _ := pair(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.mp4")
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	data = nil
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	base := heapAlloc()
	const bound = 12 << 20
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapAlloc(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	growth := func() float64 { return float64(int64(peak.Load())-int64(base)) / (1 << 20) }
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	queued := func(e Event) bool { return e.Kind == EventQueued && e.ItemID == id && e.FriendID == bID }
	deadline, nudge := time.Now().Add(60*time.Second), time.Now().Add(5*time.Second)
	for !slices.ContainsFunc(a.ev.snapshot(), queued) {
		if g := growth(); g > bound>>20 {
			t.Fatalf("heap grew by %.1f MiB posting a %d MiB item to a mailbox (bound %d MiB)", g, size>>20, bound>>20)
		}
		if time.Now().After(deadline) {
			t.Fatal("the item was not queued at the relay in time")
		}
		if time.Now().After(nudge) { // retry now rather than after RetryMax
			nudge = time.Now().Add(5 * time.Second)
			clock.Add(RetryMax + time.Second)
			a.wake()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g := growth(); g > bound>>20 {
		t.Fatalf("heap grew by %.1f MiB posting a %d MiB item to a mailbox (bound %d MiB)", g, size>>20, bound>>20)
	}
	t.Logf("heap growth while posting %d MiB: %.1f MiB", size>>20, growth())
	// Every blob is at the relay: the offer and ⌈chunks/3⌉ chunk blobs.
	if got, want := relayPending(t, a.Node), 1+(size/(64<<10)+2)/3; got < want {
		t.Fatalf("relay holds %d blobs, want ≥ %d", got, want)
	}
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
