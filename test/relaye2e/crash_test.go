package relaye2e

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crashWriters is the number of concurrent writers (issue 3: 64).
const crashWriters = 64

// crashCycles is how many kill -9 / restart cycles the test runs.
const crashCycles = 3

// acksBeforeKill is how many acknowledgements a cycle waits for, after
// every writer is connected, before it kills the relay: enough that every
// writer is mid-stream, small enough to keep the test quick.
const acksBeforeKill = 256

// TestCrashSafetyKill9 proves that an acknowledged put is durable: 64
// writers put 1 KiB sealed envelopes over their own libp2p connections;
// the relay is killed with SIGKILL mid-stream and restarted on the same
// data directory; every blob the relay acknowledged, in this and every
// earlier cycle, is fetched back byte-identical (and opens), and nothing
// is returned that was never put.
func TestCrashSafetyKill9(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	logPath := filepath.Join(t.TempDir(), "relay.log")
	l := newLedger(t, crashWriters)
	for cycle := range crashCycles {
		t0 := time.Now()
		r := startRelay(t, dataDir, logPath)
		r.waitReady(t)
		t1 := time.Now()
		l.verify(t, r.info)
		t2 := time.Now()

		ctx, cancel := context.WithCancel(context.Background())
		var acks atomic.Int64
		var ready sync.WaitGroup
		ready.Add(crashWriters)
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.writeUntilError(ctx, t, r.info, &acks, &ready)
		}()
		ready.Wait()
		t3 := time.Now()
		base := acks.Load()
		eventually(t, "writers to make progress", func() bool { return acks.Load() >= base+acksBeforeKill })
		r.kill9(t)
		killedAt := acks.Load()
		cancel() // writers blocked on the dead relay give up now
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("writers did not notice the relay died")
		}
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("cycle %d: killed after %d acks (%d total acknowledged so far); start %v verify %v connect %v write %v",
			cycle, killedAt, l.ackedCount(), t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3))
	}
	// The final restart must hold everything acknowledged in all cycles,
	// and then stop cleanly.
	r := startRelay(t, dataDir, logPath)
	r.waitReady(t)
	l.verify(t, r.info)
	if err := r.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := r.Wait(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("final stop: code %d err %v", code, err)
	}
}
