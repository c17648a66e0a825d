package node

import (
	"errors"
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
