package boltopt

import (
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestOptions: a store that syncs keeps bbolt's defaults (every fsync,
// the freelist in the file); a NoSync one skips them all.
func TestOptions(t *testing.T) {
	if o := Options(time.Second, false); o.NoSync || o.NoGrowSync || o.NoFreelistSync || o.FreelistType != "" || o.Timeout != time.Second {
		t.Fatalf("durable store: %+v", o)
	}
	if o := Options(time.Second, true); !o.NoSync || !o.NoGrowSync || !o.NoFreelistSync || o.FreelistType != bolt.FreelistMapType {
		t.Fatalf("NoSync store: %+v", o)
	}
}

// TestSyncDelay waits only for a NoSync store (a durable one already
// waited for its fsync).
func TestSyncDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		SyncDelay(false, time.Second)
		if time.Since(start) != 0 {
			t.Fatal("a durable store waited")
		}
		SyncDelay(true, time.Second)
		if time.Since(start) != time.Second {
			t.Fatalf("NoSync store waited %v", time.Since(start))
		}
	})
}
