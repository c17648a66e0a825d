package history

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// readDisk is what a thief of the relay's disk reads: history.db and
// every file of its key dir, concatenated.
func readDisk(t *testing.T, path string) []byte {
	t.Helper()
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(DefaultKeyDir(path))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(DefaultKeyDir(path), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	return disk
}

// marked is an announcement whose every field is a findable marker: its
// tokens, records, shared record, origin and forget tag.
func marked(id byte, epoch uint64, tag []byte, friends int) (*Announce, [][]byte) {
	a := &Announce{EpochSeconds: epochLen, Epoch: epoch, ForgetTag: tag, Shared: []byte(fmt.Sprintf("SHARED-%c-MARKER", 'A'+id))}
	copy(a.Origin[:], fmt.Sprintf("ORIGIN-%c-MARKER", 'A'+id))
	needles := [][]byte{a.Shared, a.Origin[:]}
	if tag != nil {
		needles = append(needles, tag)
	}
	for f := range friends {
		var t1, t2 Token
		copy(t1.Value[:], fmt.Sprintf("T%c%03dH", 'A'+id, f))
		copy(t2.Value[:], fmt.Sprintf("T%c%03dN", 'A'+id, f))
		t1.Here = true
		rec := []byte(fmt.Sprintf("RECORD-%c-%03d-MARKER", 'A'+id, f))
		a.Announcements = append(a.Announcements, Announcement{Tokens: []Token{t1, t2}, Record: rec})
		needles = append(needles, t1.Value[:], t2.Value[:], rec)
	}
	return a, needles
}

// TestAtRestNothingReadableAfterForgetAndExpire plays the thief of the
// relay's disk (history.db and its key dir) after a forget and an expiry:
// no token, record, shared record, origin or forget tag of what was
// erased can be read: not in the clear (values are sealed, index keys are
// keyed hashes), and the expired epoch's key is gone from the key dir
// (its bytes appear nowhere), so its ciphertext left in bbolt's freed
// pages is noise. Positive control: the entry that stays is still matched
// from the same files. On the clear-text layout (before encryption at
// rest) the scan finds the expired and forgotten tokens in freed pages.
func TestAtRestNothingReadableAfterForgetAndExpire(t *testing.T) {
	s, clk, path := newStore(t)
	now := nowEpoch(clk)
	old, recent := now-400, now-1 // old expires 72 h later; recent stays
	secret := bytes.Repeat([]byte{0x5e}, TagSize)
	tag := crypto.HistoryForgetTag(secret)

	var erased [][]byte
	for u := range byte(4) { // the epoch that will expire
		a, nd := marked(u, old, nil, 40)
		if _, err := s.Store(a); err != nil {
			t.Fatal(err)
		}
		erased = append(erased, nd...)
	}
	forgotten, nd := marked(5, recent, tag[:], 40) // the session that forgets
	if _, err := s.Store(forgotten); err != nil {
		t.Fatal(err)
	}
	erased = append(erased, nd...)
	kept, _ := marked(6, recent, nil, 3) // stays: the positive control
	if _, err := s.Store(kept); err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(filepath.Join(DefaultKeyDir(path), fmt.Sprintf("e-%d-%d.key", epochLen, old)))
	if err != nil {
		t.Fatalf("the old epoch's key file: %v", err)
	}

	if n, err := s.Forget([]Secret{{Epoch: recent, Secret: secret}}); err != nil || n != 40 {
		t.Fatalf("forget: %d %v", n, err)
	}
	clk.add(72*time.Hour - 390*epochLen*time.Second) // old's end + window has passed, recent's not
	if n, err := s.Expire(); err != nil || n != 4*40*2 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if st := s.Stats(); st.Keys != 1 {
		t.Fatalf("keys after expiry: %+v", st)
	}
	ms, _, _, err := s.Late(&Announce{EpochSeconds: epochLen, Epoch: recent, Origin: origin(0x77),
		Announcements: []Announcement{{Tokens: []Token{{Value: kept.Announcements[1].Tokens[0].Value, Here: true}}, Record: []byte("probe")}}}, 10)
	if err != nil || len(ms) != 1 || string(ms[0].Record) != "RECORD-G-001-MARKER" {
		t.Fatalf("positive control: the kept entry is not matched: %+v %v", ms, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	disk := readDisk(t, path)
	for _, n := range erased {
		if bytes.Contains(disk, n) {
			t.Errorf("the disk still holds %q", n)
		}
	}
	if bytes.Contains(disk, oldKey) {
		t.Error("the expired epoch's key is still on the disk")
	}
	if bytes.Contains(disk, kept.Shared) || bytes.Contains(disk, kept.Announcements[0].Tokens[0].Value[:]) {
		t.Error("a kept entry is on the disk in the clear")
	}
}

// TestAtRestForgetBoundIsTheEpochKey: what a forgotten entry leaves in
// bbolt's freed pages is sealed under its epoch's key, which stays (the
// epoch's other entries need it) until the epoch leaves the window; then
// the key goes, also across a restart, and no key of an expired epoch is
// ever loaded again.
func TestAtRestForgetBoundIsTheEpochKey(t *testing.T) {
	s, clk, path := newStore(t)
	e := nowEpoch(clk)
	secret := bytes.Repeat([]byte{0x42}, TagSize)
	tag := crypto.HistoryForgetTag(secret)
	a, _ := marked(1, e, tag[:], 2)
	if _, err := s.Store(a); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Forget([]Secret{{Epoch: e, Secret: secret}}); err != nil || n != 2 {
		t.Fatalf("forget: %d %v", n, err)
	}
	keyFile := filepath.Join(DefaultKeyDir(path), fmt.Sprintf("e-%d-%d.key", epochLen, e))
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("the epoch's key went before the epoch: %v", err)
	}
	s.Close()
	clk.add(72*time.Hour + epochLen*time.Second)
	s = open(t, path, clk, 0) // the restart erases keys of expired epochs
	defer s.Close()
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Fatalf("the expired epoch's key survived a restart: %v", err)
	}
	if st := s.Stats(); st.Keys != 0 {
		t.Fatalf("keys held: %+v", st)
	}
}

// TestOldLayoutDiscarded: a history.db of the clear-text layout is not
// read but zeroed, removed and started afresh, with one log line; its
// tokens are gone from the file.
func TestOldLayoutDiscarded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("OLD-CLEAR-TOKEN-MARKER")
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		b, err := tx.CreateBucket(epochName(epochLen, 1))
		if err != nil {
			return err
		}
		x, err := b.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		return x.Put(marker, []byte{0})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	var logs bytes.Buffer
	clk := &clock{t: time.Unix(1_790_000_000, 0)}
	s, err := Open(Config{Path: path, Window: 72 * time.Hour, Now: clk.now, NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "discarded a history file of the clear-text layout") {
		t.Fatalf("no log line: %q", logs.String())
	}
	if st := s.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("stats after discard: %+v", st)
	}
	if disk, _ := os.ReadFile(path); bytes.Contains(disk, marker) {
		t.Fatal("the old file's token is still in history.db")
	}
	e := nowEpoch(clk)
	if _, err := s.Store(ann(1, e, "", friend("r", here(1)))); err != nil {
		t.Fatal(err)
	}
	if ms, _, _, err := s.Late(ann(2, e, "", friend("x", here(1))), 10); err != nil || len(ms) != 1 {
		t.Fatalf("the fresh file does not work: %v %v", ms, err)
	}
}

// TestLostKeyDirDropsItsEpochs: epochs whose key is missing (an operator
// lost the key dir) cannot be read; Open drops them with a log line and
// the counts follow, instead of failing every later call on them.
func TestLostKeyDirDropsItsEpochs(t *testing.T) {
	s, clk, path := newStore(t)
	e := nowEpoch(clk)
	if _, err := s.Store(ann(1, e, "", friend("r", here(1), near(2)))); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.RemoveAll(DefaultKeyDir(path)); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := Open(Config{Path: path, Window: 72 * time.Hour, Now: clk.now, NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "dropped epochs whose at-rest keys are missing") {
		t.Fatalf("no log line: %q", logs.String())
	}
	if st := s.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if ms, _, _, err := s.Late(ann(2, e, "", friend("x", here(1))), 10); err != nil || len(ms) != 0 {
		t.Fatalf("late over a dropped epoch: %v %v", ms, err)
	}
}

// TestValueBoundToItsSlot: a sealed value copied to another slot (another
// aid, as a disk editor could) does not open: ErrCorrupt, nothing changed.
func TestValueBoundToItsSlot(t *testing.T) {
	s, clk, _ := newStore(t)
	e := nowEpoch(clk)
	for o := byte(1); o <= 2; o++ {
		if _, err := s.Store(ann(o, e, "", friend("r", here(o)))); err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		a := tx.Bucket(epochName(epochLen, e)).Bucket(subAnn)
		return a.Put(aidKey(2), bytes.Clone(a.Get(aidKey(1))))
	})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if _, _, _, err := s.Late(ann(3, e, "", friend("x", here(1))), 10); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("late over a moved value: %v", err)
	}
	if s.Stats() != st {
		t.Fatal("a failed call changed the counts")
	}
}
