package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"
)

// Frame layout (every stream protocol; gossip messages are bare protobuf):
//
//	+------------------------------+--------------------------------+
//	| length: uvarint, 1–10 bytes, | body: length bytes of protobuf |
//	| minimal encoding             | (proto3, deterministic)        |
//	+------------------------------+--------------------------------+
//
// The length counts the body only. A reader rejects a length above the
// stream's cap before allocating and rejects non-minimal varints, so every
// frame has exactly one encoding of its length.

var (
	unmarshalOpts = proto.UnmarshalOptions{
		// Unknown fields are dropped so /1 can grow optional fields and so
		// nothing a relay does not understand is stored or forwarded.
		DiscardUnknown: true,
		// Our messages nest at most four deep. Scan enforces the same
		// limit on unknown groups, which this option does not reach.
		RecursionLimit: MaxNesting,
	}
	marshalOpts = proto.MarshalOptions{Deterministic: true, UseCachedSize: true}
)

// ReaderBufferSize is the read-ahead buffer of a Reader: 2 KiB. Small frames
// are read with one read call; larger bodies bypass it.
const ReaderBufferSize = 2 << 10

// RetainLimit is the largest frame buffer a Reader or Writer keeps between
// frames: MaxShareFrame (66 KiB), so share streams reuse one buffer for
// every chunk. Larger frames use a buffer that is dropped afterwards, so an
// idle stream never pins a megabyte.
const RetainLimit = MaxShareFrame

// WriteMsg writes m as one frame (uvarint length, then the protobuf body)
// with a single Write call. It does not validate m; callers Validate what
// they send.
func WriteMsg(w io.Writer, m proto.Message) error {
	bp := writeBufs.Get().(*[]byte)
	buf, err := appendFrame((*bp)[:0], m)
	if err == nil {
		_, err = w.Write(buf)
	}
	if cap(buf) <= RetainLimit {
		*bp = buf[:0]
		writeBufs.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("protocol: write frame: %w", err)
	}
	return nil
}

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendFrame appends the frame of m to buf.
func appendFrame(buf []byte, m proto.Message) ([]byte, error) {
	n := marshalOpts.Size(m)
	if need := len(buf) + MaxVarintLen + n; cap(buf) < need {
		// Grow once, doubling but never past RetainLimit for a frame
		// that fits it, so the buffer is kept for the next frame: growing
		// by append rounded a sealed chunk's frame (65,552 data bytes)
		// past RetainLimit, and every such frame allocated 88 KiB.
		c := need
		if need <= RetainLimit {
			c = min(RetainLimit, max(need, 2*cap(buf)))
		}
		nb := make([]byte, len(buf), c)
		copy(nb, buf)
		buf = nb
	}
	buf = binary.AppendUvarint(buf, uint64(n))
	start := len(buf)
	buf, err := marshalOpts.MarshalAppend(buf, m)
	if err != nil {
		return buf, err
	}
	if len(buf)-start != n {
		return buf, errors.New("protocol: message changed while being encoded")
	}
	return buf, nil
}

// ReadMsg reads one frame from r into m (which is reset first, and left
// reset when the body is malformed). It returns
// io.EOF only when r ends cleanly before the first byte of a frame and
// io.ErrUnexpectedEOF when it ends inside one. A length above max gives an
// error matching ErrTooLarge before any body byte is read or allocated;
// after it the stream is out of step and must be reset. A malformed length
// or body gives an error matching ErrBadRequest. Unknown fields are
// dropped. ReadMsg does not validate m: use the Read<Type> helpers or the
// Validate functions.
//
// Without buffering ReadMsg reads the length one byte at a time so that it
// never consumes bytes of the next frame; long-lived streams should use a
// Reader, which ReadMsg uses when r is one.
func ReadMsg(r io.Reader, m proto.Message, max int) error {
	var body []byte
	var err error
	if fr, ok := r.(*Reader); ok {
		// A large frame's reservation covers its decoding too.
		defer fr.releaseBig()
		body, err = fr.readFrame(max)
	} else {
		body, err = readFrame(r, max)
	}
	if err != nil {
		return err
	}
	return unmarshal(body, m)
}

// readFrame reads one frame body from an unbuffered reader into a fresh
// buffer.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = &oneByteReader{r: r}
	}
	n, err := readLength(br, limit)
	if err != nil {
		return nil, err
	}
	return readBody(r, make([]byte, 0, min(n, AllocStep)), n)
}

// AllocStep is the most a reader allocates for a frame body ahead of the
// bytes that have arrived: 64 KiB. A body buffer starts at this size and
// doubles as data comes in, so a peer that announces a 4 MiB frame and then
// stalls pins 64 KiB, not 4 MiB.
const AllocStep = 64 << 10

// readBody reads n bytes into buf (len 0), growing it only as data arrives.
func readBody(r io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), AllocStep), n-len(buf)))
		}
		k, err := io.ReadFull(r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, bodyErr(err)
		}
	}
	return buf, nil
}

// readBodyAccounted is readBody for a large frame whose buffer growth is
// reserved with acct first; *held tracks what is reserved.
func readBodyAccounted(r io.Reader, n int, acct Account, held *int) ([]byte, error) {
	var buf []byte
	for len(buf) < n {
		if len(buf) == cap(buf) {
			// Reserved: the new array's growth. The old array is garbage
			// once copied.
			grow := min(max(cap(buf), AllocStep), n-len(buf))
			if err := acct.Reserve(grow); err != nil {
				return nil, err
			}
			*held += grow
			nb := make([]byte, len(buf), len(buf)+grow)
			copy(nb, buf)
			buf = nb
		}
		k, err := io.ReadFull(r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, bodyErr(err)
		}
	}
	return buf, nil
}

// Reader reads frames from one long-lived stream, reusing its buffers so
// that steady traffic does not allocate per frame. It reads ahead, so once
// a stream has a Reader all reads must go through it. A Reader is not safe
// for concurrent use.
type Reader struct {
	br   *bufio.Reader
	max  int
	buf  []byte // retained body buffer, cap ≤ RetainLimit
	caps *BodyCaps
	acct Account
	held int // bytes reserved with acct for buf
	big  int // bytes reserved with acct for the current large frame
}

// Account is a memory accountant a Reader reserves body buffers with before
// allocating them. Reserve returns an error (typically UNAVAILABLE) when
// the budget is spent; the frame is then refused and the stream is out of
// step.
type Account interface {
	Reserve(n int) error
	Release(n int)
}

// SetBodyCaps makes the Reader cap each frame by the body it carries (see
// BodyCaps), checked before the body is read.
func (r *Reader) SetBodyCaps(c *BodyCaps) { r.caps = c }

// SetAccount makes the Reader reserve every body buffer with a before
// allocating it. Call Release when the stream ends.
func (r *Reader) SetAccount(a Account) { r.acct = a }

// WaitFrame blocks until the first byte of the next frame has arrived (or
// the stream ends or its read deadline passes), so a caller can give the
// idle wait and the frame itself separate deadlines.
func (r *Reader) WaitFrame() error {
	_, err := r.br.Peek(1)
	return err
}

// ReadFrameFunc reads one frame and calls fn with its body, which is valid
// only during the call. A large frame's buffer (and its reservation) is
// dropped when fn returns.
func (r *Reader) ReadFrameFunc(fn func(body []byte) error) error {
	body, err := r.readFrameCap(r.max)
	defer r.releaseBig()
	if err != nil {
		return err
	}
	return fn(body)
}

// Unmarshal decodes a body as ReadMsg does (pre-scan, then protobuf).
func Unmarshal(body []byte, m proto.Message) error { return unmarshal(body, m) }

func (r *Reader) releaseBig() {
	if r.big > 0 {
		r.acct.Release(r.big)
		r.big = 0
	}
}

// NewReader returns a Reader over r whose frames are capped at max bytes.
// The Read<Type> helpers use the smaller of max and their type's cap; a
// max ≤ 0 leaves the cap to the helper (ReadMsg then rejects every
// non-empty frame).
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, ReaderBufferSize), max: max}
}

// ReadMsg reads one frame into m, capped at the Reader's max. See the
// package-level ReadMsg for the error contract.
func (r *Reader) ReadMsg(m proto.Message) error {
	body, err := r.readFrameCap(r.max)
	defer r.releaseBig()
	if err != nil {
		return err
	}
	return unmarshal(body, m)
}

// Read reads raw bytes through the Reader's buffer. It exists so that a
// *Reader can be passed where an io.Reader is expected (ReadMsg and the
// Read<Type> helpers detect it and use its buffers).
func (r *Reader) Read(p []byte) (int, error) { return r.br.Read(p) }

// Release drops the retained body buffer (and its reservation); call it
// when a stream goes idle for long or ends.
func (r *Reader) Release() {
	r.buf = nil
	if r.held > 0 {
		r.acct.Release(r.held)
		r.held = 0
	}
}

// readFrame reads one frame body with the smaller of limit and the
// Reader's own cap. The body is valid until the next call; the caller
// calls releaseBig once it is done with it.
func (r *Reader) readFrame(limit int) ([]byte, error) {
	if r.max > 0 && r.max < limit {
		limit = r.max
	}
	return r.readFrameCap(limit)
}

func (r *Reader) readFrameCap(limit int) ([]byte, error) {
	n, err := readLength(r.br, limit)
	if err != nil {
		return nil, err
	}
	if r.caps != nil && n > r.caps.Small {
		head, err := r.br.Peek(min(n, HeadLen))
		if err != nil {
			return nil, bodyErr(err)
		}
		if c := r.caps.capFor(head); n > c {
			return nil, errf(tooLarge, "frame length ", strconv.Itoa(n), " exceeds this request type's cap ", strconv.Itoa(c))
		}
	}
	if n > RetainLimit {
		if r.acct == nil {
			return readBody(r.br, nil, n)
		}
		return readBodyAccounted(r.br, n, r.acct, &r.big)
	}
	if cap(r.buf) < n {
		// Grow like append (but bounded by RetainLimit) so a stream whose
		// frames slowly get bigger does not reallocate for each.
		c := max(n, min(2*cap(r.buf), RetainLimit))
		if r.acct != nil {
			if err := r.acct.Reserve(c - r.held); err != nil {
				return nil, err
			}
			r.held = c
		}
		r.buf = make([]byte, 0, c)
	}
	// Unmarshal copies bytes fields, so the buffer is reused for the next
	// frame.
	return readBody(r.br, r.buf[:0], n)
}

// Writer writes frames to one long-lived stream, reusing its encoding
// buffer; each frame is one Write call. A Writer is not safe for concurrent
// use.
type Writer struct {
	w   io.Writer
	buf []byte // retained, cap ≤ RetainLimit
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteMsg writes m as one frame with one Write call. It does not validate m.
func (w *Writer) WriteMsg(m proto.Message) error {
	buf, err := appendFrame(w.buf[:0], m)
	if err == nil {
		_, err = w.w.Write(buf)
	}
	if cap(buf) <= RetainLimit {
		w.buf = buf[:0]
	}
	if err != nil {
		return fmt.Errorf("protocol: write frame: %w", err)
	}
	return nil
}

// readLength reads a minimal uvarint length of at most MaxVarintLen bytes
// and checks it against max.
func readLength(br io.ByteReader, limit int) (int, error) {
	var x uint64
	var s uint
	for i := 0; i < MaxVarintLen; i++ {
		b, err := br.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if b < 0x80 {
			if i > 0 && b == 0 {
				return 0, errf(badRequest, "frame length: non-minimal varint")
			}
			if i == MaxVarintLen-1 && b > 1 {
				return 0, errf(badRequest, "frame length: varint overflows 64 bits")
			}
			x |= uint64(b) << s
			if limit < 0 || x > uint64(limit) {
				return 0, errf(tooLarge, "frame length ", strconv.FormatUint(x, 10), " exceeds cap ", strconv.Itoa(limit))
			}
			return int(x), nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, errf(badRequest, "frame length: varint longer than 10 bytes")
}

func bodyErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func unmarshal(buf []byte, m proto.Message) error {
	proto.Reset(m)
	if _, err := Scan(buf, m.ProtoReflect().Descriptor()); err != nil {
		return err
	}
	if err := unmarshalOpts.Unmarshal(buf, m); err != nil {
		proto.Reset(m) // leave no half-decoded message behind
		return errf(badRequest, "malformed ", string(m.ProtoReflect().Descriptor().Name()))
	}
	return nil
}

// oneByteReader reads single bytes from an io.Reader without reading ahead.
type oneByteReader struct {
	r io.Reader
	b [1]byte
}

func (o *oneByteReader) ReadByte() (byte, error) {
	for range 100 {
		n, err := o.r.Read(o.b[:])
		if n == 1 {
			return o.b[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, io.ErrNoProgress
}
