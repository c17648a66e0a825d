package scrub

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// checkAny holds for any input: Scan never panics and never fails on
// bytes in memory (but for ErrTooComplex), the plan keeps the size,
// stays inside the file, and the streaming Reader agrees with Apply.
func checkAny(t *testing.T, in []byte) {
	p, err := Scan(bytes.NewReader(in), int64(len(in)))
	if err == ErrTooComplex {
		return
	}
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	for _, q := range append(p.layers[0].patches, p.layers[1].patches...) {
		if q.off < 0 || q.n <= 0 || q.off+q.n > int64(len(in)) || (q.data != nil && int64(len(q.data)) != q.n) {
			t.Fatalf("patch out of the file: %+v (size %d)", q, len(in))
		}
	}
	out := append([]byte(nil), in...)
	p.Apply(out)
	streamed, err := io.ReadAll(p.Reader(iotest.HalfReader(bytes.NewReader(in))))
	if err != nil || !bytes.Equal(streamed, out) {
		t.Fatal("Reader and Apply differ")
	}
	// (A second pass is not asserted to change nothing: in crafted files
	// whose metadata blocks overlap, blanking one can make another
	// unparsable, which the second pass then blanks whole.)
}

func addSeeds(f *testing.F, names ...string) {
	s := seeds()
	for _, n := range names {
		for k, v := range s {
			if len(k) >= len(n) && k[:len(n)] == n {
				f.Add(v)
			}
		}
	}
}

func FuzzJPEG(f *testing.F) {
	addSeeds(f, "jpeg", "thumb")
	f.Fuzz(func(t *testing.T, in []byte) { checkAny(t, in) })
}

func FuzzPNG(f *testing.F) {
	addSeeds(f, "png")
	f.Fuzz(func(t *testing.T, in []byte) { checkAny(t, in) })
}

func FuzzWebP(f *testing.F) {
	addSeeds(f, "webp")
	f.Fuzz(func(t *testing.T, in []byte) { checkAny(t, in) })
}

func FuzzBMFF(f *testing.F) {
	addSeeds(f, "mp4", "heic")
	f.Fuzz(func(t *testing.T, in []byte) { checkAny(t, in) })
}

// FuzzTIFF drives the IFD parser directly, as EXIF in any container.
func FuzzTIFF(f *testing.F) {
	addSeeds(f, "tiff")
	f.Add([]byte("MM\x00*\x00\x00\x00\x08"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &scanner{r: bytes.NewReader(in), size: int64(len(in)), budget: MaxMetaTotal}
		s.tiff(in, 0, 0)
		for _, q := range s.patches {
			if q.off < 0 || q.off+q.n > int64(len(in)) {
				t.Fatalf("patch out of the block: %+v (size %d)", q, len(in))
			}
		}
		out := append([]byte(nil), in...)
		applyLayers(layered(s.patches), out, 0)
		if n := gpsEntries(out); n != 0 {
			t.Fatalf("%d GPS entries left", n)
		}
	})
}

// gpsEntries counts the entries of the GPS IFDs IFD0's chain points to.
func gpsEntries(b []byte) int64 {
	order, ok := tiffOrder(b)
	if !ok {
		return 0
	}
	t := tiffDoc{b: b, o: order}
	var total int64
	t.chain(func(ifd, n int64) {
		for i := int64(0); i < n; i++ {
			if e := ifd + 2 + i*ifdEntrySize; t.u16(e) == tagGPSIFD {
				if g := t.pointer(e); g >= 8 {
					c, _ := t.count(g)
					total += c
				}
			}
		}
	})
	return total
}
