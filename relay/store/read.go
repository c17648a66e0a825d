package store

import (
	"bytes"
	"container/heap"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// List returns the blobs of the given mailboxes with IDs after `after`
// (the zero BlobID lists from the start), merged in BlobID order across the
// mailboxes, skipping expired ones. It returns at most maxBlobs blobs
// (maxBlobs must be positive) and, when withData is set, stops before the
// data would exceed maxBytes (≤ 0: no byte limit), except that the first
// blob is always returned so paging makes progress. more reports that
// further blobs remain: pass the last returned ID as `after` to continue.
// Data is copied out of the database and owned by the caller.
func (s *Store) List(mboxes []crypto.MailboxID, after BlobID, maxBlobs int, maxBytes int64, withData bool) ([]Blob, bool, error) {
	if maxBlobs <= 0 {
		return nil, false, fmt.Errorf("store: list: maxBlobs %d must be positive", maxBlobs)
	}
	mboxes = dedupe(mboxes)
	now := s.cfg.Now().UnixNano()
	var (
		out  []Blob
		more bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		b, data := tx.Bucket(bucketBlobs), tx.Bucket(bucketData)
		h := make(listHeap, 0, len(mboxes))
		for _, m := range mboxes {
			c := b.Cursor()
			seek := blobKey(m, after)
			k, v := c.Seek(seek)
			if k != nil && bytes.Equal(k, seek) {
				k, v = c.Next()
			}
			if k != nil && bytes.HasPrefix(k, m[:]) {
				h = append(h, &listCursor{c: c, mbox: m, k: k, v: v})
			}
		}
		heap.Init(&h)
		var used int64
		for h.Len() > 0 {
			top := h[0]
			exp := valueExpiry(top.v)
			if exp > now {
				size := valueSize(top.v)
				if len(out) == maxBlobs || (withData && maxBytes > 0 && len(out) > 0 && used+int64(size) > maxBytes) {
					more = true
					return nil
				}
				blob, err := makeBlob(top.k, top.v, data, withData)
				if err != nil {
					return err
				}
				out = append(out, blob)
				used += int64(size)
			}
			top.k, top.v = top.c.Next()
			if top.k != nil && bytes.HasPrefix(top.k, top.mbox[:]) {
				heap.Fix(&h, 0)
			} else {
				heap.Pop(&h)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// Get returns one blob with its data, or ok=false if it does not exist or
// has expired.
func (s *Store) Get(mbox crypto.MailboxID, id BlobID) (b Blob, ok bool, err error) {
	now := s.cfg.Now().UnixNano()
	err = s.view(func(tx *bolt.Tx) error {
		k := blobKey(mbox, id)
		v := tx.Bucket(bucketBlobs).Get(k)
		if v == nil || valueExpiry(v) <= now {
			return nil
		}
		b, err = makeBlob(k, v, tx.Bucket(bucketData), true)
		ok = err == nil
		return err
	})
	return b, ok, err
}

// Count returns the number of blobs stored for the given mailboxes, read
// from the quota counters: it may include blobs that expired less than one
// SweepInterval ago (List skips those).
func (s *Store) Count(mboxes []crypto.MailboxID) (int, error) {
	mboxes = dedupe(mboxes)
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMailboxes)
		for _, m := range mboxes {
			n += int(decodeCounter(b.Get(m[:])).n)
		}
		return nil
	})
	return n, err
}

// view runs fn in a read transaction, or fails with ErrClosed once Close
// has begun (bbolt's Close waits for open read transactions, so a read that
// started before still completes).
func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("store: read: %w", err)
	}
	return nil
}

// makeBlob decodes one blobs record and, if withData, copies its data out
// of the data chunks.
func makeBlob(k, v []byte, data *bolt.Bucket, withData bool) (Blob, error) {
	m, id := splitBlobKey(k)
	b := Blob{
		Mailbox:  m,
		ID:       id,
		Size:     valueSize(v),
		Received: id.Received(),
		Expires:  time.Unix(0, valueExpiry(v)),
	}
	if !withData {
		return b, nil
	}
	b.Data = make([]byte, 0, b.Size)
	c := data.Cursor()
	n := chunks(b.Size)
	i := 0
	for dk, dv := c.Seek(dataKey(id[:], 0)); i < n && dk != nil && bytes.HasPrefix(dk, id[:]); dk, dv = c.Next() {
		b.Data = append(b.Data, dv...)
		i++
	}
	if i != n || len(b.Data) != b.Size {
		return Blob{}, fmt.Errorf("store: blob %v: %d of %d data chunks, %d of %d bytes", id, i, n, len(b.Data), b.Size)
	}
	return b, nil
}

// listCursor is one mailbox's position in List's merge.
type listCursor struct {
	c    *bolt.Cursor
	mbox crypto.MailboxID
	k, v []byte
}

// listHeap orders cursors by the blob ID under them (then mailbox), which
// merges the per-mailbox ranges into one BlobID order.
type listHeap []*listCursor

func (h listHeap) Len() int { return len(h) }
func (h listHeap) Less(i, j int) bool {
	a, b := h[i].k, h[j].k
	if c := bytes.Compare(a[crypto.MailboxIDSize:], b[crypto.MailboxIDSize:]); c != 0 {
		return c < 0
	}
	return bytes.Compare(a, b) < 0
}
func (h listHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *listHeap) Push(x any)   { *h = append(*h, x.(*listCursor)) }
func (h *listHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
