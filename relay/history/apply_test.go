package history

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// TestApplyGossipBatch: a gossip batch, committed alongside concurrent
// local stores, keeps what is valid, skips whole what is invalid or over
// MaxBytes, applies forgets (a wrong secret erases nothing), and leaves
// counters that equal what a reopen reads from disk; after Close it is
// ErrClosed.
func TestApplyGossipBatch(t *testing.T) {
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	path := filepath.Join(t.TempDir(), "history.db")
	s := open(t, path, clk, 0)
	e := nowEpoch(clk)
	sec := bytes.Repeat([]byte{7}, TagSize)
	tag := crypto.HistoryForgetTag(sec)
	tagged := ann(1, e, "s", friend("r1", here(1), near(2)), friend("r2", here(3)))
	tagged.ForgetTag = tag[:]

	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Store(ann(byte(100+i), e, "", friend("l", here(byte(100+i))))); err != nil {
				t.Error(err)
			}
		}()
	}
	res, err := s.Apply([]Op{
		{Announce: tagged},
		{Announce: ann(2, e, "", friend("r3", near(1)))},
		{Announce: ann(3, e, "")},                                                // no announcements: invalid
		{Forget: []Secret{{Epoch: e, Secret: []byte("short")}}},                  // invalid secret
		{Forget: []Secret{{Epoch: e, Secret: bytes.Repeat([]byte{8}, TagSize)}}}, // wrong secret
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 4 || res.Skipped != 2 || res.Erased != 0 {
		t.Fatalf("first batch: %+v", res)
	}
	if got := s.Stats().Entries; got != 16+4 {
		t.Fatalf("entries %d, want 20", got)
	}
	res, err = s.Apply([]Op{{Forget: []Secret{{Epoch: e, Secret: sec}}}})
	if err != nil || res.Erased != 2 {
		t.Fatalf("forget: %+v, %v", res, err)
	}
	// A late announcement by someone else now meets only origin 2's entry.
	ms, _, _, err := s.Late(ann(9, e, "", friend("x", here(1), here(3))), 10)
	if err != nil || len(ms) != 1 || string(ms[0].Record) != "r3" {
		t.Fatalf("after forget: %v, %v", ms, err)
	}
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply([]Op{{Announce: ann(4, e, "", friend("r", here(4)))}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("apply after close: %v", err)
	}
	s = open(t, path, clk, 0)
	defer s.Close()
	if after := s.Stats(); after.Bytes != before.Bytes || after.Entries != before.Entries {
		t.Fatalf("counts %+v in memory, %+v on disk", before, after)
	}

	// Over MaxBytes one op is skipped whole and the rest of the batch lands.
	small := open(t, filepath.Join(t.TempDir(), "small.db"), clk, 600)
	defer small.Close()
	big := ann(5, e, "", friend(string(bytes.Repeat([]byte{'b'}, 500)), here(5)))
	res, err = small.Apply([]Op{{Announce: big}, {Announce: ann(6, e, "", friend("r", here(6)))}})
	if err != nil || res.Skipped != 1 || res.Stored != 1 || small.Stats().Entries != 1 {
		t.Fatalf("over the cap: %+v, %v, %+v", res, err, small.Stats())
	}
}

// TestRerunAfterGroupFailure: a write whose group commit failed because
// of another write is run again, alone, in a new transaction; it must
// start over there (reset), not reuse the epoch it opened in the one that
// rolled back.
func TestRerunAfterGroupFailure(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	w := &writer{s: s}
	var added int
	put := call{fn: func(tx *bolt.Tx) error {
		w.reset()
		var err error
		added, err = w.put(tx, ann(1, e, "", friend("rec-1", here(1))))
		return err
	}, done: make(chan error, 1)}
	boom := errors.New("boom")
	bad := call{fn: func(*bolt.Tx) error { return boom }, done: make(chan error, 1)}
	s.run([]call{put, bad})
	if err := <-put.done; err != nil || added != 1 {
		t.Fatalf("rerun write: %d added, %v", added, err)
	}
	if err := <-bad.done; !errors.Is(err, boom) {
		t.Fatalf("failing write: %v", err)
	}
	ms, _, _, err := s.Late(ann(2, e, "", friend("x", here(1))), 10)
	if err != nil || len(ms) != 1 || string(ms[0].Record) != "rec-1" {
		t.Fatalf("the rerun write was not committed: %v %v", ms, err)
	}
}
