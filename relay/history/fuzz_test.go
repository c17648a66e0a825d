package history

import (
	"bytes"
	"testing"
)

// The disk is input too: every stored value's decoder must reject what it
// did not write without panicking, and round-trip what it did.

func FuzzDecodeHeader(f *testing.F) {
	f.Add((&header{origin: origin(1), count: 1}).encode())
	f.Add((&header{origin: origin(2), tag: bytes.Repeat([]byte{7}, TagSize), count: 3, shared: []byte("shared")}).encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, v []byte) {
		h, err := decodeHeader(v)
		if err != nil {
			return
		}
		if !bytes.Equal(h.encode(), v) {
			t.Fatalf("header does not round-trip: %x", v)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add((&record{tokens: []Token{here(1), near(2)}, sealed: []byte("sealed")}).encode())
	f.Add([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 2, 0xaa})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := decodeRecord(v)
		if err != nil {
			return
		}
		if len(r.sealed) == 0 || len(r.sealed) > MaxRecord || !bytes.Equal(r.encode(), v) {
			t.Fatalf("record does not round-trip: %x", v)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(counts{100, 3}.encode(), epochKey(600, 3_000_000), indexKey(tok(1), 5, 2), []byte{0})
	f.Fuzz(func(t *testing.T, meta, name, ikey, kind []byte) {
		if c, err := decodeCounts(meta); err == nil && !bytes.Equal(c.encode(), meta) {
			t.Fatalf("counts do not round-trip: %x", meta)
		}
		if es, e, err := decodeEpochKey(name); err == nil && !bytes.Equal(epochKey(es, e), name) {
			t.Fatalf("epoch key does not round-trip: %x", name)
		}
		if aid, i, err := decodeIndexKey(ikey); err == nil {
			var tk [TokenSize]byte
			copy(tk[:], ikey)
			if !bytes.Equal(indexKey(tk, aid, i), ikey) {
				t.Fatalf("index key does not round-trip: %x", ikey)
			}
		}
		if h, err := decodeKind(kind); err == nil && !bytes.Equal(kindByte(h), kind) {
			t.Fatalf("kind does not round-trip: %x", kind)
		}
	})
}
