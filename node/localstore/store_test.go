package localstore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPutGetDelete(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Friends, "alice", []byte("card-of-alice")); err != nil {
		t.Fatal(err)
	}
	v, err := s.Get(Friends, "alice")
	if err != nil || string(v) != "card-of-alice" {
		t.Fatalf("get = %q, %v", v, err)
	}
	if _, err := s.Get(Friends, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	// Same name in another bucket is another record.
	if _, err := s.Get(Inbox, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cross-bucket: %v", err)
	}
	n := 0
	if err := s.ForEach(Friends, func(v []byte) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("foreach n=%d err=%v", n, err)
	}
	if err := s.Delete(Friends, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(Friends, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Friends, "x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestReopenAndWrongKey(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Meta, "identity", []byte("secret identity")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir, newKey(t)); !errors.Is(err, ErrBadKey) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := Open(dir, key[:16]); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short key: %v", err)
	}
	s, err = Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Get(Meta, "identity")
	if err != nil || string(v) != "secret identity" {
		t.Fatalf("reopen get = %q, %v", v, err)
	}
}

// TestFileRevealsNothing writes known plaintexts as names and values and
// greps the raw bbolt file for them.
func TestFileRevealsNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"friend-id-4f2a9c", "sunset-over-the-harbour", "meet me at the cafe", "52.5200,13.4050"}
	for i, sec := range secrets {
		b := []string{Friends, Inbox, Outbox, Settings}[i]
		if err := s.Put(b, sec, []byte(sec+" value "+sec)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		if bytes.Contains(raw, []byte(sec)) {
			t.Errorf("file contains plaintext %q", sec)
		}
	}
}

func TestMovedRecordFailsToOpen(t *testing.T) {
	s, err := Open(t.TempDir(), newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(Friends, "a", []byte("A")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Friends, "b", []byte("B")); err != nil {
		t.Fatal(err)
	}
	// Copy a's sealed bytes to b's name, as an attacker with the file could.
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(Friends))
		v := append([]byte(nil), b.Get(s.name(Friends, "a"))...)
		return b.Put(s.name(Friends, "b"), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(Friends, "b"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("moved record: %v", err)
	}
}

func TestWipe(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Meta, "identity", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
	if _, err := s.Get(Meta, "identity"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after wipe: %v", err)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	s, err := Open(t.TempDir(), newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				_ = s.Update(func(tx *Tx) error {
					v, err := tx.Get(Meta, "counter")
					if err != nil && !errors.Is(err, ErrNotFound) {
						return err
					}
					return tx.Put(Meta, "counter", append(v, 'x'))
				})
			}
		}()
	}
	wg.Wait()
	v, _ := s.Get(Meta, "counter")
	if len(v) != 80 {
		t.Fatalf("counter = %d, want 80", len(v))
	}
}

// A second Open of a store held open fails with ErrLocked (bbolt's flock
// conflicts between two open file descriptions, even in one process).
func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s, err := Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir, key); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

// TestNoSync: the simulation-only option reaches bbolt, and what was
// written is still there after a clean close.
func TestNoSync(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s, err := OpenWith(dir, key, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if !s.db.NoSync {
		t.Error("NoSync did not reach bbolt")
	}
	if err := s.Put(Friends, "alice", []byte("card")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.db.NoSync {
		t.Error("Open without options must sync")
	}
	if v, err := s.Get(Friends, "alice"); err != nil || string(v) != "card" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
}

// TestVersion: a bucket's version moves after each committed write
// transaction that put or deleted one of its records, and only then — not
// for reads, writes to other buckets, or a transaction that rolled back —
// since the node's loop skips re-reading a bucket whose version stayed.
func TestVersion(t *testing.T) {
	s, err := Open(t.TempDir(), newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v0 := s.Version(Outbox)
	if err := s.Put(Outbox, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	v1 := s.Version(Outbox)
	if v1 == v0 {
		t.Fatal("put: version unchanged")
	}
	if _, err := s.Get(Outbox, "a"); err != nil {
		t.Fatal(err)
	}
	_ = s.ForEach(Outbox, func([]byte) error { return nil })
	if err := s.Put(Inbox, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Tx) error { _, err := tx.Get(Outbox, "a"); return err }); err != nil {
		t.Fatal(err)
	}
	if v := s.Version(Outbox); v != v1 {
		t.Fatalf("reads and other buckets moved the version: %d → %d", v1, v)
	}
	boom := errors.New("boom")
	err = s.Update(func(tx *Tx) error {
		if err := tx.Put(Outbox, "b", []byte("2")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || s.Version(Outbox) != v1 {
		t.Fatalf("rolled back: err %v, version %d (was %d)", err, s.Version(Outbox), v1)
	}
	// One transaction writing two buckets moves both.
	vi := s.Version(Inbox)
	err = s.Update(func(tx *Tx) error {
		if err := tx.Delete(Outbox, "a"); err != nil {
			return err
		}
		return tx.Put(Inbox, "b", []byte("2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Version(Outbox) == v1 || s.Version(Inbox) == vi {
		t.Fatal("delete and put in one transaction: a version stayed")
	}
	if s.Version("nope") != 0 {
		t.Fatal("unknown bucket has a version")
	}
}
