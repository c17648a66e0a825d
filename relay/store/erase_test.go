package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rawFile reads the store file as a thief with the disk would.
func rawFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keyFiles returns the contents of every day key file in dir.
func keyFiles(t *testing.T, dir string) [][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestStolenDiskRevealsNothing (P2, threat model "stolen relay disk"):
// a blob carrying a marker, and its mailbox ID, never appear in the raw
// bbolt file: not while stored, not after the ack (freed pages hold only
// ciphertext), not after expiry; and once the blob's day is past
// retention its day key is erased, so that ciphertext can never be
// opened. Positive controls: the same scan finds the marker and the
// mailbox ID in a raw bbolt file written the way format 2 stored them
// (the scan would see a leak), and the stored ciphertext does open with
// the day key while it exists (what the thief could do before the key is
// erased).
func TestStolenDiskRevealsNothing(t *testing.T) {
	marker := []byte("STOLEN-DISK-MARKER-7f3a9c")
	blob := bytes.Repeat(marker, 40)
	m := randMailbox()

	// Control: the scan finds what a plaintext layout leaves behind.
	ctl := filepath.Join(t.TempDir(), "plain.db")
	db, err := bolt.Open(ctl, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketExpiry)
		if err != nil {
			return err
		}
		if err := b.Put(expiryKeyV2(1, blobKeyV2(m, BlobID{})), expiryValueV2(len(blob))); err != nil {
			return err
		}
		d, err := tx.CreateBucket(bucketData)
		if err != nil {
			return err
		}
		return d.Put(dataKey(make([]byte, blobIDLen), 0), blob[:dataChunk])
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if raw := rawFile(t, ctl); !bytes.Contains(raw, marker) || !bytes.Contains(raw, m[:]) {
		t.Fatal("control: the scan does not find a plaintext blob and mailbox ID")
	}

	cfg, clk := testConfig(t)
	cfg.KeyDir = DefaultKeyDir(cfg.Path)
	s := openTest(t, cfg)
	leaks := func(when string) {
		t.Helper()
		raw := rawFile(t, cfg.Path)
		if bytes.Contains(raw, marker) {
			t.Fatalf("%s: the marker is in the file", when)
		}
		if bytes.Contains(raw, m[:]) {
			t.Fatalf("%s: the mailbox ID is in the file", when)
		}
	}
	id := mustPut(t, s, m, blob)
	// A second blob in another mailbox keeps the day's key alive after
	// the ack (keys are per day, not per blob).
	other := randMailbox()
	mustPut(t, s, other, randData(300))
	leaks("stored")
	// Control: the stored ciphertext opens with the day key, so a thief
	// holding the key directory reads live blobs; the file alone does not.
	var sealed []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketData).Cursor()
		for k, v := c.Seek(id[:]); k != nil && bytes.HasPrefix(k, id[:]); k, v = c.Next() {
			sealed = append(sealed, v...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	kr, err := openKeyring(cfg.KeyDir, true)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := kr.open(sealed, adData); err != nil || !bytes.Equal(p, blob) {
		t.Fatalf("control: the stored blob does not open with its day key: %v", err)
	}
	if len(keyFiles(t, cfg.KeyDir)) != 1 {
		t.Fatalf("%d key files, want 1", len(keyFiles(t, cfg.KeyDir)))
	}

	if _, err := s.Ack([]Ref{{m, id}}); err != nil {
		t.Fatal(err)
	}
	// Churn so freed pages are reused and rewritten.
	for range 20 {
		mustPut(t, s, randMailbox(), randData(2000))
	}
	leaks("after the ack")

	// Past retention (and the key's grace day): the sweep deletes the
	// rest and erases the day key.
	clk.Advance(MaxRetention + keyGraceDays*24*time.Hour + time.Hour)
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	leaks("after expiry")
	if got := s.Stats().KeyDays; got != 0 {
		t.Fatalf("%d day keys held after expiry, want 0", got)
	}
	if ks := keyFiles(t, cfg.KeyDir); len(ks) != 0 {
		t.Fatalf("%d key files left after expiry", len(ks))
	}
	// The ciphertext of the acked blob, wherever it still lies, cannot be
	// opened with anything left on the disk.
	kr2, err := openKeyring(cfg.KeyDir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr2.open(sealed, adData); err == nil {
		t.Fatal("the acked blob still opens after its day key was erased")
	}
	// New puts after the erasure get a new day key.
	mustPut(t, s, randMailbox(), randData(100))
	if len(keyFiles(t, cfg.KeyDir)) != 1 {
		t.Fatal("no new day key")
	}
}

// TestMigrateV2 opens a format-2 file (mailbox IDs in keys, data in the
// clear): its blobs read back the same, sealed, and the version is 3.
func TestMigrateV2(t *testing.T) {
	cfg, clk := testConfig(t)
	m := randMailbox()
	id := newBlobID(clk.Now())
	data := randData(1500) // two chunks
	exp := clk.Now().Add(MaxRetention).UnixNano()
	db, err := bolt.Open(cfg.Path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := map[string]*bolt.Bucket{}
		for _, name := range []string{"data", "expiry", "meta"} {
			var err error
			if b[name], err = tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		for _, kv := range []struct {
			b    string
			k, v []byte
		}{
			{"expiry", expiryKeyV2(exp, blobKeyV2(m, id)), expiryValueV2(len(data))},
			{"data", dataKey(id[:], 0), data[:dataChunk]},
			{"data", dataKey(id[:], 1), data[dataChunk:]},
			{"meta", metaVersion, u64(2)},
			{"meta", metaRetention, u64(uint64(MaxRetention))},
		} {
			if err := b[kv.b].Put(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, cfg)
	got, ok, err := s.Get(m, id)
	if err != nil || !ok || !bytes.Equal(got.Data, data) || got.Expires.UnixNano() != exp {
		t.Fatalf("Get after migration = %v %v", ok, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if decodeU64(tx.Bucket(bucketMeta).Get(metaVersion)) != formatVersion {
			t.Error("version not 3")
		}
		return tx.Bucket(bucketExpiry).ForEach(func(k, _ []byte) error {
			if bytes.Contains(k, m[:]) {
				t.Error("an expiry key still names the mailbox")
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestShredKeepsKeysInUse: a day key past its erase time is kept while a
// live blob still needs it (the index's keyDays), so an acknowledged write
// is never made unreadable; once none does it is erased, on disk too (a
// keyring reopened from the directory, as after a crash, cannot open the
// value), and a keyring reopened before the erase (a crash after the
// index delete, before the key was erased) erases it on the next shred.
func TestShredKeepsKeysInUse(t *testing.T) {
	dir := t.TempDir()
	kr, err := openKeyring(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(20000*86400, 0)
	sealed, err := kr.seal(t0, adData, []byte("live"))
	if err != nil {
		t.Fatal(err)
	}
	day := dayOf(t0)
	late := t0.Add(MaxRetention + (keyGraceDays+1)*24*time.Hour)
	if n, err := kr.shred(late, MaxRetention, map[uint32]bool{day: true}); err != nil || n != 0 {
		t.Fatalf("shred erased %d keys in use (%v)", n, err)
	}
	if _, err := kr.open(sealed, adData); err != nil {
		t.Fatalf("a value whose key is in use no longer opens: %v", err)
	}
	// Not yet past retention and grace: kept without inUse too.
	if n, _ := kr.shred(t0.Add(MaxRetention), MaxRetention, nil); n != 0 {
		t.Fatalf("shred erased %d keys before their day was past retention", n)
	}
	// A crash between the index delete and the erase: the reopened
	// keyring still has the key, and the next shred erases it.
	kr2, err := openKeyring(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := kr2.shred(late, MaxRetention, nil); err != nil || n != 1 {
		t.Fatalf("shred erased %d keys (%v), want 1", n, err)
	}
	if _, err := kr2.open(sealed, adData); !errors.Is(err, errNoKey) {
		t.Fatalf("open after erase: %v", err)
	}
	if len(keyFiles(t, dir)) != 0 {
		t.Fatal("key file left after erase")
	}
	kr3, err := openKeyring(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr3.open(sealed, adData); !errors.Is(err, errNoKey) {
		t.Fatalf("open with a keyring reopened after the erase: %v", err)
	}
}
