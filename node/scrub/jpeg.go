package scrub

import "bytes"

// JPEG markers.
const (
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mAPP1  = 0xE1
	mAPP13 = 0xED
	mCOM   = 0xFE
	mTEM   = 0x01
	mRST0  = 0xD0
	mRST7  = 0xD7
)

// APP1 identifiers.
var (
	exifID   = []byte("Exif\x00")
	xmpID    = []byte("http://ns.adobe.com/xap/1.0/\x00")
	xmpExtID = []byte("http://ns.adobe.com/xmp/extension/\x00")
	// Photoshop image resources: IPTC's City, Sub-location, State and
	// Country, and sometimes a copy of the EXIF.
	photoshopID = []byte("Photoshop 3.0\x00")
)

// entropyBuf is how much of a scan's entropy-coded data is read at a time
// while looking for the next marker.
const entropyBuf = 64 << 10

func isJPEG(b []byte) bool { return len(b) >= 3 && b[0] == 0xFF && b[1] == mSOI && b[2] == 0xFF }

// jpeg scrubs the JPEG at [start, end) of the file: every marker segment
// is visited (also between the scans of a progressive JPEG, and in JPEGs
// appended after EOI, as MPF secondary images and gain maps are). An EXIF
// APP1 gets its GPS IFD blanked (tiff); an XMP or extended-XMP APP1 (which
// repeats the GPS in exif:GPS* properties) and a Photoshop APP13 (IPTC
// place names) become a COM segment of the same length filled with
// spaces; an EXIF APP1 that does not hold TIFF is
// turned into COM the same way. Parsing stops at the first byte that is
// not where a marker must be: what follows passes unchanged.
func (s *scanner) jpeg(start, end int64, depth int) {
	pos := start + 2 // after SOI
	for pos+2 <= end && s.err == nil {
		hdr, ok := s.readAt(pos, min(4, end-pos))
		if !ok || hdr[0] != 0xFF {
			return
		}
		m := hdr[1]
		switch {
		case m == 0xFF: // fill byte before a marker
			pos++
			continue
		case m == mEOI:
			pos += 2
			// Another JPEG may follow (MPF images, gain maps).
			if next, ok := s.readAt(pos, min(3, end-pos)); ok && isJPEG(next) {
				pos += 2
				continue
			}
			return
		case m == mSOI || m == mTEM || (m >= mRST0 && m <= mRST7):
			pos += 2
			continue
		}
		if len(hdr) < 4 {
			return
		}
		l := int64(hdr[2])<<8 | int64(hdr[3])
		if l < 2 || pos+2+l > end {
			return // truncated: stop
		}
		switch m {
		case mAPP1:
			s.app1(pos, l, depth)
		case mAPP13:
			if id, ok := s.readAt(pos+4, min(l-2, int64(len(photoshopID)))); ok && bytes.Equal(id, photoshopID) {
				s.toComment(pos, l)
			}
		}
		pos += 2 + l
		if m == mSOS {
			pos = s.skipEntropy(pos, end)
		}
	}
}

// app1 handles the APP1 segment at pos with length field l.
func (s *scanner) app1(pos, l int64, depth int) {
	body, ok := s.readAt(pos+4, l-2)
	if !ok {
		return
	}
	switch {
	case bytes.HasPrefix(body, exifID) && len(body) >= 6:
		// "Exif\0" and a pad byte (0 in the standard, 0xFF in some
		// writers), then TIFF.
		if s.tiff(body[6:], pos+4+6, depth) {
			return
		}
		s.toComment(pos, l)
	case bytes.HasPrefix(body, xmpID), bytes.HasPrefix(body, xmpExtID):
		s.toComment(pos, l)
	}
}

// toComment turns the segment at pos (length field l) into a COM segment
// of the same length holding spaces.
func (s *scanner) toComment(pos, l int64) {
	s.regions++
	s.add(pos+1, 1, mCOM, nil)
	s.add(pos+4, l-2, ' ', nil)
}

// skipEntropy returns the position of the first marker at or after pos
// that ends entropy-coded data (0xFF followed by neither 0x00, a restart
// marker, nor another 0xFF), or end.
func (s *scanner) skipEntropy(pos, end int64) int64 {
	if s.buf == nil {
		s.buf = make([]byte, entropyBuf)
	}
	for pos < end && s.err == nil {
		b, ok := s.readInto(s.buf[:min(entropyBuf, end-pos)], pos)
		if !ok {
			return end
		}
		i := 0
		for {
			j := bytes.IndexByte(b[i:], 0xFF)
			if j < 0 {
				break
			}
			i += j
			if i+1 >= len(b) {
				break // the byte after is in the next block: re-read from here
			}
			c := b[i+1]
			if c != 0x00 && c != 0xFF && (c < mRST0 || c > mRST7) {
				return pos + int64(i)
			}
			i++
		}
		if i+1 >= len(b) && len(b) > 1 && b[len(b)-1] == 0xFF {
			pos += int64(len(b)) - 1
			if pos+1 >= end {
				return end
			}
			continue
		}
		pos += int64(len(b))
	}
	return end
}
