package node

// Asynchronous sharing: a share call stores the outbox record and returns
// the item ID; a background job hashes the content (the offer names its
// hash), makes the item deliverable, then seals it into the pending copy
// while the first deliveries already stream the chunks sealed so far. This
// file also owns per-item cancellation (CancelItem).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/node/scrub"
)

// MaxShareBytes caps ShareBytes: 64 MiB. The bytes are held in memory
// until sealed; larger content should be shared from a file.
const MaxShareBytes = 64 << 20

// FailSource is Event.Err of EventDeliveryFailed when an item's content
// could not be sealed: the file went away or changed while it was being
// sealed, the node restarted before bytes shared with ShareBytes were
// sealed, or the location could not be removed from it
// (scrub.ErrTooComplex).
const FailSource = "source unavailable"

// FailCancelled is Event.Err of EventDeliveryFailed for the recipients
// still waiting when the sender cancelled the item (CancelItem).
const FailCancelled = "cancelled"

// transfers is the in-memory state of items being sealed or sent. Its
// zero value is ready.
type transfers struct {
	mu      sync.Mutex // guards the maps
	sealing map[string]*sealJob
	runs    map[string]*itemRun
	// receiving: incoming items a stream is receiving now (resume.go)
	receiving map[string]bool
	hold      bool // tests: pump starts no delivery

	// Sealing is local work that outlives Stop/Start and SetAppState
	// (which replace the run context): its jobs run under root, which
	// only Close cancels (stopSealing), and are counted by sealWG.
	root       context.Context
	rootCancel context.CancelFunc
	sealWG     sync.WaitGroup
	closed     bool

	// Tests only: sealHook runs after each sealed chunk is written
	// (chunks = how many so far) and may block until ctx ends; recvHook
	// runs as each chunk frame arrives at the receiver.
	sealHook func(ctx context.Context, id string, chunks int64)
	recvHook func(id string, i int64)
}

func (n *Node) hooks() (func(context.Context, string, int64), func(string, int64)) {
	n.xf.mu.Lock()
	defer n.xf.mu.Unlock()
	return n.xf.sealHook, n.xf.recvHook
}

// itemRun is the context every goroutine working on one outgoing item
// (sealing, deliveries, resumes) runs under; CancelItem cancels it.
type itemRun struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// sealJob is one item being sealed into its pending copy.
type sealJob struct {
	done   chan struct{} // closed when sealing ended; err is then set
	cancel context.CancelFunc

	mu     sync.Mutex // guards below
	chunks int64      // chunks written to the pending copy so far
	moved  chan struct{}
	err    error
}

func (j *sealJob) advance(chunks int64) {
	j.mu.Lock()
	j.chunks = chunks
	close(j.moved)
	j.moved = make(chan struct{})
	j.mu.Unlock()
}

// sealed is how many chunks are in the pending copy so far.
func (j *sealJob) sealed() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.chunks
}

// waitChunk waits until chunk i is in the pending copy, sealing failed, or
// ctx ends.
func (j *sealJob) waitChunk(ctx context.Context, i int64) error {
	for {
		j.mu.Lock()
		have, moved := j.chunks, j.moved
		j.mu.Unlock()
		if have > i {
			return nil
		}
		select {
		case <-j.done:
			if j.err != nil {
				return j.err
			}
			return nil
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// itemContext returns the context of outgoing item id's deliveries: a
// child of the node's run context, made on first use and again after Stop
// replaced the run context (CancelItem removes it, so a done context here
// can only come from Stop).
func (n *Node) itemContext(id string) context.Context {
	n.mu.Lock()
	parent := n.ctx
	n.mu.Unlock()
	n.xf.mu.Lock()
	defer n.xf.mu.Unlock()
	if n.xf.runs == nil {
		n.xf.runs = map[string]*itemRun{}
	}
	r := n.xf.runs[id]
	if r == nil || r.ctx.Err() != nil {
		ctx, cancel := context.WithCancel(parent)
		r = &itemRun{ctx: ctx, cancel: cancel}
		n.xf.runs[id] = r
	}
	return r.ctx
}

// endItem cancels everything still working on item id and forgets it.
func (n *Node) endItem(id string) {
	n.xf.mu.Lock()
	r := n.xf.runs[id]
	delete(n.xf.runs, id)
	j := n.xf.sealing[id]
	n.xf.mu.Unlock()
	if r != nil {
		r.cancel()
	}
	if j != nil {
		j.cancel()
	}
}

// stopSealing cancels every sealing job and waits for them (Close).
func (n *Node) stopSealing() {
	n.xf.mu.Lock()
	n.xf.closed = true
	if n.xf.rootCancel != nil {
		n.xf.rootCancel()
	}
	n.xf.mu.Unlock()
	n.xf.sealWG.Wait()
}

func (n *Node) sealJobOf(id string) *sealJob {
	n.xf.mu.Lock()
	defer n.xf.mu.Unlock()
	return n.xf.sealing[id]
}

// waitSealed blocks until item id is sealed (or sealing ended).
func (n *Node) waitSealed(id string) {
	if j := n.sealJobOf(id); j != nil {
		<-j.done
	}
}

// waitSealedCtx is waitSealed bounded by ctx; it returns the sealing error.
func (n *Node) waitSealedCtx(ctx context.Context, id string) error {
	j := n.sealJobOf(id)
	if j == nil {
		return nil
	}
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// holdDeliveries stops (true) or resumes the start of new deliveries
// (benchmarks: seal first, then time the transfer).
func (n *Node) holdDeliveries(on bool) {
	n.xf.mu.Lock()
	n.xf.hold = on
	n.xf.mu.Unlock()
	if !on {
		n.wake()
	}
}

func (n *Node) deliveriesHeld() bool {
	n.xf.mu.Lock()
	defer n.xf.mu.Unlock()
	return n.xf.hold
}

// source opens an item's content: the shared file, or the bytes given to
// ShareBytes (only while this process runs).
type source func() (io.ReadCloser, error)

// scrubbed is src read through node/scrub: what is hashed, sealed and
// sent is the content with its location blanked in place (GPS IFDs, XMP,
// video location boxes; P3, P4), of the same size, every other byte
// kept. There is no opt-out. Each open scans the content again (headers
// and metadata only), so both sealing passes, and a re-seal after a
// restart, see the same scrubbed bytes: the hash check holds. Content
// that cannot be read at random (not a file or ShareBytes' bytes) or that
// scrub cannot plan (scrub.ErrTooComplex) is not shared: the open fails,
// and so does the item (FailSource).
func scrubbed(src source) source {
	return func() (io.ReadCloser, error) {
		rc, err := src()
		if err != nil {
			return nil, err
		}
		var ra io.ReaderAt
		var size int64
		switch r := rc.(type) {
		case *os.File:
			st, err := r.Stat()
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("node: scrub: %w", err)
			}
			ra, size = r, st.Size()
		case memSource:
			ra, size = r, r.Size()
		default:
			rc.Close()
			return nil, fmt.Errorf("node: scrub: content cannot be scanned: %w", ErrBadArgument)
		}
		plan, err := scrub.Scan(ra, size)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("node: scrub: %w", err)
		}
		return struct {
			io.Reader
			io.Closer
		}{plan.Reader(rc), rc}, nil
	}
}

// memSource is the content of ShareBytes: a reader that scrub can also
// read at random.
type memSource struct{ *bytes.Reader }

func (memSource) Close() error { return nil }

// startSealing runs the sealing job of it in the background. The record
// is stored (with Sealing set) before.
func (n *Node) startSealing(it *outItem, src source) {
	src = scrubbed(src) // every photo and video, also when re-sealed after a restart
	j := &sealJob{done: make(chan struct{}), moved: make(chan struct{})}
	n.xf.mu.Lock()
	if n.xf.closed {
		n.xf.mu.Unlock()
		j.err = ErrClosed
		close(j.done)
		return
	}
	if n.xf.root == nil {
		n.xf.root, n.xf.rootCancel = context.WithCancel(context.Background())
	}
	ctx, cancel := context.WithCancel(n.xf.root)
	j.cancel = cancel
	if n.xf.sealing == nil {
		n.xf.sealing = map[string]*sealJob{}
	}
	n.xf.sealing[it.ID] = j
	n.xf.sealWG.Add(1)
	n.xf.mu.Unlock()
	go func() {
		defer n.xf.sealWG.Done()
		defer cancel()
		err := n.seal(ctx, it, src, j)
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
		n.xf.mu.Lock()
		delete(n.xf.sealing, it.ID)
		n.xf.mu.Unlock()
		close(j.done)
		if err != nil && ctx.Err() == nil {
			n.log.Debug("sealing failed", "err", err)
			n.failItem(it.ID, FailSource)
		}
		n.wake()
	}()
}

// seal hashes the content, makes the item deliverable (its record gets
// the hash and size), then seals it into the pending copy, advancing j as
// chunks land so deliveries can stream them, and finally makes the copy
// durable and clears Sealing.
func (n *Node) seal(ctx context.Context, it *outItem, src source, j *sealJob) error {
	key, err := crypto.ParseStreamKey(it.Key)
	if err != nil {
		return err
	}
	// A file is checked for change by its size and modification time
	// around both passes (re-hashing it while sealing would cost a third
	// pass over the content).
	// The copy exists before the item is deliverable: a delivery opens it
	// and then waits for each chunk (sealJob.waitChunk).
	dst, err := os.OpenFile(it.Sealed, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("node: seal: %w", err)
	}
	defer dst.Close()
	before, statErr := statSource(it.Path)
	hash, size, err := hashSource(ctx, src)
	if err != nil {
		return err
	}
	if it.Hash != nil && !bytes.Equal(it.Hash, hash) {
		// A restart re-seals from the file: it must be what was offered.
		return fmt.Errorf("node: seal: the file changed: %w", ErrBadArgument)
	}
	if it.Hash == nil {
		it.Hash, it.Size = hash, size
		if err := n.updateOut(it.ID, func(o *outItem) { o.Hash, o.Size = hash, size }); err != nil {
			return err
		}
		n.wake() // deliverable now
	}
	r, err := src()
	if err != nil {
		return fmt.Errorf("node: seal: %w", err)
	}
	defer r.Close()
	hook, _ := n.hooks()
	w := &sealWriter{n: n, ctx: ctx, j: j, f: dst, hook: hook, it: it, chunk: int64(key.ChunkSize)}
	got, err := key.SealStream(w, io.LimitReader(r, it.Size))
	if err == nil {
		err = ctx.Err() // cancelled after the last write: not whole for us
	}
	if err == nil {
		after, aerr := statSource(it.Path)
		if got != it.Size || statErr != nil || aerr != nil || after != before {
			err = fmt.Errorf("node: seal: the file changed while sealing: %w", ErrBadArgument)
		}
	}
	if err == nil {
		// The record is about to say the copy is whole: make it durable.
		err = n.syncPart(dst)
	}
	if err != nil {
		return fmt.Errorf("node: seal: %w", err)
	}
	return n.updateOut(it.ID, func(o *outItem) { o.Sealing = false })
}

// fileStamp is what tells that a file changed: size and modification time.
type fileStamp struct {
	size  int64
	mtime int64
}

// statSource stamps the file at path ("" for bytes: a zero stamp).
func statSource(path string) (fileStamp, error) {
	if path == "" {
		return fileStamp{}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{st.Size(), st.ModTime().UnixNano()}, nil
}

// hashBufs are hashSource's read buffers: 256 KiB, pooled (a fresh 1 MiB
// buffer per item was most of what sharing a photo allocated).
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// hashSource reads the content once for its SHA-256 and size.
func hashSource(ctx context.Context, src source) ([]byte, int64, error) {
	r, err := src()
	if err != nil {
		return nil, 0, fmt.Errorf("node: seal: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	bp := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(bp)
	buf := *bp
	var size int64
	for {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		m, err := r.Read(buf)
		h.Write(buf[:m])
		size += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("node: seal: read: %w", err)
		}
		if size > MaxItemSize {
			return nil, 0, ErrTooLarge
		}
	}
	return h.Sum(nil), size, nil
}

// sealWriter receives SealStream's chunks (one Write each), writes them to
// the pending copy and tells waiting deliveries.
type sealWriter struct {
	n      *Node
	ctx    context.Context
	j      *sealJob
	f      *os.File
	it     *outItem
	chunk  int64
	chunks int64
	prog   progress
	hook   func(context.Context, string, int64)
}

func (w *sealWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	m, err := w.f.Write(p)
	if err != nil {
		return m, err
	}
	w.chunks++
	w.j.advance(w.chunks)
	if w.hook != nil {
		w.hook(w.ctx, w.it.ID, w.chunks)
	}
	done := min(w.chunks*w.chunk, w.it.Size)
	if w.prog.step(done, done == w.it.Size) {
		w.n.emit(&Event{Kind: EventSealing, ItemID: w.it.ID, Type: w.it.Type, Done: done, Total: w.it.Size})
	}
	return m, nil
}

// updateOut changes an outbox record in one transaction.
func (n *Node) updateOut(id string, fn func(*outItem)) error {
	return n.store.Update(func(tx *localstore.Tx) error {
		b, err := tx.Get(localstore.Outbox, id)
		if err != nil {
			return ErrUnknownItem
		}
		it, err := decodeOut(b)
		if err != nil {
			return err
		}
		fn(it)
		return tx.Put(localstore.Outbox, id, encodeOut(it))
	})
}

// failItem ends an outgoing item for every recipient still waiting, with
// reason, and drops it.
func (n *Node) failItem(id, reason string) {
	var it *outItem
	_ = n.store.Update(func(tx *localstore.Tx) error {
		b, err := tx.Get(localstore.Outbox, id)
		if err != nil {
			return err
		}
		if it, err = decodeOut(b); err != nil {
			return err
		}
		return tx.Delete(localstore.Outbox, id)
	})
	n.endItem(id)
	if it == nil {
		return
	}
	if it.Sealed != "" {
		os.Remove(it.Sealed)
	}
	for f, r := range it.To {
		if r.State == rPending || r.State == rPosted {
			n.emit(&Event{Kind: EventDeliveryFailed, FriendID: f, ItemID: id, Type: it.Type, Err: reason})
		}
	}
}

// CancelItem stops an outgoing photo, video, message or like: sealing and
// transfers in flight stop, the pending copy is deleted, and every
// recipient that has not sent a receipt gets EventDeliveryFailed with Err
// FailCancelled. Items already at a relay stay there until they expire
// (the friend may still receive them; its receipt is then ignored). It
// blocks for one store commit and until the item's goroutines have seen
// the cancel (milliseconds). ErrUnknownItem if id is not in the outbox;
// for an offer received, use Reject.
func (n *Node) CancelItem(id string) error {
	if _, err := n.getOut(id); err != nil {
		return err
	}
	n.endItem(id)
	if j := n.sealJobOf(id); j != nil {
		<-j.done // the job stops writing before its file is removed
	}
	n.failItem(id, FailCancelled)
	return nil
}

// resumeSealing restarts the sealing of items a previous run left
// unsealed (a crash or Close in the middle); content shared as bytes is
// gone and those items fail with FailSource.
func (n *Node) resumeSealing() {
	var its []*outItem
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		if it, err := decodeOut(v); err == nil && it.Sealing {
			its = append(its, it)
		}
		return nil
	})
	for _, it := range its {
		if n.sealJobOf(it.ID) != nil {
			continue
		}
		if it.Path == "" {
			n.failItem(it.ID, FailSource)
			continue
		}
		path := it.Path
		n.startSealing(it, func() (io.ReadCloser, error) { return os.Open(path) })
	}
}
