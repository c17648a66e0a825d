package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

func chunkMsg(id []byte, index uint32, data []byte) *pb.PeerFrame {
	return &pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: id, Index: index, Data: data}}}
}

func testItemID() []byte { return bytes.Repeat([]byte{0xa5}, ItemIDSize) }

// TestAppendChunkFrameHeader: the hand-written header followed by the data
// is byte for byte what WriteMsg writes, at every varint size boundary.
func TestAppendChunkFrameHeader(t *testing.T) {
	id := testItemID()
	for _, index := range []uint32{0, 1, 127, 128, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<32 - 1} {
		for _, n := range []int{1, 2, 100, 101, 127, 128, 16383 - 30, 16384, ChunkSize + 16, MaxSealedChunk} {
			data := bytes.Repeat([]byte{byte(n)}, n)
			var want bytes.Buffer
			if err := WriteMsg(&want, chunkMsg(id, index, data)); err != nil {
				t.Fatal(err)
			}
			got := AppendChunkFrameHeader(nil, id, index, n)
			if len(got) > ChunkFrameHeaderMax {
				t.Fatalf("index %d len %d: header of %d bytes > ChunkFrameHeaderMax", index, n, len(got))
			}
			got = append(got, data...)
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("index %d len %d: header differs from WriteMsg", index, n)
			}
			// And the fast path takes it, aliasing the body.
			_, k := binary.Uvarint(got)
			var c ChunkView
			if !parseChunkFrame(got[k:], &c) {
				t.Fatalf("index %d len %d: fast path refused a canonical frame", index, n)
			}
			if c.Index != index || !bytes.Equal(c.ItemID, id) || &c.Data[0] != &got[len(got)-n] {
				t.Fatalf("index %d len %d: wrong fields or a copy", index, n)
			}
		}
	}
}

// chunkBodies are chunk-frame bodies the fast path must take or leave to
// the generic decoder: canonical ones and near misses of every kind.
func chunkBodies() [][]byte {
	id := testItemID()
	body := func(m proto.Message) []byte { b, _ := marshalOpts.Marshal(m); return b }
	canon := body(chunkMsg(id, 7, []byte("sealed chunk")))
	var out [][]byte
	out = append(out, canon, body(chunkMsg(id, 0, []byte{1})), body(chunkMsg(id, 1<<32-1, make([]byte, MaxSealedChunk))))
	out = append(out,
		body(chunkMsg(id, 7, make([]byte, MaxSealedChunk+1))), // too large
		body(chunkMsg(id, 7, nil)),                            // empty data
		body(chunkMsg(id[:15], 7, []byte("x"))),               // short ID
		body(chunkMsg(nil, 7, []byte("x"))),                   // no ID
		append(append([]byte(nil), canon...), 0x28, 0x01),     // trailing unknown field in the frame
	)
	inner := func(parts ...[]byte) []byte {
		c := bytes.Join(parts, nil)
		return append(binary.AppendUvarint([]byte{0x22}, uint64(len(c))), c...)
	}
	idf := append([]byte{0x0a, 0x10}, id...)
	data := []byte{0x1a, 0x03, 1, 2, 3}
	out = append(out,
		inner(idf, []byte{0x10, 0x00}, data),                         // explicit index 0
		inner(idf, []byte{0x10, 0x85, 0x00}, data),                   // non-minimal index
		inner(idf, []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x10}, data), // index ≥ 2^32 (protobuf truncates)
		inner(data, idf),                              // other field order
		inner(idf, idf, data),                         // repeated ID
		inner(idf, data, data),                        // repeated data
		inner(idf, data, []byte{0x20, 0x01}),          // unknown field
		inner(idf, []byte{0x1a, 0x83, 0x00, 1, 2, 3}), // non-minimal data length
		inner(idf, []byte{0x1a, 0x04, 1, 2, 3}),       // data length beyond the body
		inner(idf, []byte{0x1a, 0x02, 1, 2, 3}),       // data length short of the body
		append([]byte{0x22, 0x80 | byte(len(idf)+5), 0x00}, append(idf, data...)...), // non-minimal body length
		append(inner(idf, data), inner(idf, data)...),                                // two bodies
	)
	return out
}

// TestDecodePeerFrameAgrees runs the near misses through both decoders.
func TestDecodePeerFrameAgrees(t *testing.T) {
	fast := 0
	for i, b := range chunkBodies() {
		var c ChunkView
		if parseChunkFrame(b, &c) {
			fast++
		}
		if msg := agree(b); msg != "" {
			t.Errorf("body %d: %s", i, msg)
		}
	}
	if fast != 4 { // the three canonical bodies and the explicit index 0
		t.Fatalf("fast path took %d bodies, want 4", fast)
	}
}

// agree compares DecodePeerFrame with Unmarshal+ValidatePeerFrame on b:
// same accept/reject (and error), same fields.
func agree(b []byte) string {
	var want pb.PeerFrame
	werr := unmarshal(b, &want)
	if werr == nil {
		werr = ValidatePeerFrame(&want)
	}
	var m pb.PeerFrame
	var c ChunkView
	isChunk, err := DecodePeerFrame(b, &m, &c)
	if (err == nil) != (werr == nil) {
		return "accept/reject differs: fast " + errString(err) + ", generic " + errString(werr)
	}
	if err != nil {
		if err.Error() != werr.Error() {
			return "errors differ: " + err.Error() + " / " + werr.Error()
		}
		return ""
	}
	if wc := want.GetChunk(); wc != nil {
		if !isChunk || !bytes.Equal(c.ItemID, wc.ItemId) || c.Index != wc.Index || !bytes.Equal(c.Data, wc.Data) {
			return "chunk fields differ"
		}
		return ""
	}
	if isChunk || !proto.Equal(&m, &want) {
		return "non-chunk frame differs"
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// FuzzDecodePeerFrame proves the zero-copy chunk path and the generic
// decoder agree on every input: same accept/reject, same error, same
// fields.
func FuzzDecodePeerFrame(f *testing.F) {
	seedVectors(f, "imigee.v1.PeerFrame", false)
	for _, b := range chunkBodies() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if msg := agree(b); msg != "" {
			t.Fatal(msg)
		}
	})
}

// TestReadFrameInto: bodies land in the caller's buffer when they fit,
// frames are read in step, and the caps hold.
func TestReadFrameInto(t *testing.T) {
	var stream bytes.Buffer
	small := chunkMsg(testItemID(), 3, []byte("abc"))
	big := chunkMsg(testItemID(), 4, make([]byte, MaxSealedChunk))
	for _, m := range []proto.Message{small, big, small} {
		if err := WriteMsg(&stream, m); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&stream, MaxShareFrame)
	buf := make([]byte, 0, 256)
	for i, want := range []*pb.PeerFrame{small, big, small} {
		b, err := r.ReadFrameInto(buf)
		if err != nil {
			t.Fatal(err)
		}
		if fits := len(b) <= cap(buf); fits != (&b[:1][0] == &buf[:1][0]) {
			t.Fatalf("frame %d: buffer use wrong (fits %v)", i, fits)
		}
		var m pb.PeerFrame
		var c ChunkView
		if ok, err := DecodePeerFrame(b, &m, &c); !ok || err != nil || c.Index != want.GetChunk().Index {
			t.Fatalf("frame %d: %v %v", i, ok, err)
		}
	}
	// The cap is checked before the body is read.
	var over bytes.Buffer
	_ = WriteMsg(&over, chunkMsg(testItemID(), 1, make([]byte, 200)))
	r = NewReader(bufio.NewReader(&over), 100)
	if _, err := r.ReadFrameInto(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}

// BenchmarkChunkFrames reads and writes 64 KiB chunk frames both ways in
// one run: generic (ReadMsg into a PeerFrame and ValidatePeerFrame;
// WriteMsg) against zero-copy (ReadFrameInto and DecodePeerFrame;
// AppendChunkFrameHeader and the data appended). B/op and allocs/op are
// per frame.
func BenchmarkChunkFrames(b *testing.B) {
	id := testItemID()
	data := make([]byte, ChunkSize+16)
	var frame bytes.Buffer
	if err := WriteMsg(&frame, chunkMsg(id, 1234, data)); err != nil {
		b.Fatal(err)
	}
	const n = 64
	stream := bytes.Repeat(frame.Bytes(), n)
	b.Run("read/generic", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var m pb.PeerFrame
		for i := 0; i < b.N; i += n {
			r := NewReader(bytes.NewReader(stream), MaxShareFrame)
			for k := 0; k < n; k++ {
				if err := r.ReadMsg(&m); err != nil {
					b.Fatal(err)
				}
				if err := ValidatePeerFrame(&m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("read/zerocopy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var m pb.PeerFrame
		var c ChunkView
		buf := make([]byte, MaxShareFrame)
		for i := 0; i < b.N; i += n {
			r := NewReader(bytes.NewReader(stream), MaxShareFrame)
			for k := 0; k < n; k++ {
				body, err := r.ReadFrameInto(buf)
				if err != nil {
					b.Fatal(err)
				}
				if ok, err := DecodePeerFrame(body, &m, &c); !ok || err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("write/generic", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		w := NewWriter(io.Discard)
		for i := 0; i < b.N; i++ {
			if err := w.WriteMsg(chunkMsg(id, uint32(i), data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write/zerocopy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		buf := make([]byte, 0, MaxShareFrame)
		for i := 0; i < b.N; i++ {
			// The node reads the data from its file into place; here it
			// is copied, as the file read would.
			buf = AppendChunkFrameHeader(buf[:0], id, uint32(i), len(data))
			buf = append(buf, data...)
			if _, err := io.Discard.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestWriterKeepsSealedChunkBuffer: a Writer (and WriteMsg's pool) keeps
// its buffer for frames up to RetainLimit, including a sealed chunk's
// (ChunkSize+16 data bytes), whose buffer append used to round past
// RetainLimit so that every frame allocated ~88 KiB.
func TestWriterKeepsSealedChunkBuffer(t *testing.T) {
	m := chunkMsg(testItemID(), 9, make([]byte, ChunkSize+16))
	w := NewWriter(io.Discard)
	_ = w.WriteMsg(m)
	if a := testing.AllocsPerRun(50, func() { _ = w.WriteMsg(m) }); a != 0 {
		t.Fatalf("Writer: %v allocations per sealed-chunk frame", a)
	}
	// The largest valid chunk frame is kept as well.
	big := chunkMsg(testItemID(), 1<<32-1, make([]byte, MaxSealedChunk))
	_ = w.WriteMsg(big)
	if a := testing.AllocsPerRun(50, func() { _ = w.WriteMsg(big) }); a != 0 {
		t.Fatalf("Writer: %v allocations per largest chunk frame", a)
	}
}
