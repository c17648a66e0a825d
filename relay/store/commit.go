package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// blobOverhead is what one blob is charged against the quotas on top of its
// data (128 B: keys, index entry, value header, bbolt element headers), so a
// flood of tiny blobs cannot escape the byte quotas.
const blobOverhead = 128

type opKind uint8

const (
	opPut opKind = iota + 1
	opAck
	opForget
	opSweep
)

// op is one request to the committer. The requester fills the inputs, the
// committer fills the results and closes done after the commit.
type op struct {
	kind opKind

	// inputs
	mbox crypto.MailboxID // put, forget
	id   BlobID           // put result: assigned by the committer
	exp  int64            // put result: expiry, unix nanos
	data []byte           // put: owned copy of the data
	refs []Ref            // ack
	now  int64            // sweep: unix nanos

	// results
	n    int  // ack, forget, sweep: blobs deleted
	more bool // forget, sweep: chunk full, call again
	err  error
	done chan struct{}
}

// committer is the only writer of the database. It takes whatever requests
// are queued (up to MaxBatch) and commits them in one transaction and one
// fsync. It never waits for more requests to arrive: while one commit
// fsyncs, new requests pile up in the queue and form the next batch, so the
// batch size adapts to the load and a lone request pays one fsync only.
func (s *Store) committer() {
	defer close(s.committerDone)
	batch := make([]*op, 0, s.cfg.MaxBatch)
	var carry *op // taken from the queue but over the last batch's budget
	for {
		o := carry
		carry = nil
		if o == nil {
			var ok bool
			if o, ok = <-s.queue; !ok {
				return
			}
		}
		batch = append(batch[:0], o)
		budget := txBudget - o.weight()
		// Fill the batch from the queue without waiting on a timer: take
		// what is queued, then yield the processor so requesters that are
		// runnable right now (typically those the last commit released)
		// can reach the queue, and repeat while a yield brought new ones.
		// An idle store or a lone writer pays one yield, never a delay.
		progress := true
	fill:
		for len(batch) < s.cfg.MaxBatch && budget > 0 {
			select {
			case o, ok := <-s.queue:
				if !ok {
					break fill // buffered requests came first; the next receive returns
				}
				if budget -= o.weight(); budget < 0 {
					carry = o
					break fill
				}
				batch = append(batch, o)
				progress = true
			default:
				if !progress {
					break fill
				}
				progress = false
				runtime.Gosched()
			}
		}
		s.commit(batch)
		clear(batch) // drop references to committed data
	}
}

// weight is what o costs of a commit's txBudget.
func (o *op) weight() int {
	switch o.kind {
	case opAck:
		return len(o.refs)
	case opForget, opSweep:
		return sweepChunk
	}
	return 1
}

// txDelta is what one commit changed, applied to the Stats after it succeeds.
type txDelta struct {
	blobs, bytes, mailboxes        int64
	puts, acks, expired, forgotten uint64
	rejMailbox, rejGlobal          uint64
}

// commit applies batch in one bbolt transaction. A request's own failure
// (quota) does not fail the others; a transaction failure fails them all.
func (s *Store) commit(batch []*op) {
	var d txDelta
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		d = txDelta{}
		w := newWriter(tx, s.cfg, &d, &s.lastReceived)
		for _, o := range batch {
			o.n, o.more, o.err = 0, false, nil
			if err := w.apply(o); err != nil {
				return err
			}
		}
		return w.flush()
	})
	s.st.commitNanos.Add(uint64(time.Since(start)))
	s.st.commits.Add(1)
	s.st.commitOps.Add(uint64(len(batch)))
	if n := uint64(len(batch)); n > s.st.maxCommitOps.Load() {
		s.st.maxCommitOps.Store(n) // only the committer writes it
	}
	if err != nil {
		s.st.commitErrors.Add(1)
		s.cfg.Logger.Error("store: commit failed", "ops", len(batch), "err", err)
		for _, o := range batch {
			o.n, o.more = 0, false
			o.err = fmt.Errorf("store: commit: %w", err)
			close(o.done)
		}
		return
	}
	s.st.blobs.Add(d.blobs)
	s.st.bytes.Add(d.bytes)
	s.st.mailboxes.Add(d.mailboxes)
	s.st.puts.Add(d.puts)
	s.st.acks.Add(d.acks)
	s.st.expired.Add(d.expired)
	s.st.forgotten.Add(d.forgotten)
	s.st.rejMailboxQuota.Add(d.rejMailbox)
	s.st.rejGlobal.Add(d.rejGlobal)
	for _, o := range batch {
		close(o.done)
	}
}

// writer applies requests inside one write transaction, caching the
// counters it touches and writing them back once in flush.
type writer struct {
	cfg       Config
	d         *txDelta
	blobs     *bolt.Bucket
	data      *bolt.Bucket
	expiry    *bolt.Bucket
	mailboxes *bolt.Bucket
	meta      *bolt.Bucket
	totals    counter
	mbox      map[crypto.MailboxID]*mboxCounter
	// lastReceived is the Store's, owned by the committer; a failed
	// commit leaves it advanced, which is harmless.
	lastReceived *int64
}

type mboxCounter struct {
	counter
	existed bool
}

func newWriter(tx *bolt.Tx, cfg Config, d *txDelta, lastReceived *int64) *writer {
	w := &writer{
		lastReceived: lastReceived,
		cfg:          cfg,
		d:            d,
		blobs:        tx.Bucket(bucketBlobs),
		data:         tx.Bucket(bucketData),
		expiry:       tx.Bucket(bucketExpiry),
		mailboxes:    tx.Bucket(bucketMailboxes),
		meta:         tx.Bucket(bucketMeta),
		mbox:         make(map[crypto.MailboxID]*mboxCounter),
	}
	w.expiry.FillPercent = expiryFillPercent
	w.data.FillPercent = dataFillPercent
	w.totals = decodeCounter(w.meta.Get(metaTotals))
	return w
}

// nextReceived returns the receive time for the next blob: the relay clock,
// but strictly after the previous blob's, so IDs grow in commit order even
// if the clock stands still or steps back.
func (w *writer) nextReceived() int64 {
	t := max(w.cfg.Now().UnixNano(), *w.lastReceived+1)
	*w.lastReceived = t
	return t
}

func (w *writer) counter(m crypto.MailboxID) *mboxCounter {
	c := w.mbox[m]
	if c == nil {
		v := w.mailboxes.Get(m[:])
		c = &mboxCounter{counter: decodeCounter(v), existed: v != nil}
		w.mbox[m] = c
	}
	return c
}

func (w *writer) apply(o *op) error {
	switch o.kind {
	case opPut:
		return w.put(o)
	case opAck:
		for _, r := range o.refs {
			ok, err := w.deleteKey(blobKey(r.Mailbox, r.ID))
			if err != nil {
				return err
			}
			if ok {
				o.n++
			}
		}
		w.d.acks += uint64(o.n)
		return nil
	case opForget:
		return w.forget(o)
	case opSweep:
		return w.sweep(o)
	}
	return fmt.Errorf("unknown op %d", o.kind)
}

// put checks the quotas, then stores the blob, its data chunks and its
// index entry.
func (w *writer) put(o *op) error {
	size := int64(len(o.data))
	c := w.counter(o.mbox)
	charge := size + blobOverhead
	if c.bytes+c.n*blobOverhead+charge > w.cfg.MailboxQuota {
		o.err = fmt.Errorf("store: put: %w", ErrMailboxQuota)
		w.d.rejMailbox++
		return nil
	}
	if w.totals.bytes+w.totals.n*blobOverhead+charge > w.cfg.GlobalQuota {
		o.err = fmt.Errorf("store: put: %w", ErrGlobalQuota)
		w.d.rejGlobal++
		return nil
	}
	// The ID is assigned here, in commit order, so a reader that has seen
	// a blob can never later see one with a smaller ID: paging with
	// `after` misses nothing. Data is keyed by blob ID alone; the loop
	// guards against a reused ID (clock stepped back, 2⁻⁶⁴ odds).
	received := w.nextReceived()
	o.id = newBlobID(time.Unix(0, received))
	for w.data.Get(dataKey(o.id[:], 0)) != nil {
		o.id = newBlobID(time.Unix(0, received))
	}
	o.exp = received + w.cfg.Retention.Nanoseconds()
	bk := blobKey(o.mbox, o.id)
	if err := w.blobs.Put(bk, blobValue(o.exp, len(o.data))); err != nil {
		return err
	}
	if err := w.expiry.Put(expiryKey(o.exp, bk), nil); err != nil {
		return err
	}
	for i := range chunks(len(o.data)) {
		piece := o.data[i*dataChunk : min(len(o.data), (i+1)*dataChunk)]
		if err := w.data.Put(dataKey(o.id[:], i), piece); err != nil {
			return err
		}
	}
	w.add(c, 1, size)
	w.d.puts++
	return nil
}

// add changes a mailbox's counter and the totals by (n, size).
func (w *writer) add(c *mboxCounter, n, size int64) {
	c.n += n
	c.bytes += size
	w.totals.n += n
	w.totals.bytes += size
	w.d.blobs += n
	w.d.bytes += size
}

// deleteKey deletes one blob and its index entry if it exists.
func (w *writer) deleteKey(bk []byte) (bool, error) {
	v := w.blobs.Get(bk)
	if v == nil {
		return false, nil
	}
	exp, size := valueExpiry(v), valueSize(v)
	if err := w.blobs.Delete(bk); err != nil {
		return false, err
	}
	if err := w.expiry.Delete(expiryKey(exp, bk)); err != nil {
		return false, err
	}
	m, id := splitBlobKey(bk)
	for i := range chunks(size) {
		if err := w.data.Delete(dataKey(id[:], i)); err != nil {
			return false, err
		}
	}
	w.add(w.counter(m), -1, -int64(size))
	return true, nil
}

// forget deletes up to sweepChunk blobs of one mailbox. Keys are collected
// first because deleting under a bbolt cursor can skip entries.
func (w *writer) forget(o *op) error {
	var keys [][]byte
	c := w.blobs.Cursor()
	for k, _ := c.Seek(o.mbox[:]); k != nil && bytes.HasPrefix(k, o.mbox[:]); k, _ = c.Next() {
		if len(keys) == sweepChunk {
			o.more = true
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if _, err := w.deleteKey(k); err != nil {
			return err
		}
	}
	o.n = len(keys)
	w.d.forgotten += uint64(o.n)
	return nil
}

// sweep deletes up to sweepChunk blobs whose expiry is ≤ o.now, reading
// only the expired prefix of the expiry index.
func (w *writer) sweep(o *op) error {
	var keys [][]byte
	c := w.expiry.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k)) > o.now {
			break
		}
		if len(keys) == sweepChunk {
			o.more = true
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		ok, err := w.deleteKey(k[8:])
		if err != nil {
			return err
		}
		if ok {
			o.n++
		} else if err := w.expiry.Delete(k); err != nil { // orphan; Check reports these
			return err
		}
	}
	w.d.expired += uint64(o.n)
	return nil
}

// flush writes the touched counters back. A mailbox with no blobs left has
// no counter record, so a forgotten mailbox leaves no trace in the file.
func (w *writer) flush() error {
	for m, c := range w.mbox {
		switch {
		case c.n < 0 || c.bytes < 0:
			return fmt.Errorf("mailbox counter below zero")
		case c.n == 0:
			if c.existed {
				w.d.mailboxes--
				if err := w.mailboxes.Delete(m[:]); err != nil {
					return err
				}
			}
		default:
			if !c.existed {
				w.d.mailboxes++
			}
			if err := w.mailboxes.Put(m[:], c.encode()); err != nil {
				return err
			}
		}
	}
	return w.meta.Put(metaTotals, w.totals.encode())
}

// shortenRetention runs at Open when the operator lowered Retention: every
// stored blob's expiry becomes min(expiry, received+Retention), so the new
// limit holds for blobs received before the change too. It costs one pass
// over the index, once.
func (s *Store) shortenRetention() (int, error) {
	ret := s.cfg.Retention.Nanoseconds()
	var resume []byte
	total := 0
	for {
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			blobs, expiry := tx.Bucket(bucketBlobs), tx.Bucket(bucketExpiry)
			expiry.FillPercent = expiryFillPercent
			type change struct{ old, new []byte }
			var todo []change
			c := expiry.Cursor()
			k, _ := c.First()
			if resume != nil {
				k, _ = c.Seek(resume)
			}
			for ; k != nil && len(todo) < sweepChunk; k, _ = c.Next() {
				_, id := splitBlobKey(k[8:])
				want := id.Received().UnixNano() + ret
				if int64(binary.BigEndian.Uint64(k)) > want {
					todo = append(todo, change{bytes.Clone(k), expiryKey(want, k[8:])})
				}
				resume = append(bytes.Clone(k), 0) // first key after k
			}
			if k == nil {
				resume = nil
			}
			for _, ch := range todo {
				v := blobs.Get(ch.old[8:])
				if v != nil {
					nv := blobValue(valueExpiry(ch.new), valueSize(v))
					if err := blobs.Put(ch.old[8:], nv); err != nil {
						return err
					}
					if err := expiry.Put(ch.new, nil); err != nil {
						return err
					}
				}
				if err := expiry.Delete(ch.old); err != nil {
					return err
				}
			}
			n = len(todo)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if resume == nil {
			return total, nil
		}
	}
}

func decodeU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
