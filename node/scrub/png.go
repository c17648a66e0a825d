package scrub

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// xmpKeyword is the iTXt/tEXt keyword of an XMP packet in PNG.
var xmpKeyword = []byte("XML:com.adobe.xmp\x00")

func isPNG(b []byte) bool { return bytes.HasPrefix(b, pngSig) }

// png scrubs a PNG: the eXIf chunk's GPS IFD is blanked (tiff), an XMP
// iTXt or tEXt chunk's text becomes spaces, and each changed chunk's CRC
// is recomputed. Chunks keep their lengths. Parsing stops at a chunk that
// does not fit in the file or after IEND.
func (s *scanner) png() {
	pos := int64(len(pngSig))
	for pos+12 <= s.size && s.err == nil {
		hdr, ok := s.readAt(pos, 8)
		if !ok {
			return
		}
		l := int64(binary.BigEndian.Uint32(hdr))
		typ := string(hdr[4:8])
		if l > s.size-pos-12 {
			return
		}
		switch typ {
		case "eXIf":
			s.pngExif(pos, l)
		case "iTXt", "tEXt":
			s.pngXMP(pos, l, typ)
		case "IEND":
			return
		}
		pos += 12 + l
	}
}

// pngExif blanks the GPS IFD in the eXIf chunk at pos (data length l); a
// chunk too big to parse or that is not TIFF is zeroed whole.
func (s *scanner) pngExif(pos, l int64) {
	first := len(s.patches)
	if l <= MaxMetaRead {
		data, ok := s.readAt(pos+8, l)
		if !ok {
			return
		}
		if s.tiff(data, pos+8, 0) {
			if len(s.patches) > first {
				s.pngCRC(pos, l, data, first)
			}
			return
		}
	}
	s.regions++
	s.zero(pos+8, l)
	s.pngCRC(pos, l, nil, first)
}

// pngXMP blanks the text of an XMP iTXt/tEXt chunk at pos: the keyword
// stays, the rest becomes an uncompressed, untagged iTXt (flags and
// empty language fields) or tEXt of spaces.
func (s *scanner) pngXMP(pos, l int64, typ string) {
	kw, ok := s.readAt(pos+8, min(l, int64(len(xmpKeyword))))
	if !ok || !bytes.Equal(kw, xmpKeyword) {
		return
	}
	first := len(s.patches)
	s.regions++
	rest := pos + 8 + int64(len(xmpKeyword))
	left := l - int64(len(xmpKeyword))
	if typ == "iTXt" {
		// compression flag, method, language "", translated keyword "".
		n := min(left, 4)
		s.zero(rest, n)
		rest, left = rest+n, left-n
	}
	s.add(rest, left, ' ', nil)
	s.pngCRC(pos, l, nil, first)
}

// pngCRC recomputes the CRC of the chunk at pos (data length l) over its
// data with the patches from s.patches[first:] applied. data is the
// chunk's data when already read, else it is read a block at a time.
func (s *scanner) pngCRC(pos, l int64, data []byte, first int) {
	typ, ok := s.readAt(pos+4, 4)
	if !ok {
		return
	}
	h := crc32.NewIEEE()
	h.Write(typ)
	// In the same order as the final plan.
	ls := layered(append([]patch(nil), s.patches[first:]...))
	for off := int64(0); off < l; {
		n := min(int64(entropyBuf), l-off)
		var b []byte
		if data != nil {
			b = append([]byte(nil), data[off:off+n]...)
		} else if b, ok = s.readAt(pos+8+off, n); !ok {
			return
		}
		applyLayers(ls, b, pos+8+off)
		h.Write(b)
		off += n
	}
	s.add(pos+8+l, 4, 0, binary.BigEndian.AppendUint32(nil, h.Sum32()))
}
