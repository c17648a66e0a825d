package scrub

import (
	"bytes"
	"encoding/binary"
)

// TIFF (EXIF) tags this package reads.
const (
	tagExifIFD    = 0x8769
	tagGPSIFD     = 0x8825
	tagThumbOff   = 0x0201 // JPEGInterchangeFormat (IFD1)
	tagThumbLen   = 0x0202 // JPEGInterchangeFormatLength
	maxIFDs       = 8      // IFD0, IFD1 and a few more in a chain
	ifdEntrySize  = 12
	tiffTypeLong  = 4
	tiffTypeIFD   = 13
	tiffTypeShort = 3
)

// tiffTypeSize is the size of one value of each TIFF field type (0:
// unknown type, whose entry is blanked but points at nothing).
var tiffTypeSize = [...]int64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

// tiffOrder reads a TIFF header's byte order; ok false if b is not TIFF.
func tiffOrder(b []byte) (binary.ByteOrder, bool) {
	if len(b) < 8 {
		return nil, false
	}
	switch {
	case b[0] == 'I' && b[1] == 'I' && b[2] == 42 && b[3] == 0:
		return binary.LittleEndian, true
	case b[0] == 'M' && b[1] == 'M' && b[2] == 0 && b[3] == 42:
		return binary.BigEndian, true
	}
	return nil, false
}

// tiff blanks the GPS IFD(s) of the TIFF structure b, which sits at file
// offset base: every value an entry points to is zeroed, then the entries
// and the next-IFD link, and the count becomes 0 (a valid empty IFD; the
// GPSInfo pointer in IFD0 stays and points at it). Everything else
// (Orientation, DateTimeOriginal, the maker note) keeps its bytes. A JPEG
// thumbnail in IFD1 is scanned as a JPEG in turn. It reports false when b
// is not TIFF at all (the caller then blanks the block whole).
func (s *scanner) tiff(b []byte, base int64, depth int) bool {
	order, ok := tiffOrder(b)
	if !ok {
		return false
	}
	t := tiffDoc{b: b, o: order}
	var gps, exif []int64
	var thumbOff, thumbLen int64 = -1, -1
	t.chain(func(ifd, n int64) {
		for i := int64(0); i < n; i++ {
			e := ifd + 2 + i*ifdEntrySize
			switch t.u16(e) {
			case tagGPSIFD:
				gps = append(gps, t.pointer(e))
			case tagExifIFD:
				exif = append(exif, t.pointer(e))
			case tagThumbOff:
				thumbOff = t.pointer(e)
			case tagThumbLen:
				thumbLen = t.pointer(e)
			}
		}
	})
	// A GPSInfo pointer has no place in the Exif IFD, but a writer that
	// put one there must not leak either.
	for _, x := range exif {
		n, ok := t.count(x)
		for i := int64(0); ok && i < n; i++ {
			if e := x + 2 + i*ifdEntrySize; t.u16(e) == tagGPSIFD {
				gps = append(gps, t.pointer(e))
			}
		}
	}
	for _, g := range gps {
		s.blankIFD(t, g, base)
	}
	if thumbOff > 0 && thumbLen > 0 && thumbOff < int64(len(b)) && depth < maxDepth {
		end := min(int64(len(b)), thumbOff+thumbLen)
		sub := &scanner{r: bytes.NewReader(b[thumbOff:end]), size: end - thumbOff, budget: s.budget}
		if isJPEG(b[thumbOff:end]) {
			sub.jpeg(0, sub.size, depth+1)
			for _, p := range sub.patches {
				s.add(base+thumbOff+p.off, p.n, p.fill, p.data)
			}
			s.regions += sub.regions
			s.budget = sub.budget
			if sub.err != nil {
				s.fail(sub.err)
			}
		}
	}
	return true
}

// blankIFD blanks the IFD at offset g of t (t at file offset base).
func (s *scanner) blankIFD(t tiffDoc, g, base int64) {
	size := int64(len(t.b))
	if g < 8 || g >= size {
		return // no such IFD: nothing of it is in the file
	}
	s.regions++
	n, ok := t.count(g)
	if !ok {
		s.zero(base+g, size-g) // truncated: blank what there is
		return
	}
	for i := int64(0); i < n; i++ {
		e := g + 2 + i*ifdEntrySize
		typ, cnt := t.u16(e+2), int64(t.u32(e+4))
		if int(typ) >= len(tiffTypeSize) {
			continue
		}
		if vlen := tiffTypeSize[typ] * cnt; vlen > 4 {
			v := int64(t.u32(e + 8))
			if v < 8 {
				// No value lives in the header; a crafted pointer
				// there must not break the TIFF for the next reader.
				vlen -= 8 - v
				v = 8
			}
			if v < size && vlen > 0 {
				s.zero(base+v, min(vlen, size-v))
			}
		}
	}
	// The entries, the count (now 0) and the next-IFD link (now none).
	s.zero(base+g, min(2+n*ifdEntrySize+4, size-g))
}

// tiffDoc reads a TIFF structure; reads past the end give 0.
type tiffDoc struct {
	b []byte
	o binary.ByteOrder
}

func (t tiffDoc) u16(off int64) uint16 {
	if off < 0 || off+2 > int64(len(t.b)) {
		return 0
	}
	return t.o.Uint16(t.b[off:])
}

func (t tiffDoc) u32(off int64) int64 {
	if off < 0 || off+4 > int64(len(t.b)) {
		return 0
	}
	return int64(t.o.Uint32(t.b[off:]))
}

// count is the entry count of the IFD at off; false if the IFD's entries
// do not all fit in b.
func (t tiffDoc) count(off int64) (int64, bool) {
	if off < 0 || off+2 > int64(len(t.b)) {
		return 0, false
	}
	n := int64(t.u16(off))
	return n, off+2+n*ifdEntrySize <= int64(len(t.b))
}

// pointer is the value of a LONG/IFD (or SHORT) entry at e: an offset or
// a length.
func (t tiffDoc) pointer(e int64) int64 {
	switch t.u16(e + 2) {
	case tiffTypeShort:
		return int64(t.u16(e + 8))
	case tiffTypeLong, tiffTypeIFD:
		return t.u32(e + 8)
	}
	return 0
}

// chain calls fn with each IFD of IFD0's chain and its entry count, at
// most maxIFDs of them, stopping at a loop or an IFD that does not fit.
func (t tiffDoc) chain(fn func(ifd, n int64)) {
	seen := map[int64]bool{}
	next := int64(t.o.Uint32(t.b[4:8]))
	for k := 0; k < maxIFDs && next != 0 && !seen[next]; k++ {
		seen[next] = true
		n, ok := t.count(next)
		if !ok {
			return
		}
		fn(next, n)
		next = t.u32(next + 2 + n*ifdEntrySize)
	}
}
