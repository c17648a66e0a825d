package protocol

import (
	"encoding/binary"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/imigee/imigee/protocol/pb"
)

// Chunk frames are nearly all the bytes of a share stream. Decoding one
// with protobuf copies its 64 KiB of data into a fresh slice (and the
// garbage collector then chases a slice per chunk); encoding one copies it
// into a frame buffer. This file owns the zero-copy path for exactly one
// shape of frame, the canonical encoding of a valid PeerFrame{chunk}:
//
//	0x22 len(C)  C = 0x0a 0x10 item_id[16]
//	                 [0x10 varint(index)]      (omitted when index is 0)
//	                 0x1a varint(len(data)) data
//
// with every varint minimal, index < 2^32 and 1 ≤ len(data) ≤
// MaxSealedChunk: what WriteMsg's deterministic marshalling produces and
// AppendChunkFrameHeader writes. Any other body — other field order,
// repeated or unknown fields, an oversized or empty field, another body —
// goes to the generic decoder (Unmarshal, then ValidatePeerFrame), so the
// fast path accepts only what the generic path accepts, with the same
// fields (FuzzDecodePeerFrame proves it on every input).

// ChunkView is a chunk frame decoded without copying: ItemID and Data alias
// the frame body (or the generic decoder's message) and are valid only as
// long as that is.
type ChunkView struct {
	ItemID []byte
	Index  uint32
	Data   []byte
}

// ChunkFrameHeaderMax is the most bytes AppendChunkFrameHeader writes: a
// frame length prefix, the body tag and length, the item ID field, the
// index field and the data field's tag and length.
const ChunkFrameHeaderMax = 3 + 1 + 3 + 2 + ItemIDSize + 1 + 5 + 1 + 3

// AppendChunkFrameHeader appends the frame header (length prefix through
// the data field's length) of PeerFrame{chunk{itemID, index, data}} for
// data of dataLen bytes; the caller appends the data itself. The result
// followed by the data is byte for byte what WriteMsg writes for that
// message. itemID must be ItemIDSize bytes and dataLen 1..MaxSealedChunk
// (what the validators accept); the caller checks.
func AppendChunkFrameHeader(dst, itemID []byte, index uint32, dataLen int) []byte {
	c := 2 + len(itemID) + 1 + protowire.SizeVarint(uint64(dataLen)) + dataLen
	if index != 0 {
		c += 1 + protowire.SizeVarint(uint64(index))
	}
	body := 1 + protowire.SizeVarint(uint64(c)) + c
	dst = binary.AppendUvarint(dst, uint64(body))
	dst = append(dst, 0x22)
	dst = binary.AppendUvarint(dst, uint64(c))
	dst = append(dst, 0x0a, byte(len(itemID)))
	dst = append(dst, itemID...)
	if index != 0 {
		dst = append(dst, 0x10)
		dst = binary.AppendUvarint(dst, uint64(index))
	}
	dst = append(dst, 0x1a)
	return binary.AppendUvarint(dst, uint64(dataLen))
}

// parseChunkFrame is the fast path: it fills c and reports true only for
// the canonical encoding of a valid chunk frame (see above).
func parseChunkFrame(b []byte, c *ChunkView) bool {
	if len(b) < 2 || b[0] != 0x22 {
		return false
	}
	l, k := minimalVarint(b[1:])
	if k == 0 || l != uint64(len(b)-1-k) {
		return false
	}
	b = b[1+k:]
	if len(b) < 2+ItemIDSize || b[0] != 0x0a || b[1] != ItemIDSize {
		return false
	}
	id := b[2 : 2+ItemIDSize]
	b = b[2+ItemIDSize:]
	var index uint64
	if len(b) > 0 && b[0] == 0x10 {
		index, k = minimalVarint(b[1:])
		if k == 0 || index > math.MaxUint32 {
			return false
		}
		b = b[1+k:]
	}
	if len(b) < 1 || b[0] != 0x1a {
		return false
	}
	d, k := minimalVarint(b[1:])
	if k == 0 || d == 0 || d > MaxSealedChunk || d != uint64(len(b)-1-k) {
		return false
	}
	*c = ChunkView{ItemID: id[:ItemIDSize:ItemIDSize], Index: uint32(index), Data: b[1+k:]}
	return true
}

// minimalVarint decodes a minimally encoded varint, returning its length
// (0 when b does not start with one).
func minimalVarint(b []byte) (uint64, int) {
	v, n := protowire.ConsumeVarint(b)
	if n <= 0 || n != protowire.SizeVarint(v) {
		return 0, 0
	}
	return v, n
}

// DecodePeerFrame decodes and validates a share-stream frame body. A chunk
// is returned in c (isChunk true), in place when the body is a canonical
// chunk frame (c then aliases body); any other frame is decoded into m as
// Unmarshal and ValidatePeerFrame do, with the same errors. m is reset
// first.
func DecodePeerFrame(body []byte, m *pb.PeerFrame, c *ChunkView) (isChunk bool, err error) {
	if parseChunkFrame(body, c) {
		m.Reset()
		return true, nil
	}
	if err := unmarshal(body, m); err != nil {
		return false, err
	}
	if err := ValidatePeerFrame(m); err != nil {
		return false, err
	}
	if ch := m.GetChunk(); ch != nil {
		*c = ChunkView{ItemID: ch.ItemId, Index: ch.Index, Data: ch.Data}
		return true, nil
	}
	return false, nil
}

// ReadFrameInto reads one frame, capped as ReadMsg, into buf's array when
// its capacity holds the body, else into a fresh buffer, and returns the
// body, which belongs to the caller (the Reader keeps no reference). A
// Reader with body caps or an account reads as ReadMsg does and copies, so
// its accounting holds.
func (r *Reader) ReadFrameInto(buf []byte) ([]byte, error) {
	if r.caps != nil || r.acct != nil {
		body, err := r.readFrameCap(r.max)
		defer r.releaseBig()
		if err != nil {
			return nil, err
		}
		return append(buf[:0], body...), nil
	}
	n, err := readLength(r.br, r.max)
	if err != nil {
		return nil, err
	}
	if cap(buf) >= n {
		buf = buf[:n]
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return nil, bodyErr(err)
		}
		return buf, nil
	}
	return readBody(r.br, nil, n)
}
