package crypto

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// Every decoder and opener has a fuzz target seeded from testdata vectors.
// The invariants: no panic; a rejection wraps a package sentinel; anything
// accepted re-encodes to the same bytes (for parsers).

func loadVectors[T any](f *testing.F, file string) []T {
	var v []T
	loadJSON(f, filepath.Join("testdata", file), &v)
	return v
}

func checkSentinel(t *testing.T, err error) {
	for _, s := range []error{ErrMalformed, ErrBadSignature, ErrOpen, ErrWeakKey, ErrTruncated, ErrTooLarge} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

func FuzzParseCard(f *testing.F) {
	for _, v := range loadVectors[cardVector](f, "cards.json") {
		f.Add([]byte(v.Card))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCard(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if out, _ := c.MarshalBinary(); !bytes.Equal(out, b) {
			t.Fatal("card does not re-encode to its input")
		}
	})
}

func FuzzUnmarshalIdentity(f *testing.F) {
	for _, v := range loadVectors[cardVector](f, "cards.json") {
		f.Add([]byte(v.Identity))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := UnmarshalIdentity(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if out, _ := id.MarshalBinary(); !bytes.Equal(out, b) {
			t.Fatal("identity does not re-encode to its input")
		}
		if err := id.Card().Verify(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzUnmarshalPairKeys(f *testing.F) {
	for _, v := range loadVectors[pairVector](f, "pairs.json") {
		f.Add([]byte(v.Keys))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := UnmarshalPairKeys(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if out, _ := pk.MarshalBinary(); !bytes.Equal(out, b) {
			t.Fatal("pair keys do not re-encode to their input")
		}
	})
}

func FuzzParsePrekey(f *testing.F) {
	for _, v := range loadVectors[prekeyVector](f, "prekeys.json") {
		f.Add([]byte(v.Prekey))
	}
	owner := testIdentity(f, "prekey/owner").Card()
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePrekey(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if out, _ := p.MarshalBinary(); !bytes.Equal(out, b) {
			t.Fatal("prekey does not re-encode to its input")
		}
		if err := p.Verify(owner); err != nil {
			checkSentinel(t, err)
		}
	})
}

// streamVectors is every version's stream vectors.
func streamVectors(f *testing.F) []streamVector {
	vs := loadVectors[streamVector](f, "streams.json")
	vs = append(vs, loadVectors[streamVector](f, "streams-v1.json")...)
	return append(vs, loadVectors[streamVector](f, "streams-v3.json")...)
}

func FuzzParseStreamKey(f *testing.F) {
	for _, v := range streamVectors(f) {
		f.Add([]byte(v.Key))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseStreamKey(b)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		if out, _ := k.MarshalBinary(); !bytes.Equal(out, b) {
			t.Fatal("stream key does not re-encode to its input")
		}
	})
}

// FuzzOpen feeds arbitrary bytes to the envelope opener of the vectors'
// recipient (and of the prekey one). Opening anything the fuzzer invents
// would be a forgery.
func FuzzOpen(f *testing.F) {
	vs := loadVectors[envelopeVector](f, "envelopes.json")
	var recs []*Recipient
	valid := map[string]bool{}
	for _, v := range vs {
		f.Add([]byte(v.Sealed))
		valid[string(v.Sealed)] = true
		var priv [32]byte
		copy(priv[:], v.RecipientPriv)
		r, err := NewRecipient(&priv)
		if err != nil {
			f.Fatal(err)
		}
		recs = append(recs, r)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range recs {
			_, err := r.Open(b)
			if err == nil && !valid[string(b)] {
				t.Fatal("opened an envelope the fuzzer made")
			}
			if err != nil {
				checkSentinel(t, err)
			}
		}
	})
}

// FuzzOpenChunk feeds arbitrary chunks at arbitrary indexes to the vectors'
// stream keys (OpenChunk, and OpenChunkExact with either flag, in place
// where the version allows).
func FuzzOpenChunk(f *testing.F) {
	vs := streamVectors(f)
	var keys []*StreamKey
	valid := map[string]bool{}
	for _, v := range vs {
		k, err := ParseStreamKey(v.Key)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, k)
		for i, c := range v.Chunks {
			f.Add(uint32(i), []byte(c))
			valid[string(c)] = true
		}
	}
	f.Fuzz(func(t *testing.T, i uint32, c []byte) {
		for _, k := range keys {
			_, _, err := k.OpenChunk(nil, i, c)
			if err == nil && !valid[string(c)] {
				t.Fatal("opened a chunk the fuzzer made")
			}
			if err != nil {
				checkSentinel(t, err)
			}
			for _, last := range []bool{false, true} {
				var err error
				if k.InPlace() {
					box := append([]byte(nil), c...)
					_, err = k.OpenChunkExact(box[:0], i, last, box)
				} else {
					_, err = k.OpenChunkExact(nil, i, last, c)
				}
				if err == nil && !valid[string(c)] {
					t.Fatal("OpenChunkExact opened a chunk the fuzzer made")
				}
				if err != nil {
					checkSentinel(t, err)
				}
			}
		}
	})
}

// FuzzOpenStream feeds arbitrary byte streams to OpenStream.
func FuzzOpenStream(f *testing.F) {
	vs := streamVectors(f)
	for _, v := range vs {
		f.Add([]byte(v.Key), bytes.Join(bytesList(v.Chunks), nil))
	}
	f.Fuzz(func(t *testing.T, key, stream []byte) {
		k, err := ParseStreamKey(key)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if _, err := k.OpenStream(&out, bytes.NewReader(stream)); err != nil {
			checkSentinel(t, err)
		}
	})
}

func bytesList(h []hexBytes) [][]byte {
	out := make([][]byte, len(h))
	for i := range h {
		out[i] = h[i]
	}
	return out
}
