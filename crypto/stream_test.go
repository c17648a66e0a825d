package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"
)

func sealAll(t *testing.T, k *StreamKey, content []byte) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := k.SealStream(&buf, bytes.NewReader(content))
	if err != nil || n != int64(len(content)) {
		t.Fatalf("SealStream: %d, %v", n, err)
	}
	var chunks [][]byte
	b := buf.Bytes()
	for len(b) > 0 {
		m := min(len(b), int(k.ChunkSize)+ChunkOverhead)
		chunks = append(chunks, b[:m])
		b = b[m:]
	}
	return chunks
}

func openAll(k *StreamKey, chunks [][]byte) ([]byte, error) {
	var out bytes.Buffer
	_, err := k.OpenStream(&out, bytes.NewReader(bytes.Join(chunks, nil)))
	return out.Bytes(), err
}

// versionKey is NewStreamKey's key from seed, made of the given version.
func versionKey(t *testing.T, seed string, v uint8) *StreamKey {
	t.Helper()
	k, err := NewStreamKey(detRand(seed), MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	k.Version = v
	return k
}

// forVersions runs f for a key of each stream version.
func forVersions(t *testing.T, f func(t *testing.T, v uint8)) {
	for _, v := range []uint8{StreamV1, StreamV2, StreamV3} {
		t.Run("v"+string(rune('0'+v)), func(t *testing.T) { f(t, v) })
	}
}

func TestStreamRoundTrip(t *testing.T) { forVersions(t, testStreamRoundTrip) }

func testStreamRoundTrip(t *testing.T, v uint8) {
	k := versionKey(t, "k", v)
	cs := int(k.ChunkSize)
	for _, n := range []int{0, 1, cs - 1, cs, cs + 1, 3 * cs, 3*cs + 7} {
		content := make([]byte, n)
		detRand("c").Read(content)
		chunks := sealAll(t, k, content)
		if int64(len(chunks)) != k.ChunkCount(int64(n)) {
			t.Fatalf("%d bytes: %d chunks, ChunkCount says %d", n, len(chunks), k.ChunkCount(int64(n)))
		}
		got, err := openAll(k, chunks)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		// Resume: any chunk can be sealed again on its own, identically.
		for i := range chunks {
			c, last, err := k.SealChunkAt(nil, bytes.NewReader(content), int64(n), uint32(i))
			if err != nil || !bytes.Equal(c, chunks[i]) || last != (i == len(chunks)-1) {
				t.Fatalf("%d bytes: SealChunkAt(%d) differs: %v", n, i, err)
			}
		}
	}
}

func TestStreamTamper(t *testing.T) { forVersions(t, testStreamTamper) }

func testStreamTamper(t *testing.T, v uint8) {
	k, other := versionKey(t, "k", v), versionKey(t, "other", v)
	content := make([]byte, 3*MinChunkSize+100)
	detRand("c").Read(content)
	chunks := sealAll(t, k, content)
	foreign := sealAll(t, other, content)

	for ci := range chunks {
		flipEach(chunks[ci], func(i int, m []byte) {
			if _, _, err := k.OpenChunk(nil, uint32(ci), m); !errors.Is(err, ErrOpen) {
				t.Errorf("chunk %d byte %d flipped: %v", ci, i, err)
			}
		})
	}
	cases := map[string][][]byte{
		"drop last":       chunks[:3],
		"drop middle":     {chunks[0], chunks[2], chunks[3]},
		"swap":            {chunks[1], chunks[0], chunks[2], chunks[3]},
		"truncate last":   {chunks[0], chunks[1], chunks[2], chunks[3][:50]},
		"truncate middle": {chunks[0], chunks[1][:500]},
		"foreign chunk":   {chunks[0], foreign[1], chunks[2], chunks[3]},
		"extra after end": {chunks[0], chunks[1], chunks[2], chunks[3], chunks[3]},
		"empty":           nil,
	}
	for name, cs := range cases {
		if _, err := openAll(k, cs); err == nil {
			t.Errorf("%s: stream opens", name)
		}
	}
	if _, err := openAll(k, chunks[:3]); !errors.Is(err, ErrTruncated) {
		t.Errorf("drop last: %v, want ErrTruncated", err)
	}
	// A middle chunk re-sealed as "last" ends the stream early: the rest is rejected.
	fake, _ := k.SealChunk(nil, 1, true, content[MinChunkSize:2*MinChunkSize])
	if _, err := openAll(k, [][]byte{chunks[0], fake, chunks[2], chunks[3]}); err == nil {
		t.Error("early last chunk accepted with data after it")
	}
	if _, _, err := k.OpenChunk(nil, 2, chunks[1]); !errors.Is(err, ErrOpen) {
		t.Errorf("wrong index: %v", err)
	}
}

// TestStreamVersions: a new key is version 2; a chunk sealed under one
// version never opens under the other with the same key bytes (a
// recipient told the wrong version fails closed, it does not misread), and
// an unknown version does not parse.
func TestStreamVersions(t *testing.T) {
	if n, _ := NewStreamKey(detRand("k"), 0); n.Version != StreamV2 {
		t.Fatalf("new key is version %d", n.Version)
	}
	content := make([]byte, 2*MinChunkSize)
	detRand("c").Read(content)
	versions := []uint8{StreamV1, StreamV2, StreamV3}
	for _, a := range versions {
		ka := versionKey(t, "k", a)
		ca := sealAll(t, ka, content)
		for _, b := range versions {
			if a == b {
				continue
			}
			kb := versionKey(t, "k", b)
			if bytes.Equal(ca[0], sealAll(t, kb, content)[0]) {
				t.Errorf("versions %d and %d seal alike", a, b)
			}
			if _, err := openAll(kb, ca); !errors.Is(err, ErrOpen) {
				t.Errorf("v%d chunks under a v%d key: %v", a, b, err)
			}
		}
	}
	k2 := versionKey(t, "k", StreamV2)
	for _, v := range versions {
		b := mustMarshal(t, versionKey(t, "k", v))
		if got, err := ParseStreamKey(b); err != nil || got.Version != v {
			t.Errorf("version %d: parsed %v, %v", v, got, err)
		}
	}
	zero := *k2
	zero.Version = 0 // a key built by hand: the current version
	if b := mustMarshal(t, &zero); b[0] != StreamV2 {
		t.Errorf("zero version marshals as %d", b[0])
	}
	for _, bad := range []byte{0, 4, 255} {
		b := mustMarshal(t, k2)
		b[0] = bad
		if _, err := ParseStreamKey(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("version byte %d: %v", bad, err)
		}
	}
}

// TestOpenChunkExact: one attempt with the caller's last flag; a version-2
// key opens in place; a chunk presented with the wrong flag, at the wrong
// index, flipped, or a short middle chunk fails without opening.
func TestOpenChunkExact(t *testing.T) {
	forVersions(t, func(t *testing.T, v uint8) {
		k := versionKey(t, "k", v)
		content := make([]byte, 2*MinChunkSize+10)
		detRand("c").Read(content)
		chunks := sealAll(t, k, content)
		var got []byte
		for i, c := range chunks {
			last := i == len(chunks)-1
			if _, err := k.OpenChunkExact(nil, uint32(i), !last, c); err == nil {
				t.Fatalf("chunk %d opened with the wrong last flag", i)
			}
			if _, err := k.OpenChunkExact(nil, uint32(i+1), last, c); err == nil {
				t.Fatalf("chunk %d opened at index %d", i, i+1)
			}
			bad := append([]byte(nil), c...)
			bad[len(bad)/2] ^= 1
			if _, err := k.OpenChunkExact(nil, uint32(i), last, bad); !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("flipped chunk %d: %v", i, err)
			}
			var p []byte
			var err error
			if k.InPlace() {
				box := append([]byte(nil), c...)
				p, err = k.OpenChunkExact(box[:0], uint32(i), last, box)
			} else {
				p, err = k.OpenChunkExact(nil, uint32(i), last, c)
			}
			if err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
			got = append(got, p...)
		}
		if !bytes.Equal(got, content) {
			t.Fatal("content differs")
		}
		if _, err := k.OpenChunkExact(nil, 0, false, chunks[len(chunks)-1]); !errors.Is(err, ErrMalformed) {
			t.Errorf("short middle chunk: %v", err)
		}
	})
	if versionKey(t, "k", StreamV1).InPlace() || !versionKey(t, "k", StreamV2).InPlace() || !versionKey(t, "k", StreamV3).InPlace() {
		t.Error("InPlace")
	}
}

func TestStreamKeyEncoding(t *testing.T) {
	k, err := NewStreamKey(detRand("k"), 0)
	if err != nil || k.ChunkSize != DefaultChunkSize {
		t.Fatal(err)
	}
	b := mustMarshal(t, k)
	got, err := ParseStreamKey(b)
	if err != nil || got.Key != k.Key || got.Prefix != k.Prefix || got.ChunkSize != k.ChunkSize || got.Version != k.Version {
		t.Fatal("stream key does not round-trip")
	}
	for _, n := range []int{1, MinChunkSize - 1, MaxChunkSize + 1} {
		if _, err := NewStreamKey(detRand("k"), n); !errors.Is(err, ErrMalformed) {
			t.Errorf("chunk size %d: %v", n, err)
		}
	}
	b[len(b)-1] = 0
	b[len(b)-2] = 0
	b[len(b)-3] = 0
	if _, err := ParseStreamKey(b); !errors.Is(err, ErrMalformed) {
		t.Error("chunk size 0 parsed")
	}
	if _, err := k.SealChunk(nil, 0, false, []byte("short middle chunk")); !errors.Is(err, ErrMalformed) {
		t.Error("short middle chunk sealed")
	}
	if _, _, err := k.SealChunkAt(nil, bytes.NewReader(nil), 10, 5); !errors.Is(err, ErrMalformed) {
		t.Error("chunk index past the end sealed")
	}
}

// TestStreamGCMCacheFollowsKey: a version-3 key whose bytes change after
// its first use (a copy given other key bytes shares the cached AES-GCM
// instance) seals under its current bytes, never under the cached ones.
func TestStreamGCMCacheFollowsKey(t *testing.T) {
	k := versionKey(t, "k", StreamV3)
	p := make([]byte, MinChunkSize)
	a, err := k.SealChunk(nil, 0, true, p)
	if err != nil {
		t.Fatal(err)
	}
	k2 := *k
	k2.Key[0] ^= 1
	b, err := k2.SealChunk(nil, 0, true, p)
	if err != nil {
		t.Fatal(err)
	}
	fresh := StreamKey{Key: k2.Key, Prefix: k2.Prefix, ChunkSize: k2.ChunkSize, Version: StreamV3}
	want, _ := fresh.SealChunk(nil, 0, true, p)
	if bytes.Equal(a, b) || !bytes.Equal(b, want) {
		t.Fatal("a changed key sealed with the cached AES-GCM instance")
	}
}

// TestStreamV3Layout: a version-3 chunk is AES-256-GCM of the standard
// library under the item key with nonce prefix[12:] ‖ i ‖ last, so another
// implementation can open it from CRYPTO.md alone.
func TestStreamV3Layout(t *testing.T) {
	k := versionKey(t, "k", StreamV3)
	p := make([]byte, MinChunkSize)
	detRand("p").Read(p)
	b, _ := aes.NewCipher(k.Key[:])
	a, _ := cipher.NewGCM(b)
	for _, last := range []bool{false, true} {
		got, err := k.SealChunk(nil, 7, last, p)
		if err != nil {
			t.Fatal(err)
		}
		n := append(append([]byte(nil), k.Prefix[12:]...), 0, 0, 0, 7, 0)
		if last {
			n[11] = 1
		}
		if want := a.Seal(nil, n, p, nil); !bytes.Equal(got, want) {
			t.Fatalf("last=%v: chunk is not AES-256-GCM with the documented nonce", last)
		}
	}
}
