package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

// seedVectors adds every vector of type typ (valid and invalid) to f's
// corpus, plus a few truncations and edge frames.
func seedVectors(f *testing.F, typ string, frame bool) {
	for _, nm := range append(validMessages(), invalidMessages()...) {
		if string(nm.msg.ProtoReflect().Descriptor().FullName()) != typ {
			continue
		}
		var b []byte
		if frame {
			var buf bytes.Buffer
			if err := WriteMsg(&buf, nm.msg); err != nil {
				f.Fatal(err)
			}
			b = buf.Bytes()
		} else {
			b, _ = marshalOpts.Marshal(nm.msg)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x00})
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
}

// countReader counts the bytes a decoder consumed.
type countReader struct {
	r *bytes.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// fuzzFramed checks one framed decoder: no panic; it never consumes more
// than a length prefix plus the cap, and nothing past the prefix when the
// declared length exceeds the cap (so the body is never allocated); errors
// are *Error, io.EOF or io.ErrUnexpectedEOF; an accepted message re-encodes
// to a frame that decodes to an equal, valid message.
func fuzzFramed[M proto.Message](f *testing.F, cap int, newM func() M, read func(io.Reader, M) error) {
	seedVectors(f, string(newM().ProtoReflect().Descriptor().FullName()), true)
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := &countReader{r: bytes.NewReader(data)}
		m := newM()
		err := read(cr, m)
		if cr.n > MaxVarintLen+cap {
			t.Fatalf("consumed %d bytes with cap %d", cr.n, cap)
		}
		if n, k := readUvarintForTest(data); k > 0 && n > uint64(cap) {
			if !errors.Is(err, ErrTooLarge) || cr.n > k {
				t.Fatalf("oversized frame: %v after reading %d body bytes", err, cr.n-k)
			}
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, m); err != nil {
			t.Fatal(err)
		}
		again := newM()
		if err := read(bytes.NewReader(buf.Bytes()), again); err != nil {
			t.Fatalf("re-encoded message rejected: %v", err)
		}
		if !proto.Equal(m, again) {
			t.Fatal("re-decoded message differs")
		}
	})
}

// readUvarintForTest returns the declared length and prefix size of data.
func readUvarintForTest(data []byte) (uint64, int) {
	var x uint64
	for i := 0; i < len(data) && i < MaxVarintLen; i++ {
		x |= uint64(data[i]&0x7f) << (7 * i)
		if data[i] < 0x80 {
			if (i > 0 && data[i] == 0) || (i == MaxVarintLen-1 && data[i] > 1) {
				return 0, 0 // malformed: the reader says ErrBadRequest
			}
			return x, i + 1
		}
	}
	return 0, 0
}

func FuzzMailboxRequest(f *testing.F) {
	fuzzFramed(f, MaxMailboxRequest, func() *pb.MailboxRequest { return &pb.MailboxRequest{} }, func(r io.Reader, m *pb.MailboxRequest) error { return ReadMailboxRequest(r, m) })
}

func FuzzMailboxResponse(f *testing.F) {
	fuzzFramed(f, MaxMailboxResponse, func() *pb.MailboxResponse { return &pb.MailboxResponse{} }, func(r io.Reader, m *pb.MailboxResponse) error { return ReadMailboxResponse(r, m) })
}

func FuzzRendezvousRequest(f *testing.F) {
	fuzzFramed(f, MaxRendezvousRequest, func() *pb.RendezvousRequest { return &pb.RendezvousRequest{} }, func(r io.Reader, m *pb.RendezvousRequest) error { return ReadRendezvousRequest(r, m) })
}

func FuzzRendezvousResponse(f *testing.F) {
	fuzzFramed(f, MaxRendezvousResponse, func() *pb.RendezvousResponse { return &pb.RendezvousResponse{} }, func(r io.Reader, m *pb.RendezvousResponse) error { return ReadRendezvousResponse(r, m) })
}

func FuzzLinkRequest(f *testing.F) {
	fuzzFramed(f, MaxLinkFrame, func() *pb.LinkRequest { return &pb.LinkRequest{} }, func(r io.Reader, m *pb.LinkRequest) error { return ReadLinkRequest(r, m) })
}

func FuzzLinkResponse(f *testing.F) {
	fuzzFramed(f, MaxLinkFrame, func() *pb.LinkResponse { return &pb.LinkResponse{} }, func(r io.Reader, m *pb.LinkResponse) error { return ReadLinkResponse(r, m) })
}

func FuzzPeerFrame(f *testing.F) {
	fuzzFramed(f, MaxShareFrame, func() *pb.PeerFrame { return &pb.PeerFrame{} }, func(r io.Reader, m *pb.PeerFrame) error { return ReadPeerFrame(r, m) })
}

// FuzzGossip checks DecodeGossip on bare pubsub payloads: no panic, and an
// accepted message survives EncodeGossip/DecodeGossip unchanged.
func FuzzGossip(f *testing.F) {
	seedVectors(f, "imigee.v1.RendezvousGossip", false)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.RendezvousGossip
		if err := DecodeGossip(data, &m); err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		b, err := EncodeGossip(&m)
		if err != nil {
			t.Fatalf("accepted gossip does not encode: %v", err)
		}
		var again pb.RendezvousGossip
		if err := DecodeGossip(b, &again); err != nil || !proto.Equal(&m, &again) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzFrame drives the raw frame layer: a Reader reading successive frames
// from one stream under a small cap must agree with the unbuffered ReadMsg
// frame by frame, never return a frame longer than the cap, and stop at the
// first error.
func FuzzFrame(f *testing.F) {
	for _, nm := range validMessages() {
		var buf bytes.Buffer
		_ = WriteMsg(&buf, nm.msg)
		_ = WriteMsg(&buf, nm.msg)
		f.Add(buf.Bytes(), uint16(buf.Len()))
	}
	f.Add([]byte{0x03, 0x08, 0x01, 0x00}, uint16(2))
	f.Add(mustHex("0408011200"), uint16(4))
	f.Fuzz(func(t *testing.T, data []byte, cap uint16) {
		limit := int(cap)
		buffered := NewReader(bytes.NewReader(data), limit)
		plain := struct{ io.Reader }{bytes.NewReader(data)}
		for range 64 {
			a, errA := buffered.readFrameCap(limit)
			b, errB := readFrame(plain, limit)
			if (errA == nil) != (errB == nil) || Code(errA) != Code(errB) {
				t.Fatalf("Reader: %v, readFrame: %v", errA, errB)
			}
			if errA != nil {
				if _, ok := errA.(*Error); !ok && errA != io.EOF && errA != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error %T: %v", errA, errA)
				}
				if errA != errB && Code(errA) == pb.ErrorCode_INTERNAL {
					t.Fatalf("Reader: %v, readFrame: %v", errA, errB)
				}
				return
			}
			if len(a) > limit || !bytes.Equal(a, b) {
				t.Fatalf("frames differ or exceed cap: %d, %d", len(a), len(b))
			}
		}
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzGossipBatch checks DecodeGossipBatch on bare pubsub payloads: no
// panic, only *Error failures, and an accepted batch rebuilt item by item
// (EncodeGossip + AppendGossipItem, as a relay publishes) is the
// deterministic encoding of the batch and decodes to the same batch.
func FuzzGossipBatch(f *testing.F) {
	seedVectors(f, "imigee.v1.RendezvousGossipBatch", false)
	seedVectors(f, "imigee.v1.RendezvousGossip", false)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.RendezvousGossipBatch
		if err := DecodeGossipBatch(data, &m); err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		var b []byte
		for _, it := range m.Items {
			ib, err := EncodeGossip(it)
			if err != nil {
				t.Fatalf("accepted item does not encode: %v", err)
			}
			b = AppendGossipItem(b, ib)
		}
		want, err := marshalOpts.Marshal(&m)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("item-wise encoding differs from Marshal: %v", err)
		}
		var again pb.RendezvousGossipBatch
		if err := DecodeGossipBatch(b, &again); err != nil || !proto.Equal(&m, &again) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzGossipBatchFast proves the hand decoder of gossip batches agrees
// with protobuf: whenever it accepts an input, the generic path (Scan
// and proto.Unmarshal) accepts it too and decodes the same message; and
// DecodeGossipBatch fails exactly when the generic path plus validation
// does. Seeded with every vector and with batches as relays build them.
func FuzzGossipBatchFast(f *testing.F) {
	seedVectors(f, "imigee.v1.RendezvousGossipBatch", false)
	seedVectors(f, "imigee.v1.RendezvousGossip", false)
	for _, b := range fastSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var slow pb.RendezvousGossipBatch
		slowErr := unmarshal(data, &slow)
		if slowErr == nil {
			slowErr = ValidateGossipBatch(&slow)
		}
		if len(data) > MaxGossipMessage {
			return
		}
		var fast pb.RendezvousGossipBatch
		if decodeGossipBatchFast(data, &fast) {
			var again pb.RendezvousGossipBatch
			if err := unmarshal(data, &again); err != nil {
				t.Fatalf("fast path accepted what protobuf refuses: %v", err)
			}
			if !proto.Equal(&fast, &again) {
				t.Fatalf("fast path decoded\n%v\nprotobuf\n%v", &fast, &again)
			}
		}
		var m pb.RendezvousGossipBatch
		if err := DecodeGossipBatch(data, &m); (err == nil) != (slowErr == nil) {
			t.Fatalf("DecodeGossipBatch: %v; generic path: %v", err, slowErr)
		} else if err == nil && !proto.Equal(&m, &slow) {
			t.Fatal("DecodeGossipBatch differs from the generic path")
		}
	})
}

// fastSeeds are batches as relays publish them: live announcements with
// shared records and forget tags, withdraws, late ones and forgets.
func fastSeeds() [][]byte {
	tok := func(b byte, k pb.TokenKind) *pb.Token {
		return &pb.Token{Value: bytes.Repeat([]byte{b}, TokenSize), Kind: k}
	}
	origin := bytes.Repeat([]byte{7}, OriginSize)
	items := []*pb.RendezvousGossip{
		{Origin: origin, Epoch: 2_900_000, EpochSeconds: 600, SharedRecord: []byte("shared"), ForgetTag: bytes.Repeat([]byte{9}, ForgetSecretSize),
			Announcements: []*pb.Announcement{
				{Tokens: []*pb.Token{tok(1, pb.TokenKind_HERE), tok(2, pb.TokenKind_NEAR)}, SealedRecord: []byte("r1")},
				{Tokens: []*pb.Token{tok(3, pb.TokenKind_NEAR)}, SealedRecord: []byte("r2")},
			}},
		{Origin: origin, Withdraw: true},
		{Origin: origin, Epoch: 2_899_990, EpochSeconds: 600, Late: true,
			Announcements: []*pb.Announcement{{Tokens: []*pb.Token{tok(4, pb.TokenKind_HERE)}, SealedRecord: []byte("r3")}}},
		{Origin: origin, Forget: []*pb.ForgetSecret{{Epoch: 2_899_990, Secret: bytes.Repeat([]byte{5}, ForgetSecretSize)}}},
	}
	var out [][]byte
	var all []byte
	for _, it := range items {
		b, err := marshalOpts.Marshal(it)
		if err != nil {
			panic(err)
		}
		out = append(out, AppendGossipItem(nil, b))
		all = AppendGossipItem(all, b)
	}
	return append(out, all)
}

// TestGossipFastPathTaken: batches as relays build them take the fast
// path (or FuzzGossipBatchFast would prove agreement with nothing), and a
// field this version does not know sends a batch to the generic path,
// which drops it.
func TestGossipFastPathTaken(t *testing.T) {
	for i, b := range fastSeeds() {
		var m pb.RendezvousGossipBatch
		if !decodeGossipBatchFast(b, &m) {
			t.Fatalf("seed %d: fast path refused a relay-built batch", i)
		}
		if err := ValidateGossipBatch(&m); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	item, _ := protowire.ConsumeBytes(fastSeeds()[0][1:])
	unknown := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), item...), 15, protowire.BytesType), []byte("new"))
	b := AppendGossipItem(nil, unknown)
	var m pb.RendezvousGossipBatch
	if decodeGossipBatchFast(b, &m) {
		t.Fatal("fast path took an unknown field")
	}
	if err := DecodeGossipBatch(b, &m); err != nil || len(m.Items) != 1 || len(m.Items[0].Announcements) != 2 {
		t.Fatalf("generic path: %v, %v", err, &m)
	}
}

// BenchmarkDecodeGossipBatch decodes a batch of 32 announcements of 4
// friends × 9 tokens, the fast path against protobuf's generic one.
func BenchmarkDecodeGossipBatch(b *testing.B) {
	origin := bytes.Repeat([]byte{7}, OriginSize)
	var data []byte
	for i := range 32 {
		it := &pb.RendezvousGossip{Origin: origin, Epoch: 2_900_000, EpochSeconds: 600, SharedRecord: make([]byte, 200)}
		for f := range 4 {
			a := &pb.Announcement{SealedRecord: make([]byte, 48)}
			for j := range 9 {
				a.Tokens = append(a.Tokens, &pb.Token{Value: []byte{byte(i), byte(f), byte(j), 0, 0, 0, 0, 0}, Kind: pb.TokenKind(min(j, 1))})
			}
			it.Announcements = append(it.Announcements, a)
		}
		ib, err := EncodeGossip(it)
		if err != nil {
			b.Fatal(err)
		}
		data = AppendGossipItem(data, ib)
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m pb.RendezvousGossipBatch
			if err := DecodeGossipBatch(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m pb.RendezvousGossipBatch
			if err := unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
			if err := ValidateGossipBatch(&m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
