package node

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// partWriter is the receiving worker of one transfer: it opens chunks and
// writes their plaintext into the part file, and reports progress.
// Durability runs beside it on a flusher goroutine, so a slow disk never
// stalls opening: every persistEvery chunks the flusher syncs the file and
// stores the resume point. It owns r while it runs.
//
// Where the platform and file system allow (Linux, directwrite.go),
// chunks open into aligned 1 MiB runs that the flusher writes with
// O_DIRECT while later chunks arrive, so the final fdatasync finds little
// to do. Elsewhere the plaintext goes through the page cache in runs of
// up to writeRun bytes (contiguous small chunks share one write call).
//
// Through the page cache, starting the disk writes of each finished MiB early (sync_file_range)
// was tried so that the final sync would be short: on the test machine's
// ext4 it made a 64 MiB transfer twice as slow (1.3–1.7 s against
// 0.63–0.68 s) and changed nothing measurable at 8 MiB, so the kernel's
// own writeback and one fdatasync at the end do it. Nudging the flusher
// to fdatasync every 1, 2 or 4 MiB written (never waiting for it) was
// tried in December: the final sync of an 8 MiB item fell from ≈ 4.3 ms
// to ≈ 0.1 ms, but the data phase grew by as much (the kernel's writeback
// ran on the two cores the QUIC ends and the opening already fill), so
// BenchmarkTransfer8MiB did not move (share/rawfile 0.81–0.88 against
// 0.87–0.91, alternating runs).
type partWriter struct {
	n     *Node
	r     *inRec
	f     *os.File
	key   *crypto.StreamKey
	total int64

	// inPlace: each chunk fills a run on its own and opens over its frame
	// buffer (OpenChunkExact in place), so plain is never used.
	inPlace bool
	plain   []byte // the current run of contiguous plaintext
	start   int64  // offset of plain in the file
	next    int64  // chunk index that would extend the run
	prog    progress
	dirty   int // chunks since the last resume point handed to the flusher

	fl *flusher

	// Direct mode (directwrite.go): df is the part file opened O_DIRECT;
	// chunks open into run, an aligned buffer from free, which the
	// flusher writes at runOff and hands back.
	df      *os.File
	free    chan *[]byte
	run     *[]byte
	runLen  int
	runOff  int64
	runNext int64
	runMax  int // bytes this run takes before it is written
}

// writeRun is the largest run of plaintext written with one call: 64 KiB,
// one default chunk. Runs of 1 MiB (fewer calls) measured worse: on a
// 256 MiB item the process used 2.5 s of CPU against 1.55–1.85 s with
// 64 KiB writes (256 KiB: 1.8–1.9 s), the kernel's copy of a run no longer
// finding the just-opened plaintext in cache.
const writeRun = 64 << 10

func newPartWriter(n *Node, r *inRec, f *os.File, key *crypto.StreamKey) *partWriter {
	w := &partWriter{n: n, r: r, f: f, key: key, total: key.ChunkCount(r.Meta.Size), next: -1,
		prog: progress{last: r.Count * int64(key.ChunkSize)}}
	w.fl = startFlusher(n, f)
	if !n.cfg.NoSync && !n.noDirect && directOK(int64(key.ChunkSize)) {
		if df, err := openDirect(f.Name()); err == nil {
			w.df, w.fl.df = df, df
			w.free = make(chan *[]byte, directBufsPerTransfer)
			for range directBufsPerTransfer {
				w.free <- getDirectBuf()
			}
			return w
		}
	}
	w.inPlace = int(key.ChunkSize) >= writeRun && key.InPlace()
	if !w.inPlace {
		w.plain = make([]byte, 0, max(writeRun, int(key.ChunkSize)))
	}
	return w
}

// chunk opens sealed chunk i (the caller's buffer, which it may
// overwrite) and adds it to the part file. The receiver knows the item's
// length, so each chunk is opened once with its last flag
// (OpenChunkExact). In direct mode chunks open into the current aligned
// run, which the flusher writes once full (or when the next chunk does
// not extend it). Otherwise chunks of a run's size open in place and are written
// straight from the frame buffer; smaller ones (and version-1 keys, whose
// secretbox forbids overlap) gather in the run buffer.
func (w *partWriter) chunk(i int64, sealed []byte) error {
	if err := w.fl.failed(); err != nil {
		return err
	}
	cs := int64(w.key.ChunkSize)
	last := i == w.total-1
	if w.df != nil {
		if w.run == nil || i != w.runNext || w.runLen+int(cs) > w.runMax {
			w.submit()
			w.run, w.runLen, w.runOff = <-w.free, 0, i*cs
			// The item's last MiB goes in quarter runs: the write after
			// the last chunk is what the receipt waits for.
			w.runMax = directRun
			if (w.total-i)*cs <= directRun {
				w.runMax = directRun / 4
			}
		}
		p, err := w.key.OpenChunkExact((*w.run)[w.runLen:w.runLen], uint32(i), last, sealed)
		if err != nil {
			return fmt.Errorf("node: chunk does not open: %w", ErrPeer)
		}
		w.runLen += len(p)
		w.runNext = i + 1
	} else if w.inPlace {
		// A chunk that fills a run on its own (the default 64 KiB) opens
		// over its own frame buffer and is written from there: no copy.
		p, err := w.key.OpenChunkExact(sealed[:0], uint32(i), last, sealed)
		if err != nil {
			return fmt.Errorf("node: chunk does not open: %w", ErrPeer)
		}
		if _, err := w.f.WriteAt(p, i*cs); err != nil {
			return fmt.Errorf("node: part file: %w", err)
		}
	} else {
		if i != w.next || len(w.plain)+int(cs) > cap(w.plain) {
			if err := w.flush(); err != nil {
				return err
			}
			w.start = i * cs
		}
		p, err := w.key.OpenChunkExact(w.plain, uint32(i), last, sealed)
		if err != nil {
			return fmt.Errorf("node: chunk does not open: %w", ErrPeer)
		}
		w.plain, w.next = p, i+1
	}
	r := w.r
	r.set(i)
	if r.unsaved {
		// Store the record behind the first chunk (not before it: the
		// commit would compete with its arrival): the receipt goes out
		// before the delivery's commit (recvChunks), so the record must
		// be stored by then for a crash to find the item. No data sync:
		// the resume point stored is the record's, none of the chunks.
		// Later resume points find it stored (the flusher keeps order).
		w.fl.store(r)
		r.unsaved = false
	}
	if w.prog.step(r.Count*cs, r.Count == w.total) {
		w.n.emit(&Event{Kind: EventReceiveProgress, FriendID: r.From, ItemID: r.ID, Type: r.Meta.Type,
			Done: min(r.Count*cs, r.Meta.Size), Total: r.Meta.Size})
	}
	if w.dirty++; w.dirty >= persistEvery && r.Count < w.total {
		w.dirty = 0
		if err := w.flush(); err != nil {
			return err
		}
		w.fl.persist(r)
	}
	return nil
}

// submit hands the current direct run to the flusher to write.
func (w *partWriter) submit() {
	if w.run == nil {
		return
	}
	w.fl.reqs <- flushReq{buf: w.run, n: w.runLen, off: w.runOff, free: w.free}
	w.run = nil
}

// flush writes the current run (direct: hands it to the flusher, whose
// next sync follows the write).
func (w *partWriter) flush() error {
	if w.df != nil {
		w.submit()
		return nil
	}
	if len(w.plain) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.plain, w.start); err != nil {
		return fmt.Errorf("node: part file: %w", err)
	}
	w.plain, w.next = w.plain[:0], -1
	return nil
}

// finish ends the transfer: when whole, the file is made durable (the
// receipt may follow); when cut short, the resume point is kept.
func (w *partWriter) finish(failed error) error {
	defer w.release()
	if failed == nil && w.r.Count == w.total {
		err := w.flush()
		if ferr := w.fl.stop(); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		return w.n.syncPart(w.f)
	}
	if w.dirty > 0 && w.flush() == nil {
		w.fl.persist(w.r) // keep the resume point of a broken transfer
	}
	_ = w.fl.stop()
	return failed
}

// release gives the direct run buffers back once the flusher has ended
// (it hands every buffer it was given back to free).
func (w *partWriter) release() {
	if w.df == nil {
		return
	}
	if w.run != nil {
		w.free <- w.run
		w.run = nil
	}
	for range directBufsPerTransfer {
		putDirectBuf(<-w.free)
	}
	w.df.Close()
}

// flusher is the durability goroutine of one part file, and the writer
// of its direct runs.
type flusher struct {
	n    *Node
	f    *os.File
	df   *os.File // O_DIRECT descriptor of the same file, or nil
	reqs chan flushReq
	done chan struct{}

	mu  sync.Mutex // guards err
	err error      // the first failure (a sync, or a REJECTED record)
}

// flushReq is a resume point to store after a data sync, or (noSync)
// an unsaved record to store as it was before its first chunk.
type flushReq struct {
	rec    *inRec
	noSync bool

	// A direct run instead: n bytes of buf to write at off, then buf goes
	// back to free.
	buf  *[]byte
	n    int
	off  int64
	free chan *[]byte
}

func startFlusher(n *Node, f *os.File) *flusher {
	fl := &flusher{n: n, f: f, reqs: make(chan flushReq, 8), done: make(chan struct{})}
	go fl.run() // ends when stop closes reqs; partWriter.finish always calls stop
	return fl
}

func (fl *flusher) run() {
	defer close(fl.done)
	for q := range fl.reqs {
		if q.buf != nil {
			if fl.failed() == nil {
				if err := fl.writeRun((*q.buf)[:q.n], q.off); err != nil {
					fl.fail(err)
				}
			}
			q.free <- q.buf
			continue
		}
		if fl.failed() != nil {
			continue
		}
		// The sync covers every write before it, so the snapshot taken
		// before it is durable once it returns.
		var err error
		if !q.noSync {
			err = fl.n.syncPart(fl.f)
		}
		if err == nil {
			err = fl.n.mergeIn(q.rec)
		}
		if err == nil && q.rec.State == StateRejected {
			err = &proto.Error{Code: pb.ErrorCode_REJECTED, Detail: "rejected"}
		}
		if err != nil {
			fl.fail(err)
		}
	}
}

func (fl *flusher) fail(err error) {
	fl.mu.Lock()
	if fl.err == nil {
		fl.err = err
	}
	fl.mu.Unlock()
}

// writeRun writes a direct run: its aligned part with O_DIRECT, the rest
// (the end of the item's last chunk) through the page cache. A file
// system that refuses direct writes (EINVAL) gets this run and every
// later one through the page cache.
func (fl *flusher) writeRun(b []byte, off int64) error {
	al := len(b) &^ (directAlign - 1)
	if fl.df != nil && al > 0 {
		directSem <- struct{}{}
		_, err := fl.df.WriteAt(b[:al], off)
		<-directSem
		if err == nil {
			b, off = b[al:], off+int64(al)
		} else if errors.Is(err, syscall.EINVAL) {
			fl.df = nil
		} else {
			return fmt.Errorf("node: part file: %w", err)
		}
	}
	if len(b) > 0 {
		if _, err := fl.f.WriteAt(b, off); err != nil {
			return fmt.Errorf("node: part file: %w", err)
		}
	}
	return nil
}

func (fl *flusher) failed() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.err
}

// persist hands over a snapshot of r's resume point (it may wait for the
// flusher to take it: at most 8 requests queue).
func (fl *flusher) persist(r *inRec) {
	snap := *r
	snap.Have = append([]byte(nil), r.Have...)
	fl.reqs <- flushReq{rec: &snap}
}

// store hands over r as it was before any chunk (its state, no resume
// point), to be stored without a data sync.
func (fl *flusher) store(r *inRec) {
	snap := *r
	snap.Have, snap.Count = make([]byte, len(r.Have)), 0
	fl.reqs <- flushReq{rec: &snap, noSync: true}
}

// stop waits for the queued work and returns the first failure.
func (fl *flusher) stop() error {
	close(fl.reqs)
	<-fl.done
	return fl.failed()
}
