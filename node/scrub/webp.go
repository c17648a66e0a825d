package scrub

import (
	"bytes"
	"encoding/binary"
)

func isWebP(b []byte) bool {
	return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
}

// webp scrubs a WebP (RIFF) file: the EXIF chunk's GPS IFD is blanked
// (tiff; the chunk is TIFF, with or without an "Exif\0\0" prefix) and the
// XMP chunk becomes spaces. RIFF has no checksums; chunk sizes stay. An
// EXIF chunk that is not TIFF or is over MaxMetaRead is zeroed whole.
func (s *scanner) webp() {
	pos := int64(12)
	for pos+8 <= s.size && s.err == nil {
		hdr, ok := s.readAt(pos, 8)
		if !ok {
			return
		}
		l := int64(binary.LittleEndian.Uint32(hdr[4:]))
		if l > s.size-pos-8 {
			return
		}
		body := pos + 8
		switch string(hdr[:4]) {
		case "EXIF":
			s.webpExif(body, l)
		case "XMP ":
			s.regions++
			s.add(body, l, ' ', nil)
		}
		pos = body + l + l&1 // chunks are padded to even sizes
	}
}

func (s *scanner) webpExif(body, l int64) {
	if l <= MaxMetaRead {
		if data, ok := s.readAt(body, l); ok {
			skip := int64(0)
			if bytes.HasPrefix(data, []byte("Exif\x00\x00")) {
				skip = 6
			}
			if s.tiff(data[skip:], body+skip, 0) {
				return
			}
		}
	}
	s.regions++
	s.zero(body, l)
}
