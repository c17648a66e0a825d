package history

import (
	"crypto/rand"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

// The workload of the measurements: an active user-day is 20
// epochs with an Announce each, 100 friends, 4 tokens per friend (2 here,
// 2 near), a 16-byte key share per friend and one 150-byte shared record
// per epoch.
const (
	benchFriends = 100
	benchEpochs  = 20
	benchTokens  = 4
	benchShare   = 16
	benchShared  = 150
)

func benchStore(b *testing.B, window time.Duration, sync bool) (*Store, *clock) {
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "history.db"), Window: window, Now: clk.now, NoSync: !sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, clk
}

// userEpoch is one user's Announce of one epoch; tokens are random, so
// nothing matches unless the caller copies them.
func userEpoch(epoch uint64, user uint32) *Announce {
	a := &Announce{EpochSeconds: epochLen, Epoch: epoch, Shared: make([]byte, benchShared), ForgetTag: make([]byte, TagSize)}
	binary.BigEndian.PutUint32(a.Origin[:], user)
	rand.Read(a.ForgetTag)
	for range benchFriends {
		an := Announcement{Record: make([]byte, benchShare)}
		for k := range benchTokens {
			var t Token
			rand.Read(t.Value[:])
			t.Here = k < benchTokens/2
			an.Tokens = append(an.Tokens, t)
		}
		a.Announcements = append(a.Announcements, an)
	}
	return a
}

// rawBytes is what one user-day carries, without any index or framing.
func rawBytes() int {
	return benchEpochs * (benchShared + TagSize + benchFriends*(benchShare+benchTokens*(TokenSize+1)))
}

// BenchmarkBytesPerUserDay stores user-days and reports the counted bytes
// and the file bytes per user-day, and their ratio to the raw payload.
func BenchmarkBytesPerUserDay(b *testing.B) {
	s, clk := benchStore(b, DefaultWindow, false)
	e0 := nowEpoch(clk) - benchEpochs
	users := 0
	c0 := cpuTime()
	for b.Loop() {
		for ep := range benchEpochs {
			if _, err := s.Store(userEpoch(e0+uint64(ep), uint32(users))); err != nil {
				b.Fatal(err)
			}
		}
		users++
	}
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(users)/1e6, "cpu_ms/user-day")
	st := s.Stats()
	b.ReportMetric(float64(st.Bytes)/float64(users), "counted_B/user-day")
	b.ReportMetric(float64(st.FileSize)/float64(users), "file_B/user-day")
	b.ReportMetric(float64(rawBytes()), "raw_B/user-day")
	b.ReportMetric(float64(st.Bytes)/float64(users)/float64(rawBytes()), "counted/raw")
}

// BenchmarkLateMatch: a 7-day history of IMIGEE_BENCH_USERS (default 4)
// users a day; each op is one late epoch of one user (400 tokens) whose
// tokens all equal stored ones (each matches one entry). Reports matches/s
// beside a raw baseline: the bbolt cursor walk over the same epoch's
// values that a late match makes, in one read transaction, without
// reading them.
func BenchmarkLateMatch(b *testing.B) {
	s, clk := benchStore(b, 7*24*time.Hour, false)
	users := 4
	if v, err := strconv.Atoi(os.Getenv("IMIGEE_BENCH_USERS")); err == nil && v > 0 {
		users = v
	}
	days := 7
	now := nowEpoch(clk)
	var stored []*Announce
	for d := range days {
		for ep := range benchEpochs {
			e := now - uint64(d*144+ep*7)
			for u := range users {
				a := userEpoch(e, uint32(u))
				if _, err := s.Store(a); err != nil {
					b.Fatal(err)
				}
				stored = append(stored, a)
			}
		}
	}
	b.Logf("history: %d entries, %d counted bytes", s.Stats().Entries, s.Stats().Bytes)
	matches := 0
	i := 0
	b.Run("late", func(b *testing.B) {
		c0 := cpuTime()
		for b.Loop() {
			src := stored[i%len(stored)]
			i++
			a := *src
			a.Origin[15] = 0xff // another session
			ms, _, _, err := s.Late(&a, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			matches += len(ms)
		}
		cpu := cpuTime() - c0
		b.ReportMetric(float64(matches)/b.Elapsed().Seconds(), "matches/s")
		b.ReportMetric(float64(matches)/cpu.Seconds(), "matches/cpu-s")
	})
	b.Run("baseline_scan", func(b *testing.B) {
		vals := 0
		c0 := cpuTime()
		for b.Loop() {
			src := stored[i%len(stored)]
			i++
			_ = s.db.View(func(tx *bolt.Tx) error {
				c := tx.Bucket(epochName(src.EpochSeconds, src.Epoch)).Bucket(subAnn).Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					vals++
				}
				return nil
			})
		}
		b.ReportMetric(float64(vals)/b.Elapsed().Seconds(), "values/s")
		b.ReportMetric(float64(vals)/(cpuTime()-c0).Seconds(), "values/cpu-s")
	})
}

// BenchmarkLateBatchDay: one user's late batch for a whole day (20 epochs
// of 100 friends) against a history holding its friends' side of it.
// Reports the bytes sent up (encoded RendezvousRequest frames) and the
// history's CPU per batch (matching and storing, fsync off; the "sync"
// variant with fsync).
func BenchmarkLateBatchDay(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "nosync"
		if sync {
			name = "sync"
		}
		b.Run(name, func(b *testing.B) {
			s, clk := benchStore(b, DefaultWindow, sync)
			e0 := nowEpoch(clk) - benchEpochs - 1
			day := make([]*Announce, benchEpochs)
			up := 0
			for ep := range benchEpochs {
				day[ep] = userEpoch(e0+uint64(ep), 1)
				if _, err := s.Store(day[ep]); err != nil { // the friends' live side
					b.Fatal(err)
				}
				up += wireSize(day[ep])
			}
			k := 0
			c0 := cpuTime()
			for b.Loop() {
				for _, a := range day {
					l := *a
					binary.BigEndian.PutUint32(l.Origin[4:], uint32(k)+2)
					if _, _, _, err := s.Late(&l, 1024); err != nil {
						b.Fatal(err)
					}
				}
				k++
			}
			b.ReportMetric(float64(up), "bytes_up/batch")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/batch")
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/1e6, "cpu_ms/batch")
		})
	}
}

// cpuTime is the process's user+system CPU time so far: benchmarks report
// CPU per op beside wall time, since a lone caller of Batch also waits
// bbolt's MaxBatchDelay (10 ms) for company.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wireSize is the frame a node sends for a: the RendezvousRequest with
// late_announce, plus its varint length prefix.
func wireSize(a *Announce) int {
	la := &pb.Announce{Epoch: a.Epoch, EpochSeconds: a.EpochSeconds, SharedRecord: a.Shared, ForgetTag: a.ForgetTag}
	for _, an := range a.Announcements {
		pa := &pb.Announcement{SealedRecord: an.Record}
		for _, t := range an.Tokens {
			k := pb.TokenKind_NEAR
			if t.Here {
				k = pb.TokenKind_HERE
			}
			pa.Tokens = append(pa.Tokens, &pb.Token{Value: append([]byte(nil), t.Value[:]...), Kind: k})
		}
		la.Announcements = append(la.Announcements, pa)
	}
	n := proto.Size(&pb.RendezvousRequest{Id: 1 << 20, Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: la}})
	return n + len(binary.AppendUvarint(nil, uint64(n)))
}

// BenchmarkGossipApply is the testnet's hot path (issue 14): a relay
// storing what its peers gossip, in the writer's batches (Apply, one
// commit each). Each op is one batch of IMIGEE_BENCH_BATCH (default 10:
// one announcement from each of 10 relays) user-epochs of 100 friends and
// 4 tokens, into an epoch that already holds 200 of them. Reports CPU per
// stored announcement (Announce) and per token entry, fsync off.
func BenchmarkGossipApply(b *testing.B) {
	s, clk := benchStore(b, DefaultWindow, false)
	batch := 10
	if v, err := strconv.Atoi(os.Getenv("IMIGEE_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	e := nowEpoch(clk) - 1
	user := uint32(0)
	for range 200 {
		if _, err := s.Store(userEpoch(e, user)); err != nil {
			b.Fatal(err)
		}
		user++
	}
	ops := make([]Op, batch)
	anns, entries := 0, 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		for i := range ops {
			ops[i] = Op{Announce: userEpoch(e, user)}
			user++
		}
		b.StartTimer()
		c0 := cpuTime()
		res, err := s.Apply(ops)
		cpu += cpuTime() - c0
		if err != nil || res.Skipped > 0 {
			b.Fatal(res, err)
		}
		anns += batch
		entries += res.Stored
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(anns), "cpu_us/announce")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(entries), "cpu_ns/entry")
	b.ReportMetric(float64(s.Stats().FileSize)/float64(user), "file_B/announce")
}
