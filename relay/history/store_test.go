package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/imigee/imigee/crypto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const epochLen = 600

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t testing.TB, path string, clk *clock, max int64) *Store {
	t.Helper()
	s, err := Open(Config{Path: path, Window: 72 * time.Hour, MaxBytes: max, Now: clk.now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newStore(t testing.TB) (*Store, *clock, string) {
	t.Helper()
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	path := filepath.Join(t.TempDir(), "history.db")
	s := open(t, path, clk, 0)
	t.Cleanup(func() { s.Close() })
	return s, clk, path
}

// held is st without its activity counters (commits and writes): what
// the store holds.
func held(st Stats) Stats {
	st.Commits, st.Writes = 0, 0
	return st
}

func tok(b byte) [TokenSize]byte { return [TokenSize]byte{b, b, b, b, b, b, b, b} }

func origin(b byte) (o [OriginSize]byte) {
	o[0] = b
	return o
}

func nowEpoch(clk *clock) uint64 { return uint64(clk.now().Unix()) / epochLen }

func ann(o byte, epoch uint64, shared string, as ...Announcement) *Announce {
	return &Announce{EpochSeconds: epochLen, Epoch: epoch, Origin: origin(o), Shared: []byte(shared), Announcements: as}
}

func friend(record string, toks ...Token) Announcement {
	return Announcement{Tokens: toks, Record: []byte(record)}
}

func here(b byte) Token { return Token{Value: tok(b), Here: true} }
func near(b byte) Token { return Token{Value: tok(b)} }

// TestLateMatchesStored: a late announcement matches stored live and late
// entries of its epoch with the stored side's records; near=near does not
// match; a session never matches its own entries; another epoch is apart.
func TestLateMatchesStored(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk) - 10
	if n, err := s.Store(ann(1, e, "shared-A", friend("rec-A1", here(1), near(2)), friend("rec-A2", near(3)))); err != nil || n != 3 {
		t.Fatalf("store: %d %v", n, err)
	}
	// B late: here(1) matches A's here, near(2) matches A's near? no
	// (near=near), here(3) matches A's near(3).
	ms, dropped, n, err := s.Late(ann(2, e, "shared-B", friend("rec-B", here(1), near(2), here(3))), 1024)
	if err != nil || dropped != 0 || n != 3 {
		t.Fatalf("late: %d %d %v", n, dropped, err)
	}
	if len(ms) != 2 {
		t.Fatalf("want 2 matches, got %d", len(ms))
	}
	want := map[[TokenSize]byte]string{tok(1): "rec-A1", tok(3): "rec-A2"}
	for _, m := range ms {
		if m.Epoch != e || string(m.Record) != want[m.Token] || string(m.Shared) != "shared-A" {
			t.Fatalf("match %+v", m)
		}
	}
	// C late matches B's stored late entry too (and A's), never its own.
	ms, _, _, err = s.Late(ann(3, e, "", friend("rec-C", near(1))), 1024)
	if err != nil || len(ms) != 2 {
		t.Fatalf("late C: %d %v", len(ms), err)
	}
	// C again, near(1) now here: match and put share the epoch and the
	// announcement match opened (C's own, skipped); the near entry is
	// upgraded, one entry added and one freed.
	before := s.Stats().Entries
	ms, _, n, err = s.Late(ann(3, e, "", friend("rec-C", here(1))), 1024)
	if err != nil || n != 1 || s.Stats().Entries != before {
		t.Fatalf("late C upgrade: %d added, entries %d → %d, %v", n, before, s.Stats().Entries, err)
	}
	for _, m := range ms {
		if string(m.Record) == "rec-C" {
			t.Fatal("a session matched its own entry")
		}
	}
	// Same tokens in another epoch: nothing.
	if ms, _, _, _ := s.Late(ann(4, e-1, "", friend("x", here(1))), 1024); len(ms) != 0 {
		t.Fatalf("matched across epochs: %d", len(ms))
	}
	// Cap: one match returned, the rest counted.
	ms, dropped, _, _ = s.Late(ann(5, e, "", friend("x", here(1))), 1)
	if len(ms) != 1 || dropped != 2 { // A, B and C's upgraded entry
		t.Fatalf("cap: %d matches, %d dropped", len(ms), dropped)
	}
}

// TestStaleAndWindow: future epochs and epochs older than the window are
// refused and store nothing; the window's edges are accepted.
func TestStaleAndWindow(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	back := uint64(72 * time.Hour / (epochLen * time.Second))
	for _, bad := range []uint64{e + 1, e - back - 1, 0, e + 1<<40} {
		if _, _, _, err := s.Late(ann(1, bad, "", friend("r", here(1))), 10); !errors.Is(err, ErrStale) {
			t.Fatalf("epoch %d: %v", int64(bad)-int64(e), err)
		}
	}
	if st := s.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("refused announcements stored: %+v", st)
	}
	for _, ok := range []uint64{e, e - back} {
		if _, _, _, err := s.Late(ann(1, ok, "", friend("r", here(1))), 10); err != nil {
			t.Fatalf("epoch %d: %v", int64(ok)-int64(e), err)
		}
	}
}

// TestExpireWholeEpochs: Expire drops whole epochs once their end is older
// than the window, and the counts with them.
func TestExpireWholeEpochs(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	for i := uint64(0); i < 3; i++ {
		if _, err := s.Store(ann(1, e-i, "", friend("r", here(1), here(2)))); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Expire(); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	clk.add(72 * time.Hour) // the two past epochs ended ≥ 72 h ago
	if n, err := s.Expire(); err != nil || n != 4 {
		t.Fatalf("expired %d (%v), want the two oldest epochs' 4 entries", n, err)
	}
	clk.add(epochLen * time.Second)
	if n, _ := s.Expire(); n != 2 {
		t.Fatalf("expired %d", n)
	}
	if st := s.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}

// TestForgetBySecret: the right secret erases its epoch's tagged
// announcements (counted); a wrong secret, or the right one for another
// epoch, erases nothing; the counts return to what they were.
func TestForgetBySecret(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk) - 2
	sec, tag := forgetPair(7, e)
	if _, err := s.Store(ann(9, e, "other", friend("keep", here(1)))); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	a := ann(1, e, "mine", friend("r1", here(1), near(2)), friend("r2", here(3)))
	a.ForgetTag = tag
	if _, err := s.Store(a); err != nil {
		t.Fatal(err)
	}
	wrong, _ := forgetPair(7, e+1)
	for _, sc := range []Secret{{e, wrong}, {e + 1, sec}, {e, make([]byte, 32)}} {
		if n, err := s.Forget([]Secret{sc}); err != nil || n != 0 {
			t.Fatalf("wrong secret erased %d (%v)", n, err)
		}
	}
	if n, err := s.Forget([]Secret{{e, sec}}); err != nil || n != 2 {
		t.Fatalf("forget: %d %v", n, err)
	}
	if st := s.Stats(); st.Entries != before.Entries || st.Bytes != before.Bytes {
		t.Fatalf("after forget %+v, before %+v", st, before)
	}
	ms, _, _, _ := s.Late(ann(2, e, "", friend("x", here(1), here(3))), 10)
	if len(ms) != 1 || string(ms[0].Record) != "keep" {
		t.Fatalf("after forget: %+v", ms)
	}
	if _, err := s.Forget([]Secret{{e, []byte("short")}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short secret: %v", err)
	}
}

// TestForgetReachesEverySessionAnnouncement: only a session's first
// announcement under a tag gets a forget entry, yet forgetting the tag
// erases all of that session's announcements carrying it, and those of
// another session with the same tag (the same phone after a restart), and
// nothing untagged or tagged otherwise; the counts return to what the
// others cost. It fails if Forget reads only the forget index.
func TestForgetReachesEverySessionAnnouncement(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk) - 1
	sec, tag := forgetPair(3, e)
	sec2, tag2 := forgetPair(4, e)
	store := func(a *Announce, tg []byte) {
		t.Helper()
		a.ForgetTag = tg
		if _, err := s.Store(a); err != nil {
			t.Fatal(err)
		}
	}
	store(ann(9, e, "", friend("keep", here(1))), nil)
	store(ann(8, e, "", friend("keep2", here(5))), tag2)
	// Session 1: untagged first, then three tagged; session 2: two tagged.
	store(ann(1, e, "", friend("u", here(20))), nil)
	before := s.Stats()
	store(ann(1, e, "", friend("a", here(1))), tag)
	store(ann(1, e, "", friend("b", here(5), near(6))), tag)
	store(ann(1, e, "", friend("c", here(7))), tag)
	store(ann(2, e, "", friend("d", near(1))), tag)
	store(ann(2, e, "", friend("e", here(8))), tag)
	keys := func(tg []byte) int {
		n := 0
		err := s.db.View(func(tx *bolt.Tx) error {
			ep := tx.Bucket(epochName(epochLen, e))
			k := s.keys.lookup(epochID{epochLen, e})
			th := k.idHash(idTag, tg)
			c := ep.Bucket(subForget).Cursor()
			for k, _ := c.Seek(th); k != nil && bytes.HasPrefix(k, th); k, _ = c.Next() {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Session 1's first tagged announcement and session 2's first.
	if n := keys(tag); n != 2 {
		t.Fatalf("forget entries under the tag: %d, want 2", n)
	}
	if n, err := s.Forget([]Secret{{e, sec}}); err != nil || n != 5 {
		t.Fatalf("forget erased %d (%v), want 5", n, err)
	}
	if st := s.Stats(); st.Entries != before.Entries || st.Bytes != before.Bytes {
		t.Fatalf("after forget %+v, before the tagged ones %+v", st, before)
	}
	ms, _, _, err := s.Late(ann(3, e, "", friend("x", here(1), here(5), here(7), here(8), here(20))), 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := matchRecs(ms); got != "keep,keep2,u" {
		t.Fatalf("after forget the late one matches %q", got)
	}
	if n, err := s.Forget([]Secret{{e, sec2}}); err != nil || n != 1 {
		t.Fatalf("second tag erased %d (%v)", n, err)
	}
}

// TestForgetTagOnManySessions: a client that puts one tag on more
// sessions than sessionTagged looks through still has every announcement
// erased by the tag's forget, and nothing is left counted.
func TestForgetTagOnManySessions(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk) - 1
	sec, tag := forgetPair(0, e)
	const sessions = 3 * maxTagScan
	for o := 0; o < sessions; o++ {
		for i := 0; i < 2; i++ {
			a := ann(byte(o+1), e, "", friend("r", here(byte(2*o+i))))
			a.ForgetTag = tag
			if _, err := s.Store(a); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := s.Forget([]Secret{{e, sec}}); err != nil || n != 2*sessions {
		t.Fatalf("forget erased %d (%v), want %d", n, err, 2*sessions)
	}
	if st := s.Stats(); st.Entries != 0 {
		t.Fatalf("after forget: %+v", st)
	}
}

// TestForgetUnusualIndexes: Forget erases by the tag whatever the forget
// index holds: an entry for every announcement (files written before a
// session's later announcements went without one) erases each once, with
// the counts back to what the rest cost; and a session whose entry under
// the tag's hash names an announcement of another tag (a hash collision,
// made here by moving the entry) still has its announcements under the
// tag erased and the other one kept. The second fails if Forget skips a
// session whose named announcement carries another tag.
func TestForgetUnusualIndexes(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk) - 1
	sec, tag := forgetPair(5, e)
	_, other := forgetPair(6, e)
	entryBytes := int64(idKeyLen + elemOverhead)
	// edit changes session's forget entries under tg's hash in one
	// transaction: fn gets the index, the hash and the session's aids.
	edit := func(tg []byte, fn func(f *bolt.Bucket, th []byte, aids []uint64) int64) {
		t.Helper()
		var d int64
		err := s.db.Update(func(tx *bolt.Tx) error {
			ep, err := s.openEpoch(tx, epochID{epochLen, e}, false)
			if err != nil {
				return err
			}
			var aids []uint64
			c := ep.a.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				aids = append(aids, binary.BigEndian.Uint64(k))
			}
			d = fn(ep.f, ep.key.idHash(idTag, tg), aids)
			return addCounts(tx, ep.name, counts{bytes: d})
		})
		if err != nil {
			t.Fatal(err)
		}
		s.bytes.Add(d)
	}
	put := func(o byte, rec string, b byte, tg []byte) {
		t.Helper()
		a := ann(o, e, "", friend(rec, here(b)))
		a.ForgetTag = tg
		if _, err := s.Store(a); err != nil {
			t.Fatal(err)
		}
	}

	// Every announcement indexed, as files written before.
	put(9, "keep", 1, nil)
	before := s.Stats()
	for i := byte(0); i < 3; i++ {
		put(1, "old", 10+i, tag)
	}
	edit(tag, func(f *bolt.Bucket, th []byte, aids []uint64) int64 {
		var d int64
		for _, aid := range aids[1:] { // not keep's
			if f.Get(idKey(th, aid)) != nil {
				continue // the first, indexed already
			}
			if err := f.Put(idKey(th, aid), nil); err != nil {
				t.Fatal(err)
			}
			d += entryBytes
		}
		return d
	})
	if n, err := s.Forget([]Secret{{e, sec}}); err != nil || n != 3 {
		t.Fatalf("forget over an index of every announcement: %d (%v), want 3", n, err)
	}
	if st := s.Stats(); st.Bytes != before.Bytes || st.Entries != before.Entries {
		t.Fatalf("after forget %+v, before %+v", st, before)
	}

	// The entry under tag's hash names session 2's announcement of
	// another tag; its announcement under tag has none of its own.
	put(2, "other", 20, other)
	put(2, "mine", 21, tag)
	edit(tag, func(f *bolt.Bucket, th []byte, aids []uint64) int64 {
		// aids: keep, other, mine
		if err := f.Delete(idKey(th, aids[2])); err != nil {
			t.Fatal(err)
		}
		if err := f.Put(idKey(th, aids[1]), nil); err != nil {
			t.Fatal(err)
		}
		return 0
	})
	if n, err := s.Forget([]Secret{{e, sec}}); err != nil || n != 1 {
		t.Fatalf("forget through another tag's entry: %d (%v), want 1", n, err)
	}
	ms, _, _, err := s.Late(ann(3, e, "", friend("x", here(20), here(21))), 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := matchRecs(ms); got != "other" {
		t.Fatalf("after forget the late one matches %q, want other", got)
	}
}

// forgetPair is the forget secret of epoch e under a device key whose
// first byte is b, and its tag.
func forgetPair(b byte, e uint64) (secret, tag []byte) {
	var key [32]byte
	key[0] = b
	sec := crypto.HistoryForgetSecret(&key, e)
	tg := crypto.HistoryForgetTag(sec[:])
	return sec[:], tg[:]
}

// matchRecs is the matches' records, sorted and joined by commas.
func matchRecs(ms []Match) string {
	var rs []string
	for _, m := range ms {
		rs = append(rs, string(m.Record))
	}
	slices.Sort(rs)
	return strings.Join(rs, ",")
}

// TestRestartKeepsHistory: entries and counts survive a close and reopen.
func TestRestartKeepsHistory(t *testing.T) {
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	path := filepath.Join(t.TempDir(), "history.db")
	s := open(t, path, clk, 0)
	e := nowEpoch(clk) - 1
	if _, err := s.Store(ann(1, e, "sh", friend("rec", here(1)))); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	s.Close()
	s = open(t, path, clk, 0)
	defer s.Close()
	if got := s.Stats(); got.Bytes != st.Bytes || got.Entries != st.Entries {
		t.Fatalf("reopened %+v, was %+v", got, st)
	}
	ms, _, _, err := s.Late(ann(2, e, "", friend("x", here(1))), 10)
	if err != nil || len(ms) != 1 || string(ms[0].Record) != "rec" {
		t.Fatalf("after restart: %+v %v", ms, err)
	}
}

// TestMaxBytes: over MaxBytes a write fails with ErrFull and changes
// nothing; the counts match what an entry costs.
func TestMaxBytes(t *testing.T) {
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	s := open(t, filepath.Join(t.TempDir(), "h.db"), clk, 600)
	defer s.Close()
	e := nowEpoch(clk)
	if _, err := s.Store(ann(1, e, "", friend("rec", here(1)))); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	for i := 0; i < 10; i++ {
		_, err := s.Store(ann(byte(2+i), e, "", friend("rec", here(byte(i)))))
		if errors.Is(err, ErrFull) {
			_, _, _, lerr := s.Late(ann(99, e, "", friend("rec", here(1))), 10)
			if !errors.Is(lerr, ErrFull) {
				t.Fatalf("late over the cap: %v", lerr)
			}
			if s.Stats().Bytes > 600 {
				t.Fatalf("bytes %d over the cap", s.Stats().Bytes)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.Stats().Bytes <= st.Bytes {
			t.Fatal("bytes did not grow")
		}
	}
	t.Fatal("never full")
}

// TestIdempotentRetry: announcing the same tokens again from the same
// session adds nothing; near then here upgrades the entry.
func TestIdempotentRetry(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	a := ann(1, e, "", friend("r", here(1), near(2)))
	if n, _ := s.Store(a); n != 2 {
		t.Fatal(n)
	}
	st := held(s.Stats())
	if n, _ := s.Store(a); n != 0 || held(s.Stats()) != st {
		t.Fatalf("retry added %d: %+v vs %+v", n, s.Stats(), st)
	}
	if n, _ := s.Store(ann(1, e, "", friend("r2", here(2)))); n != 1 {
		t.Fatalf("upgrade added %d", n)
	}
	if got := s.Stats().Entries; got != 2 {
		t.Fatalf("entries after upgrade %d", got)
	}
	ms, _, _, _ := s.Late(ann(2, e, "", friend("x", near(2))), 10)
	if len(ms) != 1 || string(ms[0].Record) != "r2" {
		t.Fatalf("upgraded entry: %+v", ms)
	}
}

// TestCorruptValueIsAnError: a stored value that does not decode makes
// the call fail with ErrCorrupt, not panic, and changes nothing.
func TestCorruptValueIsAnError(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	if _, err := s.Store(ann(1, e, "", friend("r", here(1)))); err != nil {
		t.Fatal(err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(epochName(epochLen, e)).Bucket(subAnn).Put(aidKey(1), []byte{9, 9})
	})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if _, _, _, err := s.Late(ann(2, e, "", friend("x", here(1))), 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("late over a corrupt header: %v", err)
	}
	if s.Stats() != st {
		t.Fatal("a failed call changed the counts")
	}
}

// TestConcurrentWritesShareCommits: many concurrent stores, grouped by
// the committer, all land (it does not count the commits: bbolt exposes no
// commit counter).
func TestConcurrentWritesShareCommits(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Store(ann(byte(i), e, "", friend("r", here(byte(i))))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := s.Stats().Entries; got != 64 {
		t.Fatalf("entries %d", got)
	}
}

// TestSyncDelayGroupsCommits: with NoSync and a SyncDelay (the
// simulations' stand-in for fsync, in virtual time), writes that arrive
// while a commit "syncs" share the next commit, as on a disk; without the
// delay, writes arriving 100 µs apart each commit alone, since a commit
// takes no virtual time. Counted by Stats.Commits and Stats.Writes.
func TestSyncDelayGroupsCommits(t *testing.T) {
	run := func(t *testing.T, delay time.Duration) Stats {
		clk := &clock{t: time.Unix(1_790_000_000, 0)}
		s, err := Open(Config{Path: filepath.Join(t.TempDir(), "history.db"), Window: 72 * time.Hour,
			Now: clk.now, NoSync: true, SyncDelay: delay})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		e := nowEpoch(clk)
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 100 * time.Microsecond)
				if _, err := s.Store(ann(byte(i), e, "", friend("r", here(byte(i))))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		st := s.Stats()
		if st.Entries != 40 || st.Writes != 40 {
			t.Fatalf("entries %d, writes %d, want 40", st.Entries, st.Writes)
		}
		return st
	}
	synctest.Test(t, func(t *testing.T) {
		// 4 ms of arrivals, a 1 ms sync: about one commit per ms.
		if st := run(t, time.Millisecond); st.Commits > 8 {
			t.Errorf("with a 1 ms sync delay: %d commits for 40 writes", st.Commits)
		}
		if st := run(t, 0); st.Commits != 40 {
			t.Errorf("without a delay: %d commits for 40 writes 100 µs apart", st.Commits)
		}
	})
}

// TestLateTokenTwiceMatchesOnce: a late announcement carrying one token as
// near (one friend) and again as here (another) gets each stored entry
// once: the stored here entry on the first, the stored near one on the
// second, never the here entry twice.
func TestLateTokenTwiceMatchesOnce(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	if _, err := s.Store(ann(1, e, "", friend("rec-here", here(1)))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store(ann(2, e, "", friend("rec-near", near(1)))); err != nil {
		t.Fatal(err)
	}
	ms, dropped, _, err := s.Late(ann(3, e, "", friend("f1", near(1)), friend("f2", here(1))), 1024)
	if err != nil || dropped != 0 {
		t.Fatalf("late: %d dropped, %v", dropped, err)
	}
	got := map[string]int{}
	for _, m := range ms {
		got[string(m.Record)]++
	}
	if len(ms) != 2 || got["rec-here"] != 1 || got["rec-near"] != 1 {
		t.Fatalf("matches %v", got)
	}
}

// TestHashSet: the late match's table finds every hash it holds (zero
// and colliding low bits included) and no other.
func TestHashSet(t *testing.T) {
	hs := []uint64{0, 1, 1 << 40, 1<<40 + 1, 17, 33, 49, ^uint64(0)}
	s := newHashSet(hs)
	for i, h := range hs {
		if got := s.find(h); got != int32(i) {
			t.Fatalf("find(%x) = %d, want %d", h, got, i)
		}
	}
	for _, h := range []uint64{2, 65, 1<<40 + 2, ^uint64(0) - 1} {
		if got := s.find(h); got != -1 {
			t.Fatalf("find(%x) = %d for an absent hash", h, got)
		}
	}
}

// TestSessionSummary: a session announcing many times in one epoch (past
// mergeAt, so its entries go into its summary) still stores each token
// once: a retry of an early announcement adds nothing, an early near
// token announced again as here is upgraded (and matched as here), and a
// forget erases everything it stored, summary included (counts back to
// zero).
func TestSessionSummary(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	secret := make([]byte, TagSize)
	secret[0] = 9
	tag := crypto.HistoryForgetTag(secret)
	mk := func(rec string, toks ...Token) *Announce {
		a := ann(1, e, "", friend(rec, toks...))
		a.ForgetTag = tag[:]
		return a
	}
	for i := range 3 * mergeAt {
		if n, err := s.Store(mk("r"+strconv.Itoa(i), here(byte(i+1)), near(byte(100+i)))); err != nil || n != 2 {
			t.Fatalf("store %d: %d %v", i, n, err)
		}
	}
	st := s.Stats()
	if st.Entries != 6*mergeAt {
		t.Fatalf("entries %+v", st)
	}
	if n, err := s.Store(mk("again", here(3), near(102))); err != nil || n != 0 {
		t.Fatalf("retry of an early announcement added %d (%v)", n, err)
	}
	if n, err := s.Store(mk("up", here(101))); err != nil || n != 1 {
		t.Fatalf("upgrade added %d (%v)", n, err)
	}
	if got := s.Stats().Entries; got != st.Entries {
		t.Fatalf("entries after upgrade %d, want %d", got, st.Entries)
	}
	ms, _, _, err := s.Late(ann(2, e, "", friend("x", near(101))), 10)
	if err != nil || len(ms) != 1 || string(ms[0].Record) != "up" {
		t.Fatalf("upgraded entry: %+v %v", ms, err)
	}
	if n, err := s.Store(mk("last", here(byte(3*mergeAt+1)))); err != nil || n != 1 {
		t.Fatalf("a new token after the summary: %d %v", n, err)
	}
	n, err := s.Forget([]Secret{{Epoch: e, Secret: secret}})
	if err != nil || n != 3*mergeAt+2 {
		t.Fatalf("forget erased %d (%v)", n, err)
	}
	// What is left is the late announcement of session 2 alone.
	if got := s.Stats(); got.Entries != 1 {
		t.Fatalf("after forget: %+v", got)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(epochName(epochLen, e)).Bucket(subSummary).Cursor().First(); k != nil {
			t.Error("the session's summary survived its forget")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDroppedCountedWithoutOpening: beyond the maximum, matches are
// counted from the entries alone with the same rules (near=near and the
// late session's own entries do not count).
func TestDroppedCountedWithoutOpening(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	for o := byte(1); o <= 3; o++ {
		if _, err := s.Store(ann(o, e, "", friend("r", here(1), near(2)))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Store(ann(9, e, "", friend("own", here(1)))); err != nil {
		t.Fatal(err)
	}
	// Late session 9: here(1) matches sessions 1–3 (not its own entry),
	// near(2) matches nothing (near=near).
	ms, dropped, _, err := s.Late(ann(9, e, "", friend("x", here(1), near(2))), 1)
	if err != nil || len(ms) != 1 || dropped != 2 {
		t.Fatalf("late: %d matches, %d dropped, %v", len(ms), dropped, err)
	}
	ms, dropped, _, err = s.Late(ann(8, e, "", friend("y", near(1))), 0)
	if err != nil || len(ms) != 0 || dropped != 4 {
		t.Fatalf("late near: %d matches, %d dropped, %v", len(ms), dropped, err)
	}
}
