package relay

import (
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol"
)

// serviceStream is what a service handler needs from a stream. A libp2p
// network.Stream satisfies it; fuzz tests use an in-memory one.
type serviceStream interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// writeChunk is the most one network write carries: 64 KiB. A large
// response (a 4 MiB FetchResult) goes out in chunks, each with its own
// write deadline, so a slow reader that still reads is served and one that
// stopped is cut off after WriteTimeout.
const writeChunk = 64 << 10

// frameWriteTimeouts bounds writing one whole frame: 4 write timeouts.
const frameWriteTimeouts = 4

// writeQueue is the frames one stream may have waiting for its writer: 8.
// Responses wait for room (the request loop stops reading, which is the
// back-pressure a slow reader deserves); pushes wait too, but their
// own queues upstream drop and count.
const writeQueue = 8

// errWriterClosed: the stream's writer stopped (write failure or stream end).
var errWriterClosed = errors.New("relay: stream writer closed")

// frameWriter is the one goroutine that writes a stream, as in tailscale's
// derp server: the request loop and the pusher hand it encoded frames
// through a bounded queue, and no lock is ever held across a network write.
// Every queued frame's buffer is reserved against the memory budget until
// written.
type frameWriter struct {
	s       serviceStream
	timeout time.Duration
	acct    protocol.Account

	q       chan outFrame
	closing chan struct{} // closed by finish: no more frames
	failed  chan struct{} // closed when a write failed
	done    chan struct{} // closed when run returns
	once    sync.Once
}

type outFrame struct {
	buf []byte
}

func newFrameWriter(s serviceStream, timeout time.Duration, acct protocol.Account) *frameWriter {
	fw := &frameWriter{s: s, timeout: timeout, acct: acct, q: make(chan outFrame, writeQueue), closing: make(chan struct{}), failed: make(chan struct{}), done: make(chan struct{})}
	go fw.run()
	return fw
}

// write encodes m and queues it, waiting while the queue is full. It fails
// if the writer has stopped, or (with errMemory) if the budget has no room
// for the encoded frame.
func (fw *frameWriter) write(m proto.Message) error {
	n := proto.Size(m)
	size := n + protowire.SizeVarint(uint64(n))
	if err := fw.acct.Reserve(size); err != nil {
		return err
	}
	buf := make([]byte, 0, size)
	buf = protowire.AppendVarint(buf, uint64(n))
	buf, err := (proto.MarshalOptions{Deterministic: true, UseCachedSize: true}).MarshalAppend(buf, m)
	if err != nil || len(buf) != size {
		fw.acct.Release(size)
		return errors.New("relay: encode frame")
	}
	select {
	case fw.q <- outFrame{buf: buf}:
		select {
		case <-fw.failed:
			// Queued behind a dead writer: finish drains (and releases) it.
			return errWriterClosed
		default:
			return nil
		}
	case <-fw.failed:
	case <-fw.done:
	case <-fw.closing:
	}
	fw.acct.Release(size)
	return errWriterClosed
}

// run writes queued frames until finish is called or a write fails; then
// it releases whatever is still queued.
func (fw *frameWriter) run() {
	defer close(fw.done)
	for {
		select {
		case f := <-fw.q:
			if !fw.send(f) {
				fw.drain()
				return
			}
		case <-fw.closing:
			// Flush what was queued before finish (a final error frame),
			// each frame still under its deadline.
			for {
				select {
				case f := <-fw.q:
					if !fw.send(f) {
						fw.drain()
						return
					}
				default:
					return
				}
			}
		}
	}
}

// send writes one frame in chunks, each within the write timeout, and
// releases its reservation. On failure it unblocks the stream's reader so
// the request loop ends too.
func (fw *frameWriter) send(f outFrame) bool {
	defer fw.acct.Release(cap(f.buf))
	b := f.buf
	// Each chunk gets the write timeout, the whole frame at most
	// frameWriteTimeouts of them, so a reader that trickles cannot pin a
	// large response for long.
	last := time.Now().Add(frameWriteTimeouts * fw.timeout)
	for len(b) > 0 {
		k := min(len(b), writeChunk)
		dl := time.Now().Add(fw.timeout)
		if dl.After(last) {
			dl = last
		}
		_ = fw.s.SetWriteDeadline(dl)
		if _, err := fw.s.Write(b[:k]); err != nil {
			close(fw.failed)
			_ = fw.s.SetReadDeadline(time.Now())
			// A reader that stopped reading loses the stream: a reset also
			// drops what the transport still buffers for it (a clean
			// close would keep that until the peer reads or resets).
			if rs, ok := fw.s.(interface{ Reset() error }); ok {
				_ = rs.Reset()
			}
			return false
		}
		b = b[k:]
	}
	return true
}

func (fw *frameWriter) drain() {
	for {
		select {
		case f := <-fw.q:
			fw.acct.Release(cap(f.buf))
		default:
			return
		}
	}
}

// stop makes the writer take no more frames (blocked writers return) and
// flush what is queued. Idempotent; finish waits for it.
func (fw *frameWriter) stop() { fw.once.Do(func() { close(fw.closing) }) }

// finish stops taking frames, lets the writer flush what is queued (each
// frame under its deadline) and waits for it. Idempotent.
func (fw *frameWriter) finish() {
	fw.stop()
	<-fw.done
	fw.drain() // a frame queued while run was returning
}

// nextFrame waits up to idle for the first byte of the next frame, then
// gives the whole frame readTimeout: a stream may sit idle between frames
// (long, when subscribed or announcing), but a frame once started must
// arrive within read_timeout.
func nextFrame(rd *protocol.Reader, s serviceStream, idle, readTimeout time.Duration) error {
	_ = s.SetReadDeadline(time.Now().Add(idle))
	if err := rd.WaitFrame(); err != nil {
		return err
	}
	return s.SetReadDeadline(time.Now().Add(readTimeout))
}

// frameCost is what reading a frame charges the connection's rate limiter
// before it is decoded: one unit, plus one per 64 KiB.
func frameCost(n int) int { return 1 + n>>16 }
