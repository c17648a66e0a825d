package store

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// TestBigChurn is the large measurement behind IMIGEE_BIG=1: it stores
// IMIGEE_BIG_N (default 1,000,000) 1 KiB blobs in 10,000 mailboxes with
// real fsyncs, reports heap and file size, measures single-writer commits
// on the full store, acks everything (the mass delete that BASELINES.md
// shows slowing bbolt commits when the freelist is synced), measures again,
// stores as many new blobs (the file must not grow: freed pages are
// reused), and finally reopens the store to time the freelist rebuild that
// NoFreelistSync costs at Open. It also reopens the full store to time the
// rebuild of the in-memory index and to measure its heap per blob.
func liveHeap() int64 {
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return int64(mem.HeapAlloc)
}

func TestBigChurn(t *testing.T) {
	if os.Getenv("IMIGEE_BIG") != "1" {
		t.Skip("set IMIGEE_BIG=1 (takes minutes and ~2.5 GiB of disk)")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("IMIGEE_BIG_N")); err == nil && v > 0 {
		n = v
	}
	cfg, _ := testConfig(t)
	cfg.Now = nil
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]crypto.MailboxID, 10_000)
	for i := range ms {
		ms[i] = randMailbox()
	}
	report := func(phase string, d time.Duration, ops int) {
		runtime.GC()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		st := s.Stats()
		rate := ""
		if ops > 1 {
			rate = strconv.FormatFloat(float64(ops)/d.Seconds(), 'f', 0, 64) + " ops/s"
		}
		t.Logf("%-22s %7.1fs %12s | blobs %8d, live %7.1f MiB, file %7.1f MiB, data %7.1f MiB, free pages %7d | heap %6.1f MiB, sys %6.1f MiB",
			phase, d.Seconds(), rate, st.Blobs, mib(st.Bytes), mib(st.FileSize), mib(dataSize(t, s)),
			st.FreePages, mib(int64(mem.HeapAlloc)), mib(int64(mem.Sys)))
	}
	fill := func(phase string) []Ref {
		refs := make([]Ref, n)
		val := randData(1024)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range 128 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					m := ms[i%len(ms)]
					id, _, err := s.Put(context.Background(), m, val)
					if err != nil {
						t.Error(err)
						return
					}
					refs[i] = Ref{m, id}
				}
			})
		}
		wg.Wait()
		report(phase, time.Since(start), n)
		return refs
	}
	single := func(phase string) {
		const k = 500
		m := randMailbox()
		val := randData(1024)
		var refs []Ref
		start := time.Now()
		for range k {
			id, _, err := s.Put(context.Background(), m, val)
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, Ref{m, id})
		}
		report(phase, time.Since(start), k)
		if _, err := s.Ack(refs); err != nil {
			t.Fatal(err)
		}
	}
	ackAll := func(phase string, refs []Ref) {
		start := time.Now()
		var wg sync.WaitGroup
		const clients = 16
		for c := range clients {
			wg.Go(func() {
				part := refs[c*len(refs)/clients : (c+1)*len(refs)/clients]
				for len(part) > 0 {
					k := min(len(part), 1024)
					if _, err := s.Ack(part[:k]); err != nil {
						t.Error(err)
						return
					}
					part = part[k:]
				}
			})
		}
		wg.Wait()
		report(phase, time.Since(start), len(refs))
	}

	refs := fill("fill 1 KiB × n")
	// Reopen with n blobs stored: Open rebuilds the freelist (a scan of
	// the file) and the in-memory index (a scan of the expiry bucket);
	// the heap it adds is the index's cost per blob.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = nil // drop the old index before measuring the new one
	heapBefore := liveHeap()
	start := time.Now()
	if s, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	opened := time.Since(start)
	added := liveHeap() - heapBefore
	report("reopen full", opened, 1)
	start = time.Now()
	if err := s.db.View(func(tx *bolt.Tx) error { _, _, err := loadIndex(tx, s.keys); return err }); err != nil {
		t.Fatal(err)
	}
	t.Logf("Open with %d blobs: %v, of which index scan %v; heap added %.1f MiB = %.1f B per stored blob",
		n, opened, time.Since(start), mib(added), float64(added)/float64(n))
	single("1 put/commit, full")
	ackAll("ack all", refs)
	single("1 put/commit, emptied")
	refs = fill("refill 1 KiB × n")
	ackAll("ack all again", refs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	s, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	report("reopen (freelist scan)", time.Since(start), 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
