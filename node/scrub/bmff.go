package scrub

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// xmpUUID is the uuid box type of an XMP packet in ISO BMFF files
// (BE7ACFCB-97A9-42E8-9C71-999491E3AFAC).
var xmpUUID = []byte{0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC}

// topBoxes are the box types a file may start with to be taken for ISO
// BMFF (MP4, MOV, 3GP, HEIF).
var topBoxes = map[string]bool{"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true, "wide": true, "pnot": true, "uuid": true}

func isBMFF(b []byte) bool {
	return len(b) >= 8 && binary.BigEndian.Uint32(b) != 0 && topBoxes[string(b[4:8])] // size 0 ("to the end") only for a last box
}

// box is one ISO BMFF box: [start, end) in the file, its payload from
// body.
type box struct {
	typ   string
	start int64
	body  int64
	end   int64
}

// boxAt reads the header of the box at pos inside a parent ending at
// limit; false if there is none (too short, or it overruns the parent).
func (s *scanner) boxAt(pos, limit int64) (box, bool) {
	if limit-pos < 8 {
		return box{}, false
	}
	if s.boxes++; s.boxes > MaxBoxes {
		s.fail(ErrTooComplex)
		return box{}, false
	}
	h, ok := s.readAt(pos, min(16, limit-pos))
	if !ok {
		return box{}, false
	}
	size, hl := int64(binary.BigEndian.Uint32(h)), int64(8)
	switch size {
	case 0: // to the end of the parent
		size = limit - pos
	case 1: // 64-bit size follows the type
		if len(h) < 16 {
			return box{}, false
		}
		u := binary.BigEndian.Uint64(h[8:])
		if u > uint64(limit-pos) {
			return box{}, false
		}
		size, hl = int64(u), 16
	}
	if size < hl || size > limit-pos {
		return box{}, false
	}
	return box{typ: string(h[4:8]), start: pos, body: pos + hl, end: pos + size}, true
}

// children calls fn for each box in [from, to).
func (s *scanner) children(from, to int64, fn func(box)) {
	for pos := from; s.err == nil; {
		b, ok := s.boxAt(pos, to)
		if !ok {
			return
		}
		fn(b)
		pos = b.end
	}
}

// bmff scrubs an ISO BMFF file: the movie's user data and metadata
// (movie), a top-level XMP uuid box, and a HEIF meta box (heif). Media
// data is never read.
func (s *scanner) bmff() string {
	format := FormatBMFF
	fragmented := false
	s.children(0, s.size, func(b box) {
		switch b.typ {
		case "moof":
			fragmented = true
		case "moov":
			s.movie(b, 1)
		case "uuid":
			s.xmpUUIDBox(b)
		case "meta":
			format = FormatHEIF
			s.heif(b)
			s.movieMeta(b) // a QuickTime-style item list, if any
		}
	})
	if fragmented && s.timed {
		// A GPS track's samples in movie fragments (moof/traf/trun) are
		// not located: the file must not go with them.
		s.fail(ErrTooComplex)
	}
	return format
}

// movie walks a moov, trak or udta box (and the meta boxes in them):
// ©xyz and loci payloads are zeroed, XMP_ and XMP uuid boxes become
// spaces, and location items of a metadata item list are zeroed (meta).
func (s *scanner) movie(c box, depth int) {
	if depth > maxDepth {
		return
	}
	s.children(c.body, c.end, func(b box) {
		switch b.typ {
		case "trak":
			s.movie(b, depth+1)
			s.timedTrack(b)
		case "udta":
			s.movie(b, depth+1)
		case "meta":
			s.movieMeta(b)
		case "\xa9xyz", "loci":
			s.regions++
			s.zero(b.body, b.end-b.body)
		case "XMP_":
			s.regions++
			s.add(b.body, b.end-b.body, ' ', nil)
		case "uuid":
			s.xmpUUIDBox(b)
		}
	})
}

// xmpUUIDBox blanks the packet of an XMP uuid box with spaces.
func (s *scanner) xmpUUIDBox(b box) {
	id, ok := s.readAt(b.body, min(16, b.end-b.body))
	if ok && bytes.Equal(id, xmpUUID) {
		s.regions++
		s.add(b.body+16, b.end-b.body-16, ' ', nil)
	}
}

// metaChildren is where the boxes of a meta box start: QuickTime's meta
// has none of ISO's version and flags before them.
func (s *scanner) metaChildren(b box) int64 {
	if h, ok := s.readAt(b.body, min(8, b.end-b.body)); ok && len(h) == 8 && string(h[4:8]) == "hdlr" {
		return b.body
	}
	return b.body + 4
}

// isLocationKey tells a metadata key that holds a place:
// com.apple.quicktime.location.ISO6709 and its siblings (name, body,
// note, role, accuracy), or anything else naming a location or GPS.
func isLocationKey(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "location") || strings.Contains(n, "gps") || strings.Contains(n, "xyz")
}

// movieMeta zeroes the values of location items in a meta box's item
// list: items whose key (keys box, 1-based index as the item type) is a
// location key, and ©xyz items. A keys box too big to read makes every
// item's value be zeroed.
func (s *scanner) movieMeta(m box) {
	var keys, ilst []box
	s.children(s.metaChildren(m), m.end, func(b box) {
		switch b.typ {
		case "keys":
			keys = append(keys, b)
		case "ilst":
			ilst = append(ilst, b)
		}
	})
	loc := map[uint32]bool{}
	all := false
	for _, k := range keys {
		if k.end-k.body > MaxMetaRead {
			all = true
			continue
		}
		kb, ok := s.readAt(k.body, k.end-k.body)
		if !ok || len(kb) < 8 {
			continue
		}
		// version/flags, entry count, then (size, namespace, name) entries.
		p := 8
		for i := uint32(1); p+8 <= len(kb); i++ {
			l := int(binary.BigEndian.Uint32(kb[p:]))
			if l < 8 || l > len(kb)-p {
				break
			}
			if isLocationKey(string(kb[p+8 : p+l])) {
				loc[i] = true
			}
			p += l
		}
	}
	for _, l := range ilst {
		s.children(l.body, l.end, func(it box) {
			idx := binary.BigEndian.Uint32([]byte(it.typ))
			if !all && !loc[idx] && it.typ != "\xa9xyz" {
				return
			}
			s.regions++
			found := false
			s.children(it.body, it.end, func(d box) {
				if d.typ == "data" && d.end-d.body >= 8 {
					found = true
					s.zero(d.body+8, d.end-d.body-8) // after type and locale
				}
			})
			if !found {
				s.zero(it.body, it.end-it.body)
			}
		})
	}
}
