package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imigee/imigee/crypto"
)

func TestPutGetListAck(t *testing.T) {
	cfg, clk := testConfig(t)
	s := openTest(t, cfg)
	m := randMailbox()
	data := []byte("sealed blob")
	id, exp, err := s.Put(context.Background(), m, data)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Received().Equal(clk.Now()) || !exp.Equal(clk.Now().Add(MaxRetention)) {
		t.Fatalf("received %v expires %v, now %v", id.Received(), exp, clk.Now())
	}
	b, ok, err := s.Get(m, id)
	if err != nil || !ok || !bytes.Equal(b.Data, data) || b.Size != len(data) {
		t.Fatalf("Get = %+v %v %v", b, ok, err)
	}
	blobs, more, err := s.List([]crypto.MailboxID{m}, BlobID{}, 10, 0, true)
	if err != nil || more || len(blobs) != 1 || blobs[0].ID != id || !bytes.Equal(blobs[0].Data, data) {
		t.Fatalf("List = %+v %v %v", blobs, more, err)
	}
	if n, _ := s.Count([]crypto.MailboxID{m, m}); n != 1 {
		t.Fatalf("Count = %d", n)
	}
	n, err := s.Ack([]Ref{{m, id}})
	if err != nil || n != 1 {
		t.Fatalf("Ack = %d %v", n, err)
	}
	// Gone at once, for every reader.
	if _, ok, _ := s.Get(m, id); ok {
		t.Fatal("blob still there after ack")
	}
	if blobs, _, _ := s.List([]crypto.MailboxID{m}, BlobID{}, 10, 0, false); len(blobs) != 0 {
		t.Fatal("List still shows acked blob")
	}
	// A repeated ack is harmless.
	for range 2 {
		if n, err := s.Ack([]Ref{{m, id}, {randMailbox(), id}}); err != nil || n != 0 {
			t.Fatalf("repeated Ack = %d %v", n, err)
		}
	}
	st := s.Stats()
	if st.Blobs != 0 || st.Bytes != 0 || st.Mailboxes != 0 || st.Puts != 1 || st.Acks != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetentionThirtyDays(t *testing.T) {
	cfg, clk := testConfig(t)
	s := openTest(t, cfg)
	m := randMailbox()
	id := mustPut(t, s, m, []byte("x"))
	clk.Advance(MaxRetention - time.Nanosecond)
	if _, ok, _ := s.Get(m, id); !ok {
		t.Fatal("blob gone before 30 days")
	}
	if n, _ := s.Sweep(); n != 0 {
		t.Fatalf("swept %d before expiry", n)
	}
	clk.Advance(time.Nanosecond)
	// Expired blobs are invisible at once, before any sweep.
	if _, ok, _ := s.Get(m, id); ok {
		t.Fatal("blob visible 30 days after receipt")
	}
	if blobs, _, _ := s.List([]crypto.MailboxID{m}, BlobID{}, 10, 0, true); len(blobs) != 0 {
		t.Fatal("List shows an expired blob")
	}
	if n, err := s.Sweep(); err != nil || n != 1 {
		t.Fatalf("Sweep = %d %v", n, err)
	}
	if st := s.Stats(); st.Blobs != 0 || st.Expired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetentionLimit(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.Retention = MaxRetention + time.Nanosecond
	if _, err := Open(cfg); !errors.Is(err, ErrRetention) {
		t.Fatalf("Open with retention > 30 d: %v", err)
	}
}

// An operator who lowers retention lowers it for blobs already stored.
func TestRetentionLoweredOnReopen(t *testing.T) {
	cfg, clk := testConfig(t)
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := randMailbox()
	old := mustPut(t, s, m, []byte("old"))
	clk.Advance(12 * time.Hour)
	young := mustPut(t, s, m, []byte("young"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Retention = 24 * time.Hour
	s = openTest(t, cfg)
	clk.Advance(12 * time.Hour) // old is 24 h old, young 12 h
	if _, ok, _ := s.Get(m, old); ok {
		t.Fatal("old blob outlived the lowered retention")
	}
	if b, ok, _ := s.Get(m, young); !ok || !b.Expires.Equal(young.Received().Add(24*time.Hour)) {
		t.Fatalf("young blob: %+v %v", b, ok)
	}
	if n, _ := s.Sweep(); n != 1 {
		t.Fatalf("swept %d, want 1", n)
	}
}

func TestRejectionsStoreNothing(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.MaxBlobSize = 1000
	cfg.MailboxQuota = 3 * (1000 + blobOverhead)
	cfg.GlobalQuota = 5 * (1000 + blobOverhead)
	s := openTest(t, cfg)
	ctx := context.Background()
	a, b, c := randMailbox(), randMailbox(), randMailbox()
	if _, _, err := s.Put(ctx, a, nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
	if _, _, err := s.Put(ctx, a, make([]byte, 1001)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	for range 3 {
		mustPut(t, s, a, make([]byte, 1000))
	}
	if _, _, err := s.Put(ctx, a, []byte{1}); !errors.Is(err, ErrMailboxQuota) {
		t.Fatalf("mailbox quota: %v", err)
	}
	mustPut(t, s, b, make([]byte, 1000))
	mustPut(t, s, b, make([]byte, 1000))
	if _, _, err := s.Put(ctx, c, []byte{1}); !errors.Is(err, ErrGlobalQuota) {
		t.Fatalf("global quota: %v", err)
	}
	if n, _ := s.Count([]crypto.MailboxID{a, b, c}); n != 5 {
		t.Fatalf("Count = %d, want 5", n)
	}
	st := s.Stats()
	if st.Blobs != 5 || st.Bytes != 5000 || st.Mailboxes != 2 || st.RejectedEmpty != 1 ||
		st.RejectedTooLarge != 1 || st.RejectedMailboxQuota != 1 || st.RejectedGlobalQuota != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Acking frees quota.
	blobs, _, _ := s.List([]crypto.MailboxID{a}, BlobID{}, 1, 0, false)
	if _, err := s.Ack([]Ref{{a, blobs[0].ID}}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, a, make([]byte, 1000))
}

func TestDeleteMailboxes(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openTest(t, cfg)
	keep, gone1, gone2 := randMailbox(), randMailbox(), randMailbox()
	for i := range 30 {
		mustPut(t, s, []crypto.MailboxID{keep, gone1, gone2}[i%3], randData(50))
	}
	n, err := s.DeleteMailboxes([]crypto.MailboxID{gone1, gone2, gone1, randMailbox()})
	if err != nil || n != 20 {
		t.Fatalf("DeleteMailboxes = %d %v", n, err)
	}
	if n, _ := s.Count([]crypto.MailboxID{gone1, gone2}); n != 0 {
		t.Fatalf("%d blobs left", n)
	}
	if n, _ := s.Count([]crypto.MailboxID{keep}); n != 10 {
		t.Fatalf("kept %d, want 10", n)
	}
	if st := s.Stats(); st.Mailboxes != 1 || st.Forgotten != 20 {
		t.Fatalf("stats %+v", st)
	}
}

func TestListPaging(t *testing.T) {
	cfg, clk := testConfig(t)
	s := openTest(t, cfg)
	ms := []crypto.MailboxID{randMailbox(), randMailbox(), randMailbox()}
	other := randMailbox()
	var want []BlobID
	for i := range 50 {
		clk.Advance(time.Millisecond)
		want = append(want, mustPut(t, s, ms[i%3], randData(100)))
		mustPut(t, s, other, randData(10))
	}
	var got []BlobID
	after := BlobID{}
	for pages := 0; ; pages++ {
		blobs, more, err := s.List(ms, after, 7, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			got = append(got, b.ID)
			if b.Data != nil || b.Size != 100 {
				t.Fatalf("blob %+v", b)
			}
		}
		if !more {
			if len(blobs) == 0 || pages != 7 {
				t.Fatalf("last page %d has %d blobs", pages, len(blobs))
			}
			break
		}
		after = blobs[len(blobs)-1].ID
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order differs at %d", i)
		}
	}
	// Byte limit: 250 bytes → two 100-byte blobs; a tiny limit still
	// returns one blob so paging progresses.
	if blobs, more, _ := s.List(ms, BlobID{}, 100, 250, true); len(blobs) != 2 || !more {
		t.Fatalf("byte-limited page: %d blobs, more %v", len(blobs), more)
	}
	if blobs, more, _ := s.List(ms, BlobID{}, 100, 1, true); len(blobs) != 1 || !more {
		t.Fatalf("tiny byte limit: %d blobs, more %v", len(blobs), more)
	}
	if _, _, err := s.List(ms, BlobID{}, 0, 0, false); err == nil {
		t.Fatal("maxBlobs 0 accepted")
	}
}

// Concurrent writers share commits, and every acknowledged put is there.
func TestGroupCommit(t *testing.T) {
	cfg, _ := testConfig(t)
	s := openTest(t, cfg)
	const writers, each = 64, 20
	var wg sync.WaitGroup
	ids := make([][]Ref, writers)
	for w := range writers {
		wg.Go(func() {
			m := randMailbox()
			for range each {
				id := mustPut(t, s, m, randData(1024))
				ids[w] = append(ids[w], Ref{m, id})
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Puts != writers*each || st.MaxCommitOps < 2 || st.Commits >= st.Puts {
		t.Fatalf("no group commit: %+v", st)
	}
	t.Logf("%d puts in %d commits (max batch %d)", st.Puts, st.Commits, st.MaxCommitOps)
	for _, refs := range ids {
		if n, err := s.Ack(refs); err != nil || n != each {
			t.Fatalf("Ack = %d %v", n, err)
		}
	}
}

func TestCloseFinishesInFlight(t *testing.T) {
	cfg, _ := testConfig(t)
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := randMailbox()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []BlobID
	)
	for range 32 {
		wg.Go(func() {
			for {
				id, _, err := s.Put(context.Background(), m, []byte("x"))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	for s.Stats().Puts < 100 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := s.List([]crypto.MailboxID{m}, BlobID{}, 1, 0, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close: %v", err)
	}
	s = openTest(t, cfg)
	for _, id := range acked {
		if _, ok, _ := s.Get(m, id); !ok {
			t.Fatal("acknowledged blob lost across Close")
		}
	}
	if n, _ := s.Count([]crypto.MailboxID{m}); n != len(acked) {
		t.Fatalf("%d blobs stored, %d acknowledged", n, len(acked))
	}
}

func TestCompact(t *testing.T) {
	cfg, _ := testConfig(t)
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := randMailbox()
	var refs []Ref
	for range 500 {
		refs = append(refs, Ref{m, mustPut(t, s, m, randData(1024))})
	}
	if _, err := s.Ack(refs[:450]); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().FileSize
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dst := cfg.Path + ".compact"
	if err := Compact(cfg.Path, dst); err != nil {
		t.Fatal(err)
	}
	if err := Compact(cfg.Path, dst); err == nil {
		t.Fatal("Compact overwrote an existing file")
	}
	// The copy holds the same sealed values: it opens with the original's
	// day keys, and without them it refuses to open.
	keyDir := DefaultKeyDir(cfg.Path)
	cfg.Path = dst
	if _, err := Open(cfg); !errors.Is(err, ErrKeysMissing) {
		t.Fatalf("open without the keys: %v", err)
	}
	cfg.KeyDir = keyDir
	s = openTest(t, cfg)
	if n, _ := s.Count([]crypto.MailboxID{m}); n != 50 {
		t.Fatalf("%d blobs after compact", n)
	}
	if after := s.Stats().FileSize; after >= before {
		t.Fatalf("compact did not shrink: %d → %d", before, after)
	}
}

func TestSweeperRuns(t *testing.T) {
	cfg, clk := testConfig(t)
	cfg.SweepInterval = time.Millisecond
	s := openTest(t, cfg)
	mustPut(t, s, randMailbox(), []byte("x"))
	clk.Advance(MaxRetention)
	for s.Stats().Expired != 1 {
		time.Sleep(time.Millisecond)
	}
}

// A reader paging with `after` while 16 writers put never skips a blob:
// IDs are assigned in commit order, so nothing committed later sorts
// before what the reader has already seen.
func TestListAfterNeverSkips(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.Now = time.Now // real, moving clock
	s := openTest(t, cfg)
	m := randMailbox()
	const writers, each = 16, 40
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				mustPut(t, s, m, []byte("x"))
			}
		})
	}
	seen := make(map[BlobID]bool)
	after := BlobID{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		blobs, _, err := s.List([]crypto.MailboxID{m}, after, 7, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			if seen[b.ID] {
				t.Fatal("blob listed twice")
			}
			seen[b.ID] = true
			after = b.ID
		}
		if finished && len(blobs) == 0 {
			break
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("paging saw %d of %d blobs", len(seen), writers*each)
	}
}

// TestTinyBlobFloodBounded: a stranger putting 1-byte blobs is stopped by
// the byte quota after GlobalQuota/(1+blobOverhead) blobs, so the
// in-memory index (one entry per blob) is bounded by the quota too.
func TestTinyBlobFloodBounded(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.GlobalQuota = 64 << 10
	s := openTest(t, cfg)
	ctx := context.Background()
	stored := 0
	for range 1000 {
		if _, _, err := s.Put(ctx, randMailbox(), []byte{1}); err != nil {
			if !errors.Is(err, ErrGlobalQuota) {
				t.Fatal(err)
			}
			break
		}
		stored++
	}
	if want := int(cfg.GlobalQuota / (1 + blobOverhead)); stored != want {
		t.Fatalf("stored %d tiny blobs under a %d-byte quota, want %d", stored, cfg.GlobalQuota, want)
	}
}

// TestNoSyncOption: Config.NoSync (simulations only) reaches bbolt; the
// default syncs.
func TestNoSyncOption(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		s, err := Open(Config{Path: t.TempDir() + "/s.db", SweepInterval: -1, NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		if s.db.NoSync != noSync {
			t.Errorf("NoSync %v: bbolt has %v", noSync, s.db.NoSync)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSyncDelayGroupsCommits: with NoSync and a SyncDelay (the
// simulations' stand-in for the skipped fsync, in virtual time), puts
// arriving while a commit "syncs" share the next one; without it, puts
// 100 µs apart each commit alone, a commit taking no virtual time.
func TestSyncDelayGroupsCommits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, c := range []struct {
			delay time.Duration
			ok    func(commits uint64) bool
		}{
			{time.Millisecond, func(n uint64) bool { return n <= 8 }},
			{0, func(n uint64) bool { return n == 40 }},
		} {
			cfg, _ := testConfig(t)
			cfg.NoSync, cfg.SyncDelay = true, c.delay
			s := openTest(t, cfg)
			m := randMailbox()
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Go(func() {
					time.Sleep(time.Duration(i) * 100 * time.Microsecond)
					if _, _, err := s.Put(context.Background(), m, randData(64)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if st := s.Stats(); st.CommitOps != 40 || !c.ok(st.Commits) {
				t.Errorf("sync delay %v: %d commits carrying %d puts", c.delay, st.Commits, st.CommitOps)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
