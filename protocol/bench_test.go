package protocol

import (
	"bytes"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

// Benchmarks compare the framing layer with raw proto.Marshal/Unmarshal of
// the same message (the baseline siblings), for a small mailbox request
// (a Fetch with two auths, ~330 B) and a full share chunk (~65 KiB).

func benchMessages() []struct {
	name string
	m    proto.Message
	max  int
} {
	var fetch proto.Message
	for _, nm := range validMessages() {
		if nm.name == "mailbox_request/fetch" {
			fetch = nm.msg
		}
	}
	chunk := &pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: pattern(ItemIDSize, 0), Index: 9, Data: pattern(ChunkSize+16, 0)}}}
	return []struct {
		name string
		m    proto.Message
		max  int
	}{{"fetch", fetch, MaxMailboxRequest}, {"chunk64k", chunk, MaxShareFrame}}
}

func BenchmarkRawMarshal(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(proto.Size(c.m)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := proto.Marshal(c.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriter(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			w := NewWriter(io.Discard)
			b.SetBytes(int64(proto.Size(c.m)))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WriteMsg(c.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteMsg(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(proto.Size(c.m)))
			b.ReportAllocs()
			for b.Loop() {
				if err := WriteMsg(io.Discard, c.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRawUnmarshal(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			data, _ := proto.Marshal(c.m)
			m := c.m.ProtoReflect().New().Interface()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := proto.Unmarshal(data, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			var buf bytes.Buffer
			_ = WriteMsg(&buf, c.m)
			r := NewReader(&repeatReader{frame: buf.Bytes()}, c.max)
			m := c.m.ProtoReflect().New().Interface()
			b.SetBytes(int64(proto.Size(c.m)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.ReadMsg(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadMailboxRequest is the relay's full decode path: frame,
// unmarshal, validate (baseline: BenchmarkRawUnmarshal/fetch).
func BenchmarkReadMailboxRequest(b *testing.B) {
	c := benchMessages()[0]
	var buf bytes.Buffer
	_ = WriteMsg(&buf, c.m)
	r := NewReader(&repeatReader{frame: buf.Bytes()}, MaxMailboxRequest)
	var m pb.MailboxRequest
	b.SetBytes(int64(proto.Size(c.m)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ReadMailboxRequest(r, &m); err != nil {
			b.Fatal(err)
		}
	}
}
