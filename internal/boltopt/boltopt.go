package boltopt

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options returns bbolt options with the open-lock timeout. With noSync
// (simulations and tests only: a power loss can lose acknowledged writes)
// the store skips the fsync of every commit and of every file growth and
// keeps no freelist in the file (the map freelist is rebuilt by a scan at
// open): one page and the freelist's encoding less per commit.
func Options(timeout time.Duration, noSync bool) *bolt.Options {
	o := &bolt.Options{Timeout: timeout}
	if noSync {
		o.NoSync, o.NoGrowSync = true, true
		o.NoFreelistSync, o.FreelistType = true, bolt.FreelistMapType
	}
	return o
}

// SyncDelay is a NoSync store's stand-in for the fsync a commit skipped:
// it waits d after a commit that succeeded, before the commit's writers
// are answered. In a simulation's virtual time a commit otherwise takes
// no time, so writes arriving together would each get a commit of their
// own where on a disk those arriving during one fsync share the next.
func SyncDelay(noSync bool, d time.Duration) {
	if noSync && d > 0 {
		time.Sleep(d)
	}
}
