package store

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// churnSize draws a blob size like the sealed envelopes a relay stores:
// mostly small padded buckets, sometimes a 64 KiB stream chunk (which bbolt
// keeps in overflow pages, the hard case for page reuse).
func churnSize(r *rand.Rand) int {
	switch x := r.IntN(100); {
	case x < 40:
		return 256
	case x < 80:
		return 1024
	case x < 97:
		return 4096
	default:
		return 64 << 10
	}
}

// putMany stores the given sizes from 64 goroutines into random mailboxes
// of ms and returns the refs.
func putMany(t testing.TB, s *Store, ms []crypto.MailboxID, sizes []int) []Ref {
	t.Helper()
	refs := make([]Ref, len(sizes))
	var wg sync.WaitGroup
	const writers = 64
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(sizes); i += writers {
				m := ms[(i*7919)%len(ms)]
				id, _, err := s.Put(context.Background(), m, randData(sizes[i]))
				if err != nil {
					t.Error(err)
					return
				}
				refs[i] = Ref{m, id}
			}
		})
	}
	wg.Wait()
	return refs
}

// dataSize is the part of the file bbolt has ever handed out (high-water
// page × page size); the file itself is that plus bbolt's growth slack.
func dataSize(t testing.TB, s *Store) int64 {
	var n int64
	if err := s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChurnFileBounded: steady churn with a constant live set. Every round
// puts N blobs, the sweep removes those older than the retention (a few
// rounds), and random acks bring the live set back to L, so blobs live for
// random times as they would with recipients that come and go. 20 rounds
// move many times the live set through the store; freed pages are reused, so
// the file stops growing and stays within 2 × the peak live data plus
// bbolt's growth slack and a budget of pages in flight.
func TestChurnFileBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("churns ~20k blobs")
	}
	const (
		rounds    = 20
		live      = 2000 // L
		perRound  = 1000 // N
		roundTime = time.Hour
		// growthSlack: bbolt grows the file in doubling steps up to
		// AllocSize (16 MiB), then in 16 MiB steps.
		growthSlack = 16 << 20
		// pageSlack: pages copied by the commits in flight (bounded by
		// txBudget) plus the part-used edge pages of each bucket.
		pageSlack = 2 << 20
	)
	cfg, clk := testConfig(t)
	cfg.Retention = 5*roundTime - time.Minute // IDs in a round differ by nanoseconds
	s := openTest(t, cfg)
	// Page allocation and reuse do not depend on fsync; skipping it keeps
	// this test fast on a shared disk. Durability is TestCrashKill9's job.
	s.db.NoSync = true
	r := rand.New(rand.NewPCG(1, 2))
	ms := make([]crypto.MailboxID, 500)
	for i := range ms {
		ms[i] = randMailbox()
	}
	type liveRef struct {
		Ref
		round int
	}
	var (
		set      []liveRef
		putBytes int64
		peakLive int64
		sizeAt   [rounds]int64
		fileAt   [rounds]int64
	)
	for round := range rounds {
		sizes := make([]int, perRound)
		for i := range sizes {
			sizes[i] = churnSize(r)
			putBytes += int64(sizes[i])
		}
		for _, ref := range putMany(t, s, ms, sizes) {
			set = append(set, liveRef{ref, round})
		}
		peakLive = max(peakLive, s.Stats().Bytes)
		clk.Advance(roundTime)
		swept, err := s.Sweep()
		if err != nil {
			t.Fatal(err)
		}
		kept := set[:0]
		for _, lr := range set {
			if lr.round > round-4 {
				kept = append(kept, lr)
			}
		}
		if len(set)-len(kept) != swept {
			t.Fatalf("swept %d, expected %d", swept, len(set)-len(kept))
		}
		set = kept
		r.Shuffle(len(set), func(i, j int) { set[i], set[j] = set[j], set[i] })
		var acks []Ref
		for len(set) > live {
			acks = append(acks, set[len(set)-1].Ref)
			set = set[:len(set)-1]
		}
		if n, err := s.Ack(acks); err != nil || n != len(acks) {
			t.Fatalf("Ack = %d, %v", n, err)
		}
		st := s.Stats()
		sizeAt[round], fileAt[round] = dataSize(t, s), st.FileSize
		t.Logf("round %2d: live %5.1f MiB (%d blobs), data %5.1f MiB, file %5.1f MiB, free pages %d, expired %d, acked %d",
			round, mib(st.Bytes), st.Blobs, mib(sizeAt[round]), mib(st.FileSize), st.FreePages, swept, len(acks))
	}
	mustCheck(t, s)
	logBuckets(t, s)
	t.Logf("moved %.1f MiB through a live set peaking at %.1f MiB", mib(putBytes), mib(peakLive))
	if putBytes < 5*peakLive {
		t.Fatalf("not enough churn to prove reuse: %d put, %d peak", putBytes, peakLive)
	}
	for round := range rounds {
		if sizeAt[round] > 2*peakLive+pageSlack {
			t.Errorf("round %d: data %d > 2 × peak live %d + %d", round, sizeAt[round], peakLive, pageSlack)
		}
		if fileAt[round] > 2*peakLive+growthSlack {
			t.Errorf("round %d: file %d > 2 × peak live %d + %d", round, fileAt[round], peakLive, growthSlack)
		}
	}
	// Steady state: the second half of the run does not grow the file.
	if sizeAt[rounds-1] > sizeAt[rounds/2]+pageSlack {
		t.Errorf("still growing: %d at round %d, %d at the end", sizeAt[rounds/2], rounds/2, sizeAt[rounds-1])
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// logBuckets logs where the pages of the file go.
func logBuckets(t testing.TB, s *Store) {
	s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketData, bucketExpiry} {
			st := tx.Bucket(name).Stats()
			t.Logf("%-9s keys %7d  leaf pages %6d (+%d overflow) %5.1f%% used  branch pages %d",
				name, st.KeyN, st.LeafPageN, st.LeafOverflowN, 100*float64(st.LeafInuse)/float64(max(1, st.LeafAlloc)), st.BranchPageN)
		}
		return nil
	})
	bs := s.db.Stats()
	t.Logf("free pages %d, pending %d", bs.FreePageN, bs.PendingPageN)
}
