package history

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The disk is input too: every stored value's decoder must reject what it
// did not write without panicking, and round-trip what it did.

func FuzzDecodeBody(f *testing.F) {
	f.Add((&body{origin: origin(1), recs: []record{{tokens: []Token{here(1)}, sealed: []byte("r")}}}).encode())
	f.Add((&body{origin: origin(2), tag: bytes.Repeat([]byte{7}, TagSize), shared: []byte("shared"),
		recs: []record{{tokens: []Token{here(1), near(2)}, sealed: []byte("sealed")}, {tokens: []Token{near(3)}, sealed: []byte("x")}}}).encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, v []byte) {
		b, err := decodeBody(v)
		if err != nil {
			return
		}
		if !bytes.Equal(b.encode(), v) {
			t.Fatalf("body does not round-trip: %x", v)
		}
	})
}

func FuzzDecodeStored(f *testing.F) {
	oh := []byte("originHs")
	f.Add(append(encodeStored(oh, []uint64{1, 2, 3}, sealOverhead+5), make([]byte, sealOverhead+5)...))
	f.Add(append(encodeStored(oh, nil, sealOverhead+1), make([]byte, sealOverhead+1)...))
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		st, err := decodeStored(v)
		if err != nil {
			return
		}
		hs := make([]uint64, len(st.hashes)/8)
		for i := range hs {
			hs[i] = binary.BigEndian.Uint64(st.hashes[8*i:])
		}
		if len(st.sealed) < sealOverhead || !bytes.Equal(append(encodeStored(st.origin, hs, len(st.sealed)), st.sealed...), v) {
			t.Fatalf("stored value does not round-trip: %x", v)
		}
	})
}

// FuzzOpenSealed: a sealed value that was not sealed under the epoch's key
// for its slot is an error, whatever its bytes.
func FuzzOpenSealed(f *testing.F) {
	k, err := deriveKey(bytes.Repeat([]byte{1}, keyFileLen))
	if err != nil {
		f.Fatal(err)
	}
	name := epochName(600, 3_000_000)
	// A fixed nonce: the fuzzing workers must rebuild the same seed.
	nonce := make([]byte, nonceSize)
	good := k.aead.Seal(bytes.Clone(nonce), nonce, []byte("plain"), slotAD(name, 7))
	if p, err := k.open(name, 7, good); err != nil || string(p) != "plain" {
		f.Fatalf("seal and open disagree: %v", err)
	}
	f.Add(good, uint64(7))
	f.Add(good, uint64(8))
	f.Add([]byte{1, 2, 3}, uint64(7))
	f.Fuzz(func(t *testing.T, v []byte, aid uint64) {
		p, err := k.open(name, aid, v)
		if err != nil {
			return
		}
		if aid != 7 || !bytes.Equal(v, good) || string(p) != "plain" {
			t.Fatalf("opened a value not sealed for slot %d: %x", aid, v)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(counts{100, 3}.encode(), epochName(600, 3_000_000), "e-600-3000000.key", byte(0))
	f.Fuzz(func(t *testing.T, meta, name []byte, keyFile string, kind byte) {
		if c, err := decodeCounts(meta); err == nil && !bytes.Equal(c.encode(), meta) {
			t.Fatalf("counts do not round-trip: %x", meta)
		}
		if id, err := decodeEpochName(name); err == nil && !bytes.Equal(epochName(id.seconds, id.epoch), name) {
			t.Fatalf("epoch name does not round-trip: %x", name)
		}
		if id, ok := parseKeyName(keyFile); ok && keyName(id) != keyFile {
			if id2, ok2 := parseKeyName(keyName(id)); !ok2 || id2 != id {
				t.Fatalf("key file name does not round-trip: %q", keyFile)
			}
		}
		if h, err := decodeKind(kind); err == nil && kindByte(h) != kind {
			t.Fatalf("kind does not round-trip: %x", kind)
		}
	})
}

func FuzzDecodeSummary(f *testing.F) {
	f.Add(encodeSummary(7, []sumRec{{2, 1}, {4, 7}}))
	f.Add(encodeSummary(1, nil))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		upTo, ents, err := decodeSummary(v)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeSummary(upTo, summaryRecs(ents)), v) {
			t.Fatalf("summary does not round-trip: %x", v)
		}
		hits := make(map[uint64]bool)
		summaryHits(ents, []uint64{0, 2, 1 << 63}, hits) // unsorted input: no panic
	})
}
