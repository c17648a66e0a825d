package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// index is the in-memory mailbox index: for every mailbox its blobs in
// BlobID order with their expiry and size, and the quota counters. It
// replaces an on-disk mailbox ‖ blobID index, whose keys land on a
// different leaf page for every put (every put goes to another mailbox), so
// the write path touches only time-ordered keys (see doc.go). It is rebuilt
// from the expiry index at Open.
//
// The committer is its only writer and mutates it under mu while it
// applies a batch, before the commit is durable; readers take mu for
// reading and filter out what is not yet committed with Store.visible.
// If a commit fails, the committer rebuilds the index from the file.
type index struct {
	mu     sync.RWMutex
	boxes  map[crypto.MailboxID]*mailbox
	totals counter // live blobs and their data bytes, all mailboxes
	// keyDays counts live blobs per at-rest key day, so a day key is
	// erased only once no live blob needs it (atrest.go).
	keyDays map[uint32]int64
}

// entry is one blob in the index (32 B). exp == 0 marks a deleted entry
// (a tombstone) awaiting compaction.
type entry struct {
	id   BlobID
	exp  int64 // unix nanos
	size uint32
	day  uint32 // at-rest key day of its sealed values
}

// mailbox is one mailbox's blobs, sorted by ID. Deleting marks a tombstone
// (O(log n)) instead of moving the tail, so draining a large mailbox in
// order costs O(1) per blob; tombstones at the ends are trimmed at once and
// the rest are compacted away when they outnumber the live entries.
type mailbox struct {
	ents  []entry
	live  counter
	tombs int
}

func newIndex() *index {
	return &index{boxes: make(map[crypto.MailboxID]*mailbox), keyDays: make(map[uint32]int64)}
}

// find returns the position of id in b.ents (live or tombstone) or -1.
func (b *mailbox) find(id BlobID) int {
	i, ok := slices.BinarySearchFunc(b.ents, id, func(e entry, id BlobID) int {
		return bytes.Compare(e.id[:], id[:])
	})
	if !ok {
		return -1
	}
	return i
}

// after returns the position of the first entry with an ID > id.
func (b *mailbox) after(id BlobID) int {
	i, ok := slices.BinarySearchFunc(b.ents, id, func(e entry, id BlobID) int {
		return bytes.Compare(e.id[:], id[:])
	})
	if ok {
		i++
	}
	return i
}

// lookup returns the live entry for (m, id). Callers other than the
// committer hold mu for reading.
func (x *index) lookup(m crypto.MailboxID, id BlobID) (entry, bool) {
	b := x.boxes[m]
	if b == nil {
		return entry{}, false
	}
	i := b.find(id)
	if i < 0 || b.ents[i].exp == 0 {
		return entry{}, false
	}
	return b.ents[i], true
}

// counter returns the quota counter of m (zero if it has no blobs).
func (x *index) counter(m crypto.MailboxID) counter {
	if b := x.boxes[m]; b != nil {
		return b.live
	}
	return counter{}
}

// insert adds e to m. IDs are assigned in increasing order, so this is an
// append; the sorted insert is a guard. Caller holds mu.
func (x *index) insert(m crypto.MailboxID, e entry) {
	b := x.boxes[m]
	if b == nil {
		b = &mailbox{}
		x.boxes[m] = b
	}
	if n := len(b.ents); n == 0 || bytes.Compare(b.ents[n-1].id[:], e.id[:]) < 0 {
		b.ents = append(b.ents, e)
	} else {
		b.ents = slices.Insert(b.ents, b.after(e.id), e)
	}
	b.live.n++
	b.live.bytes += int64(e.size)
	x.totals.n++
	x.totals.bytes += int64(e.size)
	x.keyDays[e.day]++
}

// remove deletes the live entry (m, id) and returns it; a mailbox left
// empty is dropped. Caller holds mu.
func (x *index) remove(m crypto.MailboxID, id BlobID) (e entry, ok bool) {
	b := x.boxes[m]
	if b == nil {
		return entry{}, false
	}
	i := b.find(id)
	if i < 0 || b.ents[i].exp == 0 {
		return entry{}, false
	}
	e = b.ents[i]
	b.ents[i].exp = 0
	b.tombs++
	b.live.n--
	b.live.bytes -= int64(e.size)
	x.totals.n--
	x.totals.bytes -= int64(e.size)
	if x.keyDays[e.day]--; x.keyDays[e.day] <= 0 {
		delete(x.keyDays, e.day)
	}
	if b.live.n == 0 {
		delete(x.boxes, m)
		return e, true
	}
	for len(b.ents) > 0 && b.ents[0].exp == 0 {
		b.ents = b.ents[1:]
		b.tombs--
	}
	for n := len(b.ents); n > 0 && b.ents[n-1].exp == 0; n-- {
		b.ents = b.ents[:n-1]
		b.tombs--
	}
	if b.tombs > int(b.live.n) && b.tombs >= 8 {
		b.ents = slices.DeleteFunc(b.ents, func(e entry) bool { return e.exp == 0 })
		b.tombs = 0
	}
	return e, true
}

// loadIndex builds the index from the expiry bucket of tx: every key names
// a blob's expiry and ID, and its sealed value the mailbox and size. The
// keys are read in expiry order, which is ID order while the retention is
// unchanged, so the per-mailbox lists come out sorted and only need a sort
// after a retention change. Entries whose day key is erased are returned
// as orphans (their keys), not indexed: their blobs can never be read.
func loadIndex(tx *bolt.Tx, keys *keyring) (*index, [][]byte, error) {
	x := newIndex()
	var orphans [][]byte
	err := tx.Bucket(bucketExpiry).ForEach(func(k, v []byte) error {
		if len(k) != expiryKeyLen || len(v) != expiryValueLen {
			return fmt.Errorf("malformed expiry entry (key %d B, value %d B)", len(k), len(v))
		}
		exp, id := splitExpiryKey(k)
		m, size, err := keys.openMeta(v)
		if errors.Is(err, errNoKey) {
			orphans = append(orphans, bytes.Clone(k))
			return nil
		}
		if err != nil {
			return fmt.Errorf("blob %v: %w", id, err)
		}
		e := entry{id: id, exp: exp, size: uint32(size), day: binary.BigEndian.Uint32(v)}
		if e.exp == 0 {
			return fmt.Errorf("blob %v with zero expiry", id)
		}
		b := x.boxes[m]
		if b == nil {
			b = &mailbox{}
			x.boxes[m] = b
		}
		b.ents = append(b.ents, e)
		b.live.n++
		b.live.bytes += int64(e.size)
		x.totals.n++
		x.totals.bytes += int64(e.size)
		x.keyDays[e.day]++
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	cmp := func(a, b entry) int { return bytes.Compare(a.id[:], b.id[:]) }
	for _, b := range x.boxes {
		if !slices.IsSortedFunc(b.ents, cmp) {
			slices.SortFunc(b.ents, cmp)
		}
		for i := 1; i < len(b.ents); i++ {
			if b.ents[i].id == b.ents[i-1].id {
				return nil, nil, fmt.Errorf("blob %v indexed twice", b.ents[i].id)
			}
		}
		if cap(b.ents) > len(b.ents)+len(b.ents)/4 {
			b.ents = slices.Clone(b.ents) // drop append's growth slack
		}
	}
	return x, orphans, nil
}
