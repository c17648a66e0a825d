package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/internal/boltopt"
)

// blobOverhead is what one blob is charged against the quotas on top of its
// data: 1 KiB. A blob's real fixed cost is ~130 B on disk (keys, expiry
// entry, bbolt element headers) and 33–55 B of in-memory index; charging
// 1 KiB makes the byte quotas bound the blob COUNT too, so a flood of tiny
// blobs cannot grow the index past GlobalQuota/1 KiB entries (8M blobs,
// ≈ 450 MiB of heap at the default 8 GiB). Senders pad to ≥ 256 B and
// phones' chunks are 256 KiB, so real traffic barely notices.
const blobOverhead = 1024

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
	data []byte           // put: the data, sealed (atrest.go)
	meta []byte           // put: the index entry, sealed
	size int              // put: plaintext size
	day  uint32           // put: at-rest key day of data and meta
	refs []Ref            // ack
	now  int64            // sweep: unix nanos

	// results
	n    int  // ack, forget, sweep: blobs deleted
	more bool // forget, sweep: chunk full, call again
	err  error
	done chan struct{}
}

// committer is the only writer of the database and of the index. It takes
// whatever requests are queued (up to MaxBatch) and commits them in one
// transaction and one fsync. While one commit fsyncs, new requests pile up
// in the queue and form the next batch, so the batch size adapts to the
// load and a lone request pays one fsync only. It waits for more requests
// only briefly (fillWait) and only when it has reason to expect them.
func (s *Store) committer() {
	defer close(s.committerDone)
	batch := make([]*op, 0, s.cfg.MaxBatch)
	var carry *op // taken from the queue but over the last batch's budget
	// expect is how many requests the next batch may hope for: the ones
	// the last commit released (they often come straight back with their
	// next request) plus the ones that queued meanwhile.
	expect := 1
	fillTimer := time.NewTimer(time.Hour)
	fillTimer.Stop()
	defer fillTimer.Stop()
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
		// Fill the batch from the queue: take what is queued, then yield
		// the processor so requesters that are runnable right now can
		// reach the queue, and repeat while a yield brought new ones. If
		// the batch is still smaller than expected, wait up to fillWait
		// for the writers the last commit released, which typically come
		// back at once with their next put; without that, a steady load
		// splits into two groups that alternate commits, each half full.
		// An idle store or a lone writer (expect 1) never waits.
		idle := 0 // consecutive yields that brought nothing
		var deadline <-chan time.Time
	fill:
		for len(batch) < s.cfg.MaxBatch && budget > 0 {
			var (
				o  *op
				ok bool
			)
			select {
			case o, ok = <-s.queue:
			default:
				switch {
				case idle < fillYields:
					idle++
					runtime.Gosched()
					continue
				case len(batch) >= expect:
					break fill
				case deadline == nil:
					fillTimer.Reset(fillWait)
					deadline = fillTimer.C
				}
				select {
				case o, ok = <-s.queue:
				case <-deadline:
					break fill
				}
			}
			if !ok {
				break fill // buffered requests came first; the next receive returns
			}
			if budget -= o.weight(); budget < 0 {
				carry = o
				break fill
			}
			batch = append(batch, o)
			idle = 0
		}
		if deadline != nil {
			fillTimer.Stop() // since Go 1.23 a stopped timer delivers no stale tick
		}
		s.commit(batch)
		expect = min(len(batch)+len(s.queue), s.cfg.MaxBatch)
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
	puts, acks, expired, forgotten uint64
	rejMailbox, rejGlobal          uint64
}

// commit applies batch in one bbolt transaction. A request's own failure
// (quota) does not fail the others; a transaction failure fails them all.
//
// The writer changes the in-memory index as it goes, before the commit is
// durable. Readers cannot see a put early: they list only blobs received
// at or before s.visible, which moves after the fsync. If the transaction
// fails, the index is rebuilt from the file, which undoes the batch.
func (s *Store) commit(batch []*op) {
	var d txDelta
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		d = txDelta{}
		w := newWriter(tx, s.cfg, &d, &s.lastReceived, s.idx, s.keys)
		for _, o := range batch {
			o.n, o.more, o.err = 0, false, nil
			if err := w.apply(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		boltopt.SyncDelay(s.cfg.NoSync, s.cfg.SyncDelay)
	}
	s.st.commitNanos.Add(uint64(time.Since(start)))
	s.st.commits.Add(1)
	s.st.commitOps.Add(uint64(len(batch)))
	if n := uint64(len(batch)); n > s.st.maxCommitOps.Load() {
		s.st.maxCommitOps.Store(n) // only the committer writes it
	}
	if err != nil {
		s.st.commitErrors.Add(1)
		s.cfg.Logger.Error("store: commit failed", "ops", len(batch), "err", err)
		if rerr := s.reloadIndex(); rerr != nil {
			s.cfg.Logger.Error("store: rebuilding the index after a failed commit", "err", rerr)
		}
		for _, o := range batch {
			o.n, o.more = 0, false
			o.err = fmt.Errorf("store: commit: %w", err)
			close(o.done)
		}
		return
	}
	s.visible.Store(s.lastReceived)
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

// reloadIndex rebuilds the in-memory index from the file,
// after a failed commit left the index ahead of it.
func (s *Store) reloadIndex() error {
	var x *index
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		x, _, err = loadIndex(tx, s.keys)
		return err
	})
	if err != nil {
		return err
	}
	s.idx.mu.Lock()
	s.idx.boxes, s.idx.totals, s.idx.keyDays = x.boxes, x.totals, x.keyDays
	s.idx.mu.Unlock()
	return nil
}

// writer applies requests inside one write transaction: data and expiry
// keys in the file, entries in the index.
type writer struct {
	cfg    Config
	d      *txDelta
	idx    *index
	keys   *keyring
	data   *bolt.Bucket
	expiry *bolt.Bucket
	// lastReceived is the Store's, owned by the committer; a failed
	// commit leaves it advanced, which is harmless.
	lastReceived *int64
}

func newWriter(tx *bolt.Tx, cfg Config, d *txDelta, lastReceived *int64, idx *index, keys *keyring) *writer {
	w := &writer{
		lastReceived: lastReceived,
		cfg:          cfg,
		d:            d,
		idx:          idx,
		keys:         keys,
		data:         tx.Bucket(bucketData),
		expiry:       tx.Bucket(bucketExpiry),
	}
	w.expiry.FillPercent = expiryFillPercent
	w.data.FillPercent = dataFillPercent
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

func (w *writer) apply(o *op) error {
	switch o.kind {
	case opPut:
		return w.put(o)
	case opAck:
		for _, r := range o.refs {
			ok, err := w.delete(r.Mailbox, r.ID)
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

// put checks the quotas, then stores the blob's data chunks and its expiry
// entry, and indexes it. The committer is the index's only writer, so it
// reads the index without the lock.
func (w *writer) put(o *op) error {
	size := int64(o.size)
	c := w.idx.counter(o.mbox)
	charge := size + blobOverhead
	if c.bytes+c.n*blobOverhead+charge > w.cfg.MailboxQuota {
		o.err = fmt.Errorf("store: put: %w", ErrMailboxQuota)
		w.d.rejMailbox++
		return nil
	}
	if t := w.idx.totals; t.bytes+t.n*blobOverhead+charge > w.cfg.GlobalQuota {
		o.err = fmt.Errorf("store: put: %w", ErrGlobalQuota)
		w.d.rejGlobal++
		return nil
	}
	// The ID is assigned here, in commit order, so a reader that has seen
	// a blob can never later see one with a smaller ID: paging with
	// `after` misses nothing. Receive times strictly increase, also
	// across restarts (lastReceived starts at the newest stored ID), so
	// IDs are unique without a lookup.
	received := w.nextReceived()
	o.id = newBlobID(time.Unix(0, received))
	o.exp = received + w.cfg.Retention.Nanoseconds()
	if err := w.expiry.Put(expiryKey(o.exp, o.id), o.meta); err != nil {
		return err
	}
	for i := range chunks(len(o.data)) {
		piece := o.data[i*dataChunk : min(len(o.data), (i+1)*dataChunk)]
		if err := w.data.Put(dataKey(o.id[:], i), piece); err != nil {
			return err
		}
	}
	w.idx.mu.Lock()
	w.idx.insert(o.mbox, entry{id: o.id, exp: o.exp, size: uint32(size), day: o.day})
	w.idx.mu.Unlock()
	w.d.puts++
	return nil
}

// delete deletes one blob (its index entry, expiry entry and data) if it
// exists.
func (w *writer) delete(m crypto.MailboxID, id BlobID) (bool, error) {
	w.idx.mu.Lock()
	e, ok := w.idx.remove(m, id)
	w.idx.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err := w.expiry.Delete(expiryKey(e.exp, id)); err != nil {
		return false, err
	}
	for i := range blobChunks(int(e.size)) {
		if err := w.data.Delete(dataKey(id[:], i)); err != nil {
			return false, err
		}
	}
	return true, nil
}

// deleteUnindexed deletes an expiry entry the index does not know (its
// day key was erased, so its mailbox cannot be read) and every data chunk
// of its blob.
func (w *writer) deleteUnindexed(k []byte, id BlobID) error {
	if err := w.expiry.Delete(k); err != nil {
		return err
	}
	var dks [][]byte
	c := w.data.Cursor()
	for dk, _ := c.Seek(id[:]); dk != nil && bytes.HasPrefix(dk, id[:]); dk, _ = c.Next() {
		dks = append(dks, bytes.Clone(dk))
	}
	for _, dk := range dks {
		if err := w.data.Delete(dk); err != nil {
			return err
		}
	}
	return nil
}

// forget deletes up to sweepChunk blobs of one mailbox.
func (w *writer) forget(o *op) error {
	var ids []BlobID
	if b := w.idx.boxes[o.mbox]; b != nil {
		for _, e := range b.ents {
			if e.exp == 0 {
				continue
			}
			if len(ids) == sweepChunk {
				o.more = true
				break
			}
			ids = append(ids, e.id)
		}
	}
	for _, id := range ids {
		if _, err := w.delete(o.mbox, id); err != nil {
			return err
		}
	}
	o.n = len(ids)
	w.d.forgotten += uint64(o.n)
	return nil
}

// sweep deletes up to sweepChunk blobs whose expiry is ≤ o.now, reading
// only the expired prefix of the expiry index. Keys are collected first
// because deleting under a bbolt cursor can skip entries.
func (w *writer) sweep(o *op) error {
	type kv struct{ k, v []byte }
	var keys []kv
	c := w.expiry.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if int64(binary.BigEndian.Uint64(k)) > o.now {
			break
		}
		if len(keys) == sweepChunk {
			o.more = true
			break
		}
		keys = append(keys, kv{bytes.Clone(k), bytes.Clone(v)})
	}
	for _, e := range keys {
		_, id := splitExpiryKey(e.k)
		m, _, err := w.keys.openMeta(e.v)
		ok := false
		if err == nil {
			if ok, err = w.delete(m, id); err != nil {
				return err
			}
		}
		if ok {
			o.n++
		} else if err := w.deleteUnindexed(e.k, id); err != nil { // not indexed; Check reports these
			return err
		}
	}
	w.d.expired += uint64(o.n)
	return nil
}

// shortenRetention runs at Open when the operator lowered Retention: every
// stored blob's expiry becomes min(expiry, received+Retention), so the new
// limit holds for blobs received before the change too. It costs one pass
// over the expiry index, once, before the in-memory index is built.
func (s *Store) shortenRetention() (int, error) {
	ret := s.cfg.Retention.Nanoseconds()
	var resume []byte
	total := 0
	for {
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			expiry := tx.Bucket(bucketExpiry)
			expiry.FillPercent = expiryFillPercent
			type change struct{ old, new, v []byte }
			var todo []change
			c := expiry.Cursor()
			k, v := c.First()
			if resume != nil {
				k, v = c.Seek(resume)
			}
			for ; k != nil && len(todo) < sweepChunk; k, v = c.Next() {
				exp, id := splitExpiryKey(k)
				want := id.Received().UnixNano() + ret
				if exp > want {
					todo = append(todo, change{bytes.Clone(k), expiryKey(want, id), bytes.Clone(v)})
				}
				resume = append(bytes.Clone(k), 0) // first key after k
			}
			if k == nil {
				resume = nil
			}
			for _, ch := range todo {
				if err := expiry.Put(ch.new, ch.v); err != nil {
					return err
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

// fillYields is how many consecutive yields that bring no new request end
// the cheap part of a batch's fill (2).
const fillYields = 2

// fillWait bounds how long a batch waits for the writers the last commit
// released (200 µs: under a tenth of a commit's two fsyncs here, and
// about one libp2p request round trip on a LAN). It is spent at most once
// per commit and only while the batch is smaller than the last commit
// released plus what queued meanwhile, so a lone writer never pays it and
// a load that shrinks pays it about once.
const fillWait = 200 * time.Microsecond
