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
	err := s.view(func(tx *bolt.Tx, visible int64) error {
		// Pick the blobs from the index under its lock, then read their
		// data from the transaction's snapshot without it.
		s.idx.mu.RLock()
		h := make(listHeap, 0, len(mboxes))
		for _, m := range mboxes {
			if b := s.idx.boxes[m]; b != nil {
				if i := b.after(after); i < len(b.ents) {
					h = append(h, &listCursor{mbox: m, ents: b.ents[i:]})
				}
			}
		}
		heap.Init(&h)
		var used int64
		for h.Len() > 0 {
			top := h[0]
			e := top.ents[0]
			if e.exp != 0 && e.exp > now {
				if BlobID(e.id).Received().UnixNano() > visible {
					// Not yet durable; neither is anything after it, as
					// IDs grow in commit order. The caller sees it after
					// the putter does.
					more = true
					break
				}
				size := int64(e.size)
				if len(out) == maxBlobs || (withData && maxBytes > 0 && len(out) > 0 && used+size > maxBytes) {
					more = true
					break
				}
				out = append(out, indexBlob(top.mbox, e))
				used += size
			}
			if top.ents = top.ents[1:]; len(top.ents) > 0 {
				heap.Fix(&h, 0)
			} else {
				heap.Pop(&h)
			}
		}
		s.idx.mu.RUnlock()
		if !withData {
			return nil
		}
		data := tx.Bucket(bucketData)
		for i := range out {
			if err := s.readData(&out[i], data); err != nil {
				return err
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
	err = s.view(func(tx *bolt.Tx, visible int64) error {
		s.idx.mu.RLock()
		e, found := s.idx.lookup(mbox, id)
		s.idx.mu.RUnlock()
		if !found || e.exp <= now || id.Received().UnixNano() > visible {
			return nil
		}
		b = indexBlob(mbox, e)
		err := s.readData(&b, tx.Bucket(bucketData))
		ok = err == nil
		return err
	})
	return b, ok, err
}

// Count returns the number of blobs stored for the given mailboxes, read
// from the quota counters: it may include blobs that expired less than one
// SweepInterval ago (List skips those) and puts whose commit is in
// progress.
func (s *Store) Count(mboxes []crypto.MailboxID) (int, error) {
	mboxes = dedupe(mboxes)
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	n := 0
	s.idx.mu.RLock()
	for _, m := range mboxes {
		n += int(s.idx.counter(m).n)
	}
	s.idx.mu.RUnlock()
	return n, nil
}

// checkOpen fails with ErrClosed once Close has begun.
func (s *Store) checkOpen() error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return nil
}

// view runs fn in a read transaction, or fails with ErrClosed once Close
// has begun (bbolt's Close waits for open read transactions, so a read that
// started before still completes). fn gets the visibility horizon loaded
// before the transaction began: every indexed blob received at or before
// it is in the transaction's snapshot, unless deleted since.
func (s *Store) view(fn func(tx *bolt.Tx, visible int64) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	visible := s.visible.Load()
	if err := s.db.View(func(tx *bolt.Tx) error { return fn(tx, visible) }); err != nil {
		return fmt.Errorf("store: read: %w", err)
	}
	return nil
}

func indexBlob(m crypto.MailboxID, e entry) Blob {
	return Blob{
		Mailbox:  m,
		ID:       e.id,
		Size:     int(e.size),
		Received: e.id.Received(),
		Expires:  time.Unix(0, e.exp),
	}
}

// readData copies b's sealed data out of its chunks and opens it. A blob
// that was indexed when the reader looked but whose data is gone from the
// snapshot was deleted by a commit that started before the reader's
// transaction and finished after it looked at the index (an ack racing
// the read): its data is still in that snapshot. So missing data means
// corruption.
func (s *Store) readData(b *Blob, data *bolt.Bucket) error {
	want := sealedLen(b.Size)
	sealed := make([]byte, 0, want)
	c := data.Cursor()
	n := chunks(want)
	i := 0
	for dk, dv := c.Seek(dataKey(b.ID[:], 0)); i < n && dk != nil && bytes.HasPrefix(dk, b.ID[:]); dk, dv = c.Next() {
		sealed = append(sealed, dv...)
		i++
	}
	if i != n || len(sealed) != want {
		return fmt.Errorf("store: blob %v: %d of %d data chunks, %d of %d bytes", b.ID, i, n, len(sealed), want)
	}
	p, err := s.keys.open(sealed, adData)
	if err != nil {
		return fmt.Errorf("store: blob %v: %w", b.ID, err)
	}
	if len(p) != b.Size {
		return fmt.Errorf("store: blob %v: %d bytes, want %d", b.ID, len(p), b.Size)
	}
	b.Data = p
	return nil
}

// listCursor is one mailbox's remaining index entries in List's merge.
type listCursor struct {
	mbox crypto.MailboxID
	ents []entry
}

// listHeap orders cursors by the blob ID under them (then mailbox), which
// merges the per-mailbox lists into one BlobID order.
type listHeap []*listCursor

func (h listHeap) Len() int { return len(h) }
func (h listHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := bytes.Compare(a.ents[0].id[:], b.ents[0].id[:]); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.mbox[:], b.mbox[:]) < 0
}
func (h listHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *listHeap) Push(x any)   { *h = append(*h, x.(*listCursor)) }
func (h *listHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
