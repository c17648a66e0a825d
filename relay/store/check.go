package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the in-memory index against the file and returns the
// first violation found: every indexed blob has exactly its expiry entry
// (same expiry and size) and its data chunks (same total size), there is no
// expiry entry or data chunk the index does not know, each mailbox's
// counter equals the sum of its entries, the totals (which the Stats
// gauges report) equal the sums, and no mailbox in the index is empty. It also runs
// bbolt's own page consistency check. It reads the whole file: for tests
// and the operator's maintenance commands, not the serving path.
//
// It runs in a write transaction that is rolled back, because bbolt's
// page check reads the freelist, which a concurrent commit may be changing;
// holding the write lock also keeps the committer, the index's only
// writer, away. Writes wait for it.
func (s *Store) Check() error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		s.idx.mu.RLock()
		defer s.idx.mu.RUnlock()
		if err := check(tx, s.idx, s.keys); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// errRollback makes Check's transaction roll back instead of commit.
var errRollback = errors.New("rollback")

// checkFile verifies a file on its own (Compact's copy) with its day keys:
// it builds the index from the file's expiry entries, then checks the
// data against it.
func checkFile(tx *bolt.Tx, keys *keyring) error {
	x, orphans, err := loadIndex(tx, keys)
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	if len(orphans) > 0 {
		return fmt.Errorf("store: check: %d blobs without an at-rest key", len(orphans))
	}
	return check(tx, x, keys)
}

func check(tx *bolt.Tx, x *index, keys *keyring) error {
	var bad error
	for err := range tx.Check() { // drained fully: the checker goroutine sends on an unbuffered channel
		if bad == nil {
			bad = fmt.Errorf("store: check: bbolt: %w", err)
		}
	}
	if bad != nil {
		return bad
	}
	if err := checkIndex(tx, x, keys); err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	return nil
}

func checkIndex(tx *bolt.Tx, x *index, keys *keyring) error {
	data, expiry := tx.Bucket(bucketData), tx.Bucket(bucketExpiry)
	sizes := make(map[BlobID]int) // live blob → data size, to match the chunks
	var total counter
	for m, b := range x.boxes {
		var sum counter
		tombs := 0
		for i, e := range b.ents {
			if i > 0 && string(b.ents[i-1].id[:]) >= string(e.id[:]) {
				return fmt.Errorf("index of a mailbox out of order")
			}
			if e.exp == 0 {
				tombs++
				continue
			}
			v := expiry.Get(expiryKey(e.exp, e.id))
			if len(v) != expiryValueLen || binary.BigEndian.Uint32(v) != e.day {
				return fmt.Errorf("indexed blob %v without its expiry entry", e.id)
			}
			if vm, size, err := keys.openMeta(v); err != nil || vm != m || size != int(e.size) {
				return fmt.Errorf("indexed blob %v: expiry entry names another mailbox or size (%v)", e.id, err)
			}
			if _, dup := sizes[e.id]; dup {
				return fmt.Errorf("blob ID %v in two mailboxes", e.id)
			}
			sizes[e.id] = int(e.size)
			sum.n++
			sum.bytes += int64(e.size)
		}
		if sum.n == 0 || sum != b.live || tombs != b.tombs {
			return fmt.Errorf("mailbox counter %+v (%d tombstones), entries sum to %+v (%d)", b.live, b.tombs, sum, tombs)
		}
		total.n += sum.n
		total.bytes += sum.bytes
	}
	if total != x.totals {
		return fmt.Errorf("totals %+v, entries sum to %+v", x.totals, total)
	}
	if n := expiry.Stats().KeyN; int64(n) != total.n {
		return fmt.Errorf("%d expiry entries for %d indexed blobs", n, total.n)
	}
	seen := make(map[BlobID]int) // blob → data bytes found
	err := data.ForEach(func(k, v []byte) error {
		var id BlobID
		if len(k) != dataKeyLen || len(v) > dataChunk {
			return fmt.Errorf("malformed data chunk (key %d B, value %d B)", len(k), len(v))
		}
		copy(id[:], k)
		size, ok := sizes[id]
		chunk := int(binary.BigEndian.Uint16(k[blobIDLen:]))
		if !ok || chunk >= blobChunks(size) {
			return fmt.Errorf("data chunk without indexed blob")
		}
		seen[id] += len(v)
		return nil
	})
	if err != nil {
		return err
	}
	for id, size := range sizes {
		if seen[id] != sealedLen(size) {
			return fmt.Errorf("blob %v has %d of %d sealed data bytes", id, seen[id], sealedLen(size))
		}
	}
	return nil
}
