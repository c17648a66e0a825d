package store

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// Ingest benchmarks: 64 goroutines each storing 1 KiB values, durably.
// The two raw bbolt DB.Batch baselines (BASELINES.md: ≈4,800 and
// ≈21,700 puts/s) run in the same package so one `make bench` gives the
// ratios of BenchmarkStorePut64 to both.
const (
	benchWriters   = 64
	benchValueSize = 1024
)

// runParallel splits b.N operations over benchWriters goroutines and
// reports the rate as ops/s under the given unit.
func runParallel(b *testing.B, unit string, op func(i int) error) {
	b.Helper()
	b.SetBytes(benchValueSize)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchWriters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
}

func benchRawBolt(b *testing.B, maxBatch int) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if maxBatch > 0 {
		db.MaxBatchSize = maxBatch
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	val := randData(benchValueSize)
	// Count the commits by their distinct transaction IDs (a Batch
	// transaction runs many callers' functions).
	var commitN atomic.Int64
	var txs sync.Map
	before := db.Stats().TxStats
	runParallel(b, "puts/s", func(i int) error {
		var k [16]byte
		binary.BigEndian.PutUint64(k[:], uint64(i))
		copy(k[8:], val[:8])
		return db.Batch(func(tx *bolt.Tx) error {
			if _, seen := txs.LoadOrStore(tx.ID(), true); !seen {
				commitN.Add(1)
			}
			return tx.Bucket([]byte("b")).Put(k[:], val)
		})
	})
	ts := db.Stats().TxStats
	commits := float64(max(1, commitN.Load()))
	b.ReportMetric(float64(ts.GetWrite()-before.GetWrite())/commits, "pages/commit")
	b.ReportMetric(float64(b.N)/commits, "puts/commit")
	b.ReportMetric((ts.GetWriteTime()-before.GetWriteTime()).Seconds()*1e3/commits, "write-ms/commit")
}

// BenchmarkRawBoltBatchDefault is the raw baseline: bbolt DB.Batch from 64
// goroutines with default options (MaxBatchDelay 10 ms, MaxBatchSize 1000).
func BenchmarkRawBoltBatchDefault(b *testing.B) { benchRawBolt(b, 0) }

// BenchmarkRawBoltBatch64 is the same with MaxBatchSize = 64, so a full
// batch of the 64 writers commits at once instead of waiting 10 ms.
func BenchmarkRawBoltBatch64(b *testing.B) { benchRawBolt(b, 64) }

// BenchmarkStorePut64 is Store.Put from 64 goroutines, 1 KiB each, into 64
// mailboxes: group commit, quota checks, expiry index, counters and all.
func BenchmarkStorePut64(b *testing.B) {
	cfg, _ := testConfig(b)
	cfg.Now = nil
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	val := randData(benchValueSize)
	ms := make([]crypto.MailboxID, benchWriters)
	for i := range ms {
		ms[i] = randMailbox()
	}
	runParallel(b, "puts/s", func(i int) error {
		_, _, err := s.Put(context.Background(), ms[i%len(ms)], val)
		return err
	})
	st := s.Stats()
	ts := s.db.Stats().TxStats
	b.ReportMetric(float64(ts.GetWrite())/float64(max(1, st.Commits)), "pages/commit")
	b.ReportMetric(float64(st.CommitOps)/float64(max(1, st.Commits)), "puts/commit")
	b.ReportMetric(st.CommitTime.Seconds()*1e3/float64(max(1, st.Commits)), "ms/commit")
	b.ReportMetric(ts.GetWriteTime().Seconds()*1e3/float64(max(1, st.Commits)), "write-ms/commit")
}

// BenchmarkDrain measures fetch + ack of pending blobs: b.N 1 KiB blobs in
// 1,000 mailboxes are drained by 8 concurrent clients, each listing its
// mailboxes 256 blobs at a time with data and acking each page.
func BenchmarkDrain(b *testing.B) {
	const (
		mailboxes = 1000
		clients   = 8
		page      = 256
	)
	cfg, _ := testConfig(b)
	cfg.Now = nil
	cfg.MailboxQuota = 1 << 40
	cfg.GlobalQuota = 1 << 40
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ms := make([]crypto.MailboxID, mailboxes)
	for i := range ms {
		ms[i] = randMailbox()
	}
	sizes := make([]int, b.N)
	for i := range sizes {
		sizes[i] = benchValueSize
	}
	putMany(b, s, ms, sizes)
	b.SetBytes(benchValueSize)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var drained atomic.Int64
	for c := range clients {
		wg.Go(func() {
			mine := ms[c*mailboxes/clients : (c+1)*mailboxes/clients]
			for {
				blobs, _, err := s.List(mine, BlobID{}, page, 1<<20, true)
				if err != nil {
					b.Error(err)
					return
				}
				if len(blobs) == 0 {
					return
				}
				refs := make([]Ref, len(blobs))
				for i, bl := range blobs {
					refs[i] = Ref{bl.Mailbox, bl.ID}
				}
				n, err := s.Ack(refs)
				if err != nil {
					b.Error(err)
					return
				}
				drained.Add(int64(n))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if got := drained.Load(); got != int64(b.N) {
		b.Fatalf("drained %d of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "blobs/s")
}
