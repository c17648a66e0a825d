package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

func sampleFrame() *pb.PeerFrame {
	return &pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: pattern(ItemIDSize, 1), Index: 7, Data: pattern(1000, 3)}}}
}

func TestRoundTripReaderWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	want := sampleFrame()
	for range 3 {
		if err := w.WriteMsg(want); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteMsg(&buf, want); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf, MaxShareFrame)
	for i := range 4 {
		var got pb.PeerFrame
		if err := ReadPeerFrame(r, &got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !proto.Equal(&got, want) {
			t.Fatalf("frame %d differs", i)
		}
	}
	var m pb.PeerFrame
	if err := r.ReadMsg(&m); err != io.EOF {
		t.Fatalf("after last frame: %v, want io.EOF", err)
	}
}

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	calls int
}

func (c *countingWriter) Write(p []byte) (int, error) { c.calls++; return c.Buffer.Write(p) }

func TestOneWritePerFrame(t *testing.T) {
	var cw countingWriter
	big := &pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: pattern(16, 0), Data: pattern(ChunkSize, 0)}}}
	if err := WriteMsg(&cw, big); err != nil {
		t.Fatal(err)
	}
	if err := NewWriter(&cw).WriteMsg(big); err != nil {
		t.Fatal(err)
	}
	if cw.calls != 2 {
		t.Fatalf("%d Write calls for 2 frames", cw.calls)
	}
}

func TestReadMsgEOF(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMsg(&buf, sampleFrame()); err != nil {
		t.Fatal(err)
	}
	frame := buf.Bytes()
	for _, useReader := range []bool{false, true} {
		read := func(b []byte) error {
			var m pb.PeerFrame
			if useReader {
				return NewReader(bytes.NewReader(b), MaxShareFrame).ReadMsg(&m)
			}
			return ReadMsg(bytes.NewReader(b), &m, MaxShareFrame)
		}
		if err := read(nil); err != io.EOF {
			t.Errorf("empty stream: %v, want io.EOF", err)
		}
		for _, cut := range []int{1, 2, len(frame) / 2, len(frame) - 1} {
			if err := read(frame[:cut]); err != io.ErrUnexpectedEOF {
				t.Errorf("reader=%v cut at %d: %v, want io.ErrUnexpectedEOF", useReader, cut, err)
			}
		}
	}
}

// guardReader serves a header then fails the test if more is read.
type guardReader struct {
	t      *testing.T
	header []byte
}

func (g *guardReader) Read(p []byte) (int, error) {
	if len(g.header) == 0 {
		g.t.Fatal("read past the length prefix of an oversized frame")
	}
	n := copy(p, g.header)
	g.header = g.header[n:]
	return n, nil
}

func TestReadMsgRejectsBeforeAllocating(t *testing.T) {
	// A 10-byte varint announcing ~2^63 bytes.
	header := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	var m pb.PeerFrame
	err := ReadMsg(&guardReader{t: t, header: header}, &m, MaxShareFrame)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	one := binary.AppendUvarint(nil, MaxShareFrame+1)
	allocs := testing.AllocsPerRun(50, func() {
		_ = ReadMsg(bytes.NewReader(one), &m, MaxShareFrame)
	})
	// The error value and its detail string; never the 66 KiB body.
	if allocs > 8 {
		t.Fatalf("%v allocations rejecting an oversized frame", allocs)
	}
	if err := ReadMsg(bytes.NewReader(one), &m, MaxShareFrame); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one over cap: %v", err)
	}
	if err := NewReader(bytes.NewReader(one), MaxShareFrame).ReadMsg(&m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Reader, one over cap: %v", err)
	}
}

func TestReadMsgBadVarint(t *testing.T) {
	cases := map[string][]byte{
		"non-minimal": {0x80, 0x00},
		"overflow":    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		"11 bytes":    {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
	}
	for name, b := range cases {
		var m pb.PeerFrame
		if err := ReadMsg(bytes.NewReader(b), &m, 1<<62); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		}
	}
}

func TestReadMsgMalformedBody(t *testing.T) {
	var m pb.PeerFrame
	err := ReadMsg(bytes.NewReader([]byte{2, 0x0a, 0x05}), &m, 100)
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("got %v, want ErrBadRequest", err)
	}
}

// TestReadMsgNoReadAhead proves the unbuffered ReadMsg leaves the next
// frame in the stream for whoever reads it next.
func TestReadMsgNoReadAhead(t *testing.T) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, sampleFrame())
	_ = WriteMsg(&buf, sampleFrame())
	r := struct{ io.Reader }{&buf} // hides io.ByteReader
	var m pb.PeerFrame
	for i := range 2 {
		if err := ReadMsg(r, &m, MaxShareFrame); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
}

func TestReaderCapIsMinimum(t *testing.T) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, sampleFrame()) // ~1 KiB
	var m pb.PeerFrame
	if err := ReadPeerFrame(NewReader(&buf, 100), &m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Reader cap 100: %v, want ErrTooLarge", err)
	}
}

func TestUnknownFieldsDropped(t *testing.T) {
	// PeerFrame{resume{item_id}} followed by unknown field 99 (varint 1).
	body, _ := marshalOpts.Marshal(&pb.PeerFrame{Body: &pb.PeerFrame_Resume{Resume: &pb.Resume{ItemId: pattern(16, 0)}}})
	body = append(body, 0x98, 0x06, 0x01)
	frame := append([]byte{byte(len(body))}, body...)
	var m pb.PeerFrame
	if err := ReadPeerFrame(bytes.NewReader(frame), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.ProtoReflect().GetUnknown()) != 0 {
		t.Fatal("unknown field kept")
	}
}

func TestReaderSteadyStateAllocs(t *testing.T) {
	var one bytes.Buffer
	want := sampleFrame()
	_ = WriteMsg(&one, want)
	frame := one.Bytes()
	src := &repeatReader{frame: frame}
	r := NewReader(src, MaxShareFrame)
	var m pb.PeerFrame
	_ = r.ReadMsg(&m)
	allocs := testing.AllocsPerRun(100, func() {
		if err := r.ReadMsg(&m); err != nil {
			t.Fatal(err)
		}
	})
	// Unmarshal allocates the message's sub-objects and bytes fields (3);
	// the frame buffer itself is reused.
	if allocs > 4 {
		t.Fatalf("%v allocations per frame", allocs)
	}
	w := NewWriter(io.Discard)
	_ = w.WriteMsg(want)
	if a := testing.AllocsPerRun(100, func() { _ = w.WriteMsg(want) }); a != 0 {
		t.Fatalf("Writer: %v allocations per frame", a)
	}
}

// repeatReader returns the same frame forever.
type repeatReader struct {
	frame []byte
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.frame[r.off:])
		n += c
		r.off = (r.off + c) % len(r.frame)
	}
	return n, nil
}

// TestStalledFrameAllocatesLittle: a peer that announces a frame at the cap
// and sends only a few bytes must not make the reader allocate the whole
// frame.
func TestStalledFrameAllocatesLittle(t *testing.T) {
	stalled := append(binary.AppendUvarint(nil, MaxMailboxResponse), pattern(100, 0)...)
	var m pb.MailboxResponse
	const rounds = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		if err := ReadMsg(bytes.NewReader(stalled), &m, MaxMailboxResponse); err != io.ErrUnexpectedEOF {
			t.Fatal(err)
		}
		if err := NewReader(bytes.NewReader(stalled), MaxMailboxResponse).ReadMsg(&m); err != io.ErrUnexpectedEOF {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perRead := (after.TotalAlloc - before.TotalAlloc) / (2 * rounds)
	if perRead > 4*AllocStep {
		t.Fatalf("%d bytes allocated per stalled %d-byte frame", perRead, MaxMailboxResponse)
	}
}
