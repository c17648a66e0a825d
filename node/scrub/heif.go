package scrub

import (
	"encoding/binary"
	"strings"
)

// heifItem is where one item of a HEIF file lies.
type heifItem struct {
	method  int // construction method: 0 file offset, 1 idat offset
	extents [][2]int64
}

// heif scrubs a HEIF/HEIC/AVIF top-level meta box: the Exif item (found
// by its type in iinf, located by iloc, in the file or in idat) gets its
// GPS IFD blanked (tiff); an XMP item (MIME application/rdf+xml) becomes
// spaces. An Exif item in more than one extent, or too big to read, is
// zeroed whole. Items built from other items (construction method 2)
// are left alone: no camera writes its Exif that way.
func (s *scanner) heif(m box) {
	var iinf, iloc box
	var idat *box
	s.children(m.body+4, m.end, func(b box) {
		switch b.typ {
		case "iinf":
			iinf = b
		case "iloc":
			iloc = b
		case "idat":
			idat = &b
		}
	})
	if iinf.end == 0 || iloc.end == 0 || iinf.end-iinf.body > MaxMetaRead || iloc.end-iloc.body > MaxMetaRead {
		return
	}
	exif, xmp := s.heifInfos(iinf)
	if len(exif) == 0 && len(xmp) == 0 {
		return
	}
	items := s.heifLocations(iloc)
	for id := range xmp {
		if it, ok := items[id]; ok {
			for _, e := range s.heifExtents(it, idat) {
				s.regions++
				s.add(e[0], e[1], ' ', nil)
			}
		}
	}
	for id := range exif {
		it, ok := items[id]
		if !ok {
			continue
		}
		ext := s.heifExtents(it, idat)
		if len(ext) == 1 && ext[0][1] >= 4 && ext[0][1] <= MaxMetaRead {
			if data, ok := s.readAt(ext[0][0], ext[0][1]); ok {
				// A 4-byte offset to the TIFF header (past "Exif\0\0").
				skip := int64(binary.BigEndian.Uint32(data)) + 4
				if skip < int64(len(data)) && s.tiff(data[skip:], ext[0][0]+skip, 0) {
					continue
				}
			}
		}
		for _, e := range ext {
			s.regions++
			s.zero(e[0], e[1])
		}
	}
}

// heifInfos reads iinf: the IDs of Exif items and of XMP items.
func (s *scanner) heifInfos(b box) (exif, xmp map[uint32]bool) {
	exif, xmp = map[uint32]bool{}, map[uint32]bool{}
	hdr, ok := s.readAt(b.body, min(8, b.end-b.body))
	if !ok || len(hdr) < 6 {
		return
	}
	first := b.body + 6 // version/flags, u16 count
	if hdr[0] != 0 {
		first = b.body + 8 // u32 count
	}
	s.children(first, b.end, func(e box) {
		if e.typ != "infe" || e.end-e.body > 64<<10 {
			return
		}
		p, ok := s.readAt(e.body, e.end-e.body)
		if !ok || len(p) < 4 {
			return
		}
		v, p := p[0], p[4:]
		var id uint32
		typ := ""
		switch {
		case v >= 2:
			n := 2
			if v == 3 {
				n = 4
			}
			if len(p) < n+6 {
				return
			}
			if n == 2 {
				id = uint32(binary.BigEndian.Uint16(p))
			} else {
				id = binary.BigEndian.Uint32(p)
			}
			typ, p = string(p[n+2:n+6]), p[n+6:]
		default:
			if len(p) < 4 {
				return
			}
			id, p = uint32(binary.BigEndian.Uint16(p)), p[4:]
			typ = "mime" // v0/v1: name and content type only
		}
		switch typ {
		case "Exif":
			exif[id] = true
		case "mime":
			// item_name, then content_type, NUL-terminated.
			parts := strings.SplitN(string(p), "\x00", 3)
			if len(parts) >= 2 && strings.Contains(strings.ToLower(parts[1]), "rdf+xml") {
				xmp[id] = true
			}
		}
	})
	return
}

// heifLocations reads iloc: each item's construction method and extents
// (offsets relative to the file or to idat, as the method says).
func (s *scanner) heifLocations(b box) map[uint32]heifItem {
	out := map[uint32]heifItem{}
	p, ok := s.readAt(b.body, b.end-b.body)
	if !ok || len(p) < 8 {
		return out
	}
	v := p[0]
	offSize, lenSize := int(p[4]>>4), int(p[4]&15)
	baseSize, idxSize := int(p[5]>>4), int(p[5]&15)
	if v != 1 && v != 2 {
		idxSize = 0
	}
	r := &beReader{b: p[6:]}
	var count uint64
	if v < 2 {
		count = r.uint(2)
	} else {
		count = r.uint(4)
	}
	for i := uint64(0); i < count && r.ok(); i++ {
		var id uint64
		if v < 2 {
			id = r.uint(2)
		} else {
			id = r.uint(4)
		}
		method := 0
		if v == 1 || v == 2 {
			method = int(r.uint(2) & 15)
		}
		r.uint(2) // data reference index
		base := r.uint(baseSize)
		n := r.uint(2)
		it := heifItem{method: method}
		for k := uint64(0); k < n && r.ok(); k++ {
			r.uint(idxSize)
			off, l := r.uint(offSize), r.uint(lenSize)
			if off > 1<<62 || base > 1<<62 || l > 1<<62 {
				r.bad = true
				break
			}
			it.extents = append(it.extents, [2]int64{int64(base + off), int64(l)})
		}
		if r.ok() {
			out[uint32(id)] = it
		}
	}
	return out
}

// heifExtents turns an item's extents into file ranges, clipped to the
// file (or to idat); a length 0 means "to the end".
func (s *scanner) heifExtents(it heifItem, idat *box) [][2]int64 {
	var out [][2]int64
	lo, hi := int64(0), s.size
	switch it.method {
	case 0:
	case 1:
		if idat == nil {
			return nil
		}
		lo, hi = idat.body, idat.end
	default:
		return nil
	}
	for _, e := range it.extents {
		start := lo + e[0]
		if e[0] < 0 || start >= hi {
			continue
		}
		l := e[1]
		if l == 0 || l > hi-start {
			l = hi - start
		}
		out = append(out, [2]int64{start, l})
	}
	return out
}

// beReader reads big-endian unsigned fields of 0–8 bytes; past the end it
// gives 0 and remembers it.
type beReader struct {
	b   []byte
	bad bool
}

func (r *beReader) ok() bool { return !r.bad }

func (r *beReader) uint(n int) uint64 {
	if n == 0 || r.bad {
		return 0
	}
	if n > 8 || n > len(r.b) {
		r.bad = true
		return 0
	}
	var v uint64
	for _, c := range r.b[:n] {
		v = v<<8 | uint64(c)
	}
	r.b = r.b[n:]
	return v
}
