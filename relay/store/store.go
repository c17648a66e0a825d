package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/internal/boltopt"
)

// openLockTimeout bounds how long Open waits for another process's file
// lock on the database (10 s) before failing instead of hanging.
const openLockTimeout = 10 * time.Second

// Store is a durable mailbox store. All methods are safe for concurrent use.
// Writes (Put, Ack, DeleteMailboxes, Sweep) go through one committer
// goroutine that group-commits them; reads (List, Count, Get) are bbolt read
// transactions and run in parallel with writes.
type Store struct {
	cfg  Config
	db   *bolt.DB
	keys *keyring // at-rest day keys (atrest.go)

	// mu guards closed and the right to send on queue: senders hold it for
	// reading, Close takes it for writing before closing queue, so no send
	// can race the close.
	mu     sync.RWMutex
	closed bool
	queue  chan *op

	closeOnce     sync.Once
	closeErr      error
	committerDone chan struct{}
	sweeperStop   chan struct{}
	sweeperDone   chan struct{}

	st counters

	// idx is the in-memory mailbox index and quota counters (index.go).
	idx *index

	// lastReceived is the receive time (unix nanos) of the newest blob,
	// owned by the committer (set by init before it starts).
	lastReceived int64
	// visible is lastReceived as of the last successful commit: blobs
	// received at or before it are durable. Readers load it before they
	// open their read transaction and ignore newer index entries, which
	// the committer adds before its commit is durable.
	visible atomic.Int64
}

// counters are the aggregate Stats counters, updated after each successful
// commit; the gauges (blobs, bytes, mailboxes) are read from the index.
type counters struct {
	puts, acks, expired, forgotten                    atomic.Uint64
	rejTooLarge, rejEmpty, rejMailboxQuota, rejGlobal atomic.Uint64
	commits, commitOps, commitErrors, maxCommitOps    atomic.Uint64
	commitNanos                                       atomic.Uint64
}

// Stats are aggregate figures for metrics. They never identify a mailbox.
type Stats struct {
	Blobs     int64 // blobs stored now (including expired not yet swept, and puts being committed)
	Bytes     int64 // data bytes stored now
	Mailboxes int64 // mailboxes holding at least one blob
	FileSize  int64 // size of the database file on disk
	FreePages int   // bbolt pages free or pending reuse (reclaimed space)

	Puts      uint64 // blobs stored since Open
	Acks      uint64 // blobs deleted by Ack since Open
	Expired   uint64 // blobs deleted by Sweep since Open
	Forgotten uint64 // blobs deleted by DeleteMailboxes since Open

	RejectedTooLarge     uint64 // Puts refused with ErrTooLarge
	RejectedEmpty        uint64 // Puts refused with ErrEmpty
	RejectedMailboxQuota uint64 // Puts refused with ErrMailboxQuota
	RejectedGlobalQuota  uint64 // Puts refused with ErrGlobalQuota

	KeyDays int // at-rest day keys held (one per day with live blobs, until erased)

	Commits      uint64        // group commits (one fsync each)
	CommitOps    uint64        // requests carried by those commits; /Commits = mean batch
	MaxCommitOps uint64        // largest batch seen
	CommitErrors uint64        // commits that failed (every request in them failed)
	CommitTime   time.Duration // time spent in commits; /Commits = mean commit latency
}

// Open opens (creating if needed) the store at cfg.Path and starts its
// committer and sweeper goroutines. Zero Config fields take defaults.
func Open(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := openKeyring(cfg.KeyDir, cfg.NoSync)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(cfg.Path, 0o600, boltOptions(cfg.NoSync))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	s := &Store{
		cfg:           cfg,
		db:            db,
		keys:          keys,
		queue:         make(chan *op, queueDepth*cfg.MaxBatch),
		committerDone: make(chan struct{}),
		sweeperStop:   make(chan struct{}),
		sweeperDone:   make(chan struct{}),
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	go s.committer()
	if cfg.SweepInterval > 0 {
		go s.sweeper()
	} else {
		close(s.sweeperDone)
	}
	return s, nil
}

// boltOptions are the bbolt options of a store file. NoFreelistSync with the
// hashmap freelist keeps commits cheap however many pages are free (the
// freelist is rebuilt by scanning the file at Open instead); see doc.go.
// noSync is Config.NoSync (simulations only).
func boltOptions(noSync bool) *bolt.Options {
	o := boltopt.Options(openLockTimeout, noSync)
	o.NoFreelistSync, o.FreelistType = true, bolt.FreelistMapType
	return o
}

// init creates the buckets, checks (or migrates) the format version,
// applies a lowered retention to blobs already stored and builds the
// in-memory index from the expiry bucket.
func (s *Store) init() error {
	var oldRetention time.Duration
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketData, bucketExpiry, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(metaVersion); {
		case v == nil:
			if err := meta.Put(metaVersion, u64(formatVersion)); err != nil {
				return err
			}
		case len(v) == 8 && decodeU64(v) == 1:
			if err := migrateV1(tx); err != nil {
				return fmt.Errorf("migrate format 1: %w", err)
			}
			if err := migrateV2(tx, s.keys); err != nil {
				return fmt.Errorf("migrate format 2: %w", err)
			}
		case len(v) == 8 && decodeU64(v) == 2:
			if err := migrateV2(tx, s.keys); err != nil {
				return fmt.Errorf("migrate format 2: %w", err)
			}
		case len(v) != 8 || decodeU64(v) != formatVersion:
			return fmt.Errorf("unsupported format version %x", v)
		}
		if v := meta.Get(metaRetention); len(v) == 8 {
			oldRetention = time.Duration(decodeU64(v))
		}
		if k, _ := tx.Bucket(bucketData).Cursor().Last(); k != nil {
			var id BlobID
			copy(id[:], k)
			s.lastReceived = id.Received().UnixNano()
		}
		return meta.Put(metaRetention, u64(uint64(s.cfg.Retention)))
	})
	if err != nil {
		return fmt.Errorf("store: init %s: %w", s.cfg.Path, err)
	}
	if oldRetention > s.cfg.Retention {
		n, err := s.shortenRetention()
		if err != nil {
			return fmt.Errorf("store: apply lowered retention: %w", err)
		}
		s.cfg.Logger.Info("store: retention lowered; expiry of stored blobs shortened",
			"from", oldRetention, "to", s.cfg.Retention, "blobs", n)
	}
	// One pass opens every index entry: the orphans it reports are not
	// in x, so dropping them leaves x as it is.
	var orphans [][]byte
	err = s.db.View(func(tx *bolt.Tx) (err error) {
		s.idx, orphans, err = loadIndex(tx, s.keys)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: build index %s: %w", s.cfg.Path, err)
	}
	if err := s.dropOrphans(orphans); err != nil {
		return fmt.Errorf("store: drop blobs without a key %s: %w", s.cfg.Path, err)
	}
	s.visible.Store(s.lastReceived)
	return nil
}

// Put stores data in mailbox mbox and returns its ID and expiry time. The
// receive time in the ID is taken from the relay clock at commit, and the
// expiry is that plus Retention. Put
// returns only once the blob is committed and fsynced; any error means the
// blob was not acknowledged. A ctx that ends while the blob is already
// queued returns ctx.Err() although the blob may still be stored (it then
// expires like any other; the envelope's item ID lets the recipient drop a
// re-sent duplicate).
func (s *Store) Put(ctx context.Context, mbox crypto.MailboxID, data []byte) (BlobID, time.Time, error) {
	switch {
	case len(data) == 0:
		s.st.rejEmpty.Add(1)
		return BlobID{}, time.Time{}, ErrEmpty
	case len(data) > s.cfg.MaxBlobSize:
		s.st.rejTooLarge.Add(1)
		return BlobID{}, time.Time{}, fmt.Errorf("store: put %d bytes (max %d): %w", len(data), s.cfg.MaxBlobSize, ErrTooLarge)
	}
	// Sealed here, off the committer (which also means a caller whose
	// ctx ends may reuse data before the commit that stores it).
	now := s.cfg.Now()
	sealed, err := s.keys.seal(now, adData, data)
	if err != nil {
		return BlobID{}, time.Time{}, err
	}
	meta, err := s.keys.sealMeta(now, mbox, len(data))
	if err != nil {
		return BlobID{}, time.Time{}, err
	}
	o := &op{kind: opPut, mbox: mbox, data: sealed, meta: meta, size: len(data), day: dayOf(now)}
	if err := s.submit(ctx, o); err != nil {
		return BlobID{}, time.Time{}, err
	}
	return o.id, time.Unix(0, o.exp), nil
}

// Ack deletes the named blobs at once and returns how many existed. Unknown
// or already deleted refs are ignored, so a repeated ack is harmless. The
// deletion is durable before Ack returns.
func (s *Store) Ack(refs []Ref) (int, error) {
	// Chunks are queued together, so they share commits when the budget
	// allows, and are waited for together.
	var ops []*op
	for len(refs) > 0 {
		n := min(len(refs), ackChunk)
		o := &op{kind: opAck, refs: refs[:n], done: make(chan struct{})}
		refs = refs[n:]
		if err := s.enqueue(context.Background(), o); err != nil {
			return s.ackWait(ops, err)
		}
		ops = append(ops, o)
	}
	return s.ackWait(ops, nil)
}

// ackWait waits for queued ack chunks and sums their results.
func (s *Store) ackWait(ops []*op, err error) (int, error) {
	n := 0
	for _, o := range ops {
		<-o.done
		n += o.n
		if err == nil {
			err = o.err
		}
	}
	return n, err
}

// DeleteMailboxes removes every blob of the given mailboxes (forget) and
// returns how many there were. Durable before return.
func (s *Store) DeleteMailboxes(mboxes []crypto.MailboxID) (int, error) {
	mboxes = dedupe(mboxes)
	total := 0
	for _, m := range mboxes {
		for {
			o := &op{kind: opForget, mbox: m}
			if err := s.submit(context.Background(), o); err != nil {
				return total, err
			}
			total += o.n
			if !o.more {
				break
			}
		}
	}
	return total, nil
}

// Sweep deletes every blob whose expiry is at or before Now() and returns
// how many. Its cost is proportional to what expires: it reads only the
// expired prefix of the expiry index, in chunks that interleave with puts.
func (s *Store) Sweep() (int, error) {
	total := 0
	now := s.cfg.Now()
	for {
		o := &op{kind: opSweep, now: now.UnixNano()}
		if err := s.submit(context.Background(), o); err != nil {
			return total, err
		}
		total += o.n
		if !o.more {
			break
		}
	}
	// Crypto-shredding: erase the day keys no live blob needs, once their
	// days are past retention.
	s.idx.mu.RLock()
	inUse := make(map[uint32]bool, len(s.idx.keyDays))
	for d := range s.idx.keyDays {
		inUse[d] = true
	}
	s.idx.mu.RUnlock()
	if _, err := s.keys.shred(now, s.cfg.Retention, inUse); err != nil {
		return total, err
	}
	return total, nil
}

// dropOrphans deletes, at Open, expired blobs whose day key is gone
// (orphans: their expiry keys, as loadIndex reports them)
// (never in normal operation, where a key outlives its blobs): they can
// never be read. An unexpired blob without its key means KeyDir is wrong
// or was lost: Open fails with ErrKeysMissing rather than drop it.
func (s *Store) dropOrphans(orphans [][]byte) error {
	if len(orphans) == 0 {
		return nil
	}
	now := s.cfg.Now().UnixNano()
	for _, k := range orphans {
		if exp, _ := splitExpiryKey(k); exp > now {
			return fmt.Errorf("store: %d blobs without their at-rest key in %s: %w", len(orphans), s.cfg.KeyDir, ErrKeysMissing)
		}
	}
	s.cfg.Logger.Warn("store: blobs without an at-rest key dropped", "n", len(orphans))
	return s.db.Update(func(tx *bolt.Tx) error {
		w := newWriter(tx, s.cfg, &txDelta{}, &s.lastReceived, s.idx, s.keys)
		for _, k := range orphans {
			_, id := splitExpiryKey(k)
			if err := w.deleteUnindexed(k, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// submit queues o for the committer and waits for its commit.
func (s *Store) submit(ctx context.Context, o *op) error {
	o.done = make(chan struct{})
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue hands o (with its done channel made) to the committer.
func (s *Store) enqueue(ctx context.Context, o *op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sweeper calls Sweep every SweepInterval until Close.
func (s *Store) sweeper() {
	defer close(s.sweeperDone)
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.sweeperStop:
			return
		case <-t.C:
			n, err := s.Sweep()
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil {
				s.cfg.Logger.Error("store: sweep failed", "err", err)
			} else if n > 0 {
				s.cfg.Logger.Debug("store: swept expired blobs", "n", n)
			}
		}
	}
}

// Stats returns aggregate counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Puts:                 s.st.puts.Load(),
		Acks:                 s.st.acks.Load(),
		Expired:              s.st.expired.Load(),
		Forgotten:            s.st.forgotten.Load(),
		RejectedTooLarge:     s.st.rejTooLarge.Load(),
		RejectedEmpty:        s.st.rejEmpty.Load(),
		RejectedMailboxQuota: s.st.rejMailboxQuota.Load(),
		RejectedGlobalQuota:  s.st.rejGlobal.Load(),
		Commits:              s.st.commits.Load(),
		CommitOps:            s.st.commitOps.Load(),
		MaxCommitOps:         s.st.maxCommitOps.Load(),
		CommitErrors:         s.st.commitErrors.Load(),
		CommitTime:           time.Duration(s.st.commitNanos.Load()),
	}
	s.idx.mu.RLock()
	st.Blobs, st.Bytes, st.Mailboxes = s.idx.totals.n, s.idx.totals.bytes, int64(len(s.idx.boxes))
	s.idx.mu.RUnlock()
	st.KeyDays = s.keys.days()
	if fi, err := os.Stat(s.cfg.Path); err == nil {
		st.FileSize = fi.Size()
	}
	bs := s.db.Stats()
	st.FreePages = bs.FreePageN + bs.PendingPageN
	return st
}

// Close stops accepting requests (they fail with ErrClosed), commits every
// request already queued, stops the sweeper and closes the database. It is
// idempotent and safe to call concurrently.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		close(s.sweeperStop)
		<-s.sweeperDone
		<-s.committerDone
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

func dedupe(mboxes []crypto.MailboxID) []crypto.MailboxID {
	if len(mboxes) < 2 {
		return mboxes
	}
	seen := make(map[crypto.MailboxID]struct{}, len(mboxes))
	out := make([]crypto.MailboxID, 0, len(mboxes))
	for _, m := range mboxes {
		if _, ok := seen[m]; !ok {
			seen[m] = struct{}{}
			out = append(out, m)
		}
	}
	return out
}
