package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// Check verifies the store's invariants in one read transaction and returns
// the first violation found: every blob has exactly its expiry-index entry
// and vice versa, each mailbox counter equals the sum of its blobs, the
// totals equal the sum of all blobs, and no mailbox counter is empty. It
// also runs bbolt's own page consistency check. It reads the whole file:
// for tests and the operator's maintenance commands, not the serving path.
//
// It runs in a write transaction that is rolled back, because bbolt's
// page check reads the freelist, which a concurrent commit may be changing.
// Writes wait for it.
func (s *Store) Check() error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := check(tx); err != nil {
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

func check(tx *bolt.Tx) error {
	var bad error
	for err := range tx.Check() { // drained fully: the checker goroutine sends on an unbuffered channel
		if bad == nil {
			bad = fmt.Errorf("store: check: bbolt: %w", err)
		}
	}
	if bad != nil {
		return bad
	}
	blobs, data, expiry := tx.Bucket(bucketBlobs), tx.Bucket(bucketData), tx.Bucket(bucketExpiry)
	mailboxes, meta := tx.Bucket(bucketMailboxes), tx.Bucket(bucketMeta)
	sums := make(map[crypto.MailboxID]counter)
	sizes := make(map[BlobID]int) // blob → data size, to match the chunks
	var total counter
	err := blobs.ForEach(func(k, v []byte) error {
		if len(k) != blobKeyLen || len(v) != blobValueLen {
			return fmt.Errorf("malformed blob record (key %d B, value %d B)", len(k), len(v))
		}
		if expiry.Get(expiryKey(valueExpiry(v), k)) == nil {
			return fmt.Errorf("blob without expiry-index entry")
		}
		m, id := splitBlobKey(k)
		if _, dup := sizes[id]; dup {
			return fmt.Errorf("blob ID %v in two mailboxes", id)
		}
		size := valueSize(v)
		sizes[id] = size
		c := sums[m]
		c.n++
		c.bytes += int64(size)
		sums[m] = c
		total.n++
		total.bytes += int64(size)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	seen := make(map[BlobID]int) // blob → data bytes found
	err = data.ForEach(func(k, v []byte) error {
		var id BlobID
		if len(k) != dataKeyLen || len(v) > dataChunk {
			return fmt.Errorf("malformed data chunk (key %d B, value %d B)", len(k), len(v))
		}
		copy(id[:], k)
		size, ok := sizes[id]
		chunk := int(k[blobIDLen])<<8 | int(k[blobIDLen+1])
		if !ok || chunk >= chunks(size) {
			return fmt.Errorf("data chunk without blob")
		}
		seen[id] += len(v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	for id, size := range sizes {
		if seen[id] != size {
			return fmt.Errorf("store: check: blob %v has %d of %d data bytes", id, seen[id], size)
		}
	}
	indexed := 0
	err = expiry.ForEach(func(k, _ []byte) error {
		if len(k) != expiryKeyLen {
			return fmt.Errorf("malformed expiry key (%d B)", len(k))
		}
		v := blobs.Get(k[8:])
		if v == nil || !bytes.Equal(v[:8], k[:8]) {
			return fmt.Errorf("expiry-index entry without matching blob")
		}
		indexed++
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	if int64(indexed) != total.n {
		return fmt.Errorf("store: check: %d index entries for %d blobs", indexed, total.n)
	}
	counted := 0
	err = mailboxes.ForEach(func(k, v []byte) error {
		var m crypto.MailboxID
		if len(k) != len(m) {
			return fmt.Errorf("malformed mailbox counter key")
		}
		copy(m[:], k)
		got := decodeCounter(v)
		if got.n == 0 || got != sums[m] {
			return fmt.Errorf("mailbox counter %+v, blobs sum to %+v", got, sums[m])
		}
		counted++
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	if counted != len(sums) {
		return fmt.Errorf("store: check: %d mailbox counters for %d mailboxes with blobs", counted, len(sums))
	}
	if got := decodeCounter(meta.Get(metaTotals)); got != total {
		return fmt.Errorf("store: check: totals %+v, blobs sum to %+v", got, total)
	}
	return nil
}
