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
	if true {
		return 1024
	}
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

// TestChurnFileBounded: under steady churn — every round puts N blobs,
// acks half of the previous round's, and the rest expire after a few rounds
// — the live set stays constant while 20 rounds move many times its size
// through the store. Freed pages are reused, so the file stays within
// 2 × the peak live data plus bbolt's growth slack, and stops growing.
func TestChurnFileBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("churns ~30k blobs")
	}
	const (
		rounds    = 20
		perRound  = 1500
		roundTime = time.Hour
		// growthSlack: bbolt grows the file in doubling steps up to
		// AllocSize (16 MiB), then in 16 MiB steps.
		growthSlack = 16 << 20
		// pageSlack: meta/freelist/branch pages and the last partly used
		// pages of each bucket.
		pageSlack = 1 << 20
	)
	cfg, clk := testConfig(t)
	cfg.Retention = 4 * roundTime
	s := openTest(t, cfg)
	r := rand.New(rand.NewPCG(1, 2))
	ms := make([]crypto.MailboxID, 500)
	for i := range ms {
		ms[i] = randMailbox()
	}
	var (
		prev      []Ref
		putBytes  int64
		peakLive  int64
		sizeAt    [rounds]int64
		fileAt    [rounds]int64
		commitDur [rounds]time.Duration
	)
	for round := range rounds {
		sizes := make([]int, perRound)
		for i := range sizes {
			sizes[i] = churnSize(r)
			putBytes += int64(sizes[i])
		}
		start := time.Now()
		refs := putMany(t, s, ms, sizes)
		commitDur[round] = time.Since(start) / perRound
		peakLive = max(peakLive, s.Stats().Bytes)
		r.Shuffle(len(prev), func(i, j int) { prev[i], prev[j] = prev[j], prev[i] })
		if _, err := s.Ack(prev[:len(prev)/2]); err != nil {
			t.Fatal(err)
		}
		prev = refs
		clk.Advance(roundTime)
		if _, err := s.Sweep(); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		sizeAt[round], fileAt[round] = dataSize(t, s), st.FileSize
		t.Logf("round %2d: live %5.1f MiB (%d blobs), data %5.1f MiB, file %5.1f MiB, free pages %d, %v/put",
			round, mib(st.Bytes), st.Blobs, mib(sizeAt[round]), mib(st.FileSize), st.FreePages, commitDur[round])
	}
	mustCheck(t, s)
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
