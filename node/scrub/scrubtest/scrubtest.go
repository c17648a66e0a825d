// Package scrubtest makes small, real-looking photos and videos that
// carry a known location (the Eiffel Tower's), in every place package
// node/scrub removes it from, and tells which of those location bytes a
// file still holds (Leaks). The tests of node/scrub and node use it, the
// first to check each format, the second to play a sender whose phone
// writes GPS into everything and a friend who looks for it.
package scrubtest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// The location every file carries.
var (
	// Lat is 48°51'29.79" N as EXIF rationals.
	Lat = [6]uint32{48, 1, 51, 1, 2979, 100}
	// Lon is 2°17'40.12" E as EXIF rationals.
	Lon = [6]uint32{2, 1, 17, 1, 4012, 100}
)

const (
	// ISO6709 is the location string of ©xyz and Apple's location key.
	ISO6709 = "+48.8583+002.2945+035.000/"
	// XMPLat is the exif:GPSLatitude value of the XMP packets.
	XMPLat = "48,51.4965N"
	// PlaceName is the value of Apple's location name key and of the
	// IPTC Sub-location in the JPEG's APP13.
	PlaceName = "Tour Eiffel"
	// DateTimeOriginal is the capture time in the EXIF Exif IFD (kept).
	DateTimeOriginal = "2026:07:14 21:03:09"
	// Orientation is IFD0's orientation (kept): 6, rotate 90° CW.
	Orientation = 6
	// Make is the value of the movie's non-location key (kept).
	Make = "Apple"
)

// XMP is an XMP packet with the location in exif:GPS* properties.
const XMP = `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="` + XMPLat + `" exif:GPSLongitude="2,17.6687E"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`

// Order is a byte order that can also append: binary.BigEndian or
// binary.LittleEndian.
type Order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// rationals encodes r in order.
func rationals(order Order, r []uint32) []byte {
	var b []byte
	for _, v := range r {
		b = order.AppendUint32(b, v)
	}
	return b
}

// Leaks lists the location markers b still holds: the latitude or
// longitude rationals in either byte order, the ISO 6709 string, the XMP
// latitude and the place name.
func Leaks(b []byte) []string {
	var out []string
	for _, o := range []Order{binary.BigEndian, binary.LittleEndian} {
		if bytes.Contains(b, rationals(o, Lat[:])) {
			out = append(out, "latitude rationals ("+o.String()+")")
		}
		if bytes.Contains(b, rationals(o, Lon[:])) {
			out = append(out, "longitude rationals ("+o.String()+")")
		}
	}
	for _, s := range []string{ISO6709, XMPLat, PlaceName, "+48.8583"} {
		if bytes.Contains(b, []byte(s)) {
			out = append(out, s)
		}
	}
	return out
}

// ifdEntry is one TIFF entry; val is inline (≤ 4 bytes) or placed after
// the IFD.
type ifdEntry struct {
	tag, typ uint16
	count    uint32
	val      []byte
	ptr      func() uint32 // a LONG pointer filled in late
}

// tiffWriter lays out IFDs and their values one after the other.
type tiffWriter struct {
	o   Order
	buf []byte
}

// ifd appends an IFD and its out-of-line values; next is the next-IFD
// link (0: none). It returns the IFD's offset.
func (w *tiffWriter) ifd(es []ifdEntry, next uint32) uint32 {
	at := uint32(len(w.buf))
	w.buf = w.o.AppendUint16(w.buf, uint16(len(es)))
	valAt := at + 2 + 12*uint32(len(es)) + 4
	var vals []byte
	for _, e := range es {
		w.buf = w.o.AppendUint16(w.buf, e.tag)
		w.buf = w.o.AppendUint16(w.buf, e.typ)
		w.buf = w.o.AppendUint32(w.buf, e.count)
		v := e.val
		if e.ptr != nil {
			v = w.o.AppendUint32(nil, e.ptr())
		}
		if len(v) <= 4 {
			w.buf = append(w.buf, append(v, make([]byte, 4-len(v))...)...)
			continue
		}
		w.buf = w.o.AppendUint32(w.buf, valAt+uint32(len(vals)))
		vals = append(vals, v...)
		if len(vals)%2 == 1 {
			vals = append(vals, 0)
		}
	}
	w.buf = w.o.AppendUint32(w.buf, next)
	w.buf = append(w.buf, vals...)
	return at
}

// TIFF is an EXIF TIFF structure in order: IFD0 (Orientation, Exif IFD,
// GPS IFD), the Exif IFD (DateTimeOriginal), the GPS IFD (version, N/E
// refs, latitude, longitude, altitude), and IFD1 with thumb as its JPEG
// thumbnail when thumb is set.
func TIFF(order Order, thumb []byte) []byte {
	w := &tiffWriter{o: order}
	if order == Order(binary.BigEndian) {
		w.buf = []byte{'M', 'M', 0, 42, 0, 0, 0, 8}
	} else {
		w.buf = []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	}
	// Fixed sizes: IFD0 3 entries = 42 bytes at 8; Exif IFD at 50 (18
	// bytes + 20 of date); GPS IFD at 88 (6 entries: 78 bytes + 56 of
	// values); IFD1 after it.
	const exifAt, gpsAt, ifd1At = 50, 88, 222
	next := uint32(0)
	if thumb != nil {
		next = ifd1At
	}
	short := order.AppendUint16(nil, Orientation)
	w.ifd([]ifdEntry{
		{tag: 0x0112, typ: 3, count: 1, val: short},
		{tag: 0x8769, typ: 4, count: 1, ptr: func() uint32 { return exifAt }},
		{tag: 0x8825, typ: 4, count: 1, ptr: func() uint32 { return gpsAt }},
	}, next)
	w.ifd([]ifdEntry{{tag: 0x9003, typ: 2, count: 20, val: append([]byte(DateTimeOriginal), 0)}}, 0)
	w.ifd([]ifdEntry{
		{tag: 0x0000, typ: 1, count: 4, val: []byte{2, 3, 0, 0}},
		{tag: 0x0001, typ: 2, count: 2, val: []byte("N\x00")},
		{tag: 0x0002, typ: 5, count: 3, val: rationals(order, Lat[:])},
		{tag: 0x0003, typ: 2, count: 2, val: []byte("E\x00")},
		{tag: 0x0004, typ: 5, count: 3, val: rationals(order, Lon[:])},
		{tag: 0x0006, typ: 5, count: 1, val: rationals(order, []uint32{35, 1})},
	}, 0)
	if len(w.buf) != ifd1At {
		panic("scrubtest: TIFF layout")
	}
	if thumb != nil {
		const thumbAt = ifd1At + 2 + 2*12 + 4
		w.ifd([]ifdEntry{
			{tag: 0x0201, typ: 4, count: 1, ptr: func() uint32 { return thumbAt }},
			{tag: 0x0202, typ: 4, count: 1, ptr: func() uint32 { return uint32(len(thumb)) }},
		}, 0)
		w.buf = append(w.buf, thumb...)
	}
	return w.buf
}

// segment is a JPEG marker segment.
func segment(marker byte, body []byte) []byte {
	b := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(body)+2))
	return append(b, body...)
}

// encodeJPEG encodes a w×h gradient.
func encodeJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 16), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// withSegments inserts segments right after a JPEG's SOI.
func withSegments(j []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), j[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, j[2:]...)
}

// Thumbnail is an 8×8 JPEG with an XMP packet of its own.
func Thumbnail() []byte {
	return withSegments(encodeJPEG(8, 8), segment(0xE1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), XMP...)))
}

// JPEG is a 32×32 photo as a phone writes it: an EXIF APP1 in order
// (with a thumbnail that has its own XMP), an XMP APP1, an extended-XMP
// APP1, a second EXIF APP1 in the other byte order (some editors keep
// the camera's and add their own), and a Photoshop APP13 with an IPTC
// place name (as an editor writes it).
func JPEG(order Order) []byte {
	var other Order = binary.LittleEndian
	if order == Order(binary.LittleEndian) {
		other = binary.BigEndian
	}
	exif1 := append([]byte("Exif\x00\x00"), TIFF(order, Thumbnail())...)
	exif2 := append([]byte("Exif\x00\x00"), TIFF(other, nil)...)
	xmp := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), XMP...)
	ext := append([]byte("http://ns.adobe.com/xmp/extension/\x00"), bytes.Repeat([]byte("0"), 32)...)
	ext = binary.BigEndian.AppendUint32(ext, uint32(len(XMP)))
	ext = binary.BigEndian.AppendUint32(ext, 0)
	ext = append(ext, XMP...)
	// Photoshop IRB 0x0404 (IPTC): record 2, dataset 92 (Sub-location).
	iptc := append([]byte{0x1C, 2, 92}, u16(uint16(len(PlaceName)))...)
	iptc = append(iptc, PlaceName...)
	irb := append([]byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00"), u32(uint32(len(iptc)))...)
	irb = append(irb, iptc...)
	if len(iptc)%2 == 1 {
		irb = append(irb, 0)
	}
	return withSegments(encodeJPEG(32, 32), segment(0xE1, exif1), segment(0xE1, xmp), segment(0xE1, ext), segment(0xE1, exif2), segment(0xED, irb))
}

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// PNG is a 4×4 PNG with an eXIf chunk (TIFF in order) and an XMP iTXt
// chunk after IHDR.
func PNG(order Order) []byte {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	p := buf.Bytes()
	ihdrEnd := 8 + 12 + 13
	out := append([]byte(nil), p[:ihdrEnd]...)
	out = append(out, pngChunk("eXIf", TIFF(order, nil))...)
	out = append(out, pngChunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"), XMP...))...)
	return append(out, p[ihdrEnd:]...)
}

// box is an ISO BMFF box.
func box(typ string, payload ...[]byte) []byte {
	var body []byte
	for _, p := range payload {
		body = append(body, p...)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

// largeBox is a box with a 64-bit size.
func largeBox(typ string, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1)
	b = append(b, typ...)
	b = binary.BigEndian.AppendUint64(b, uint64(16+len(body)))
	return append(b, body...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// MP4 is a phone video's container around mdatSize bytes of media (a
// 64-bit-size mdat before moov, as cameras write it): moov/udta holds
// ©xyz, loci and an XMP_ box; moov/meta (QuickTime style) holds keys and
// an item list with com.apple.quicktime.location.ISO6709,
// ...location.name and com.apple.quicktime.make; a track's udta holds
// another ©xyz; and a GoPro-style timed-metadata track (gpmd) has three
// GPS samples in two chunks of a second mdat.
func MP4(mdatSize int) []byte {
	xyz := box("\xa9xyz", u16(uint16(len(ISO6709))), u16(0x15c7), []byte(ISO6709))
	loci := box("loci", u32(0), u16(0x15c7), []byte(PlaceName+"\x00"), []byte{0}, u32(0x0002_4b8f), u32(0x0030_d9ef), u32(35<<16), []byte("earth\x00\x00"))
	udta := box("udta", xyz, loci, box("XMP_", []byte(XMP)))
	key := func(name string) []byte { return box("mdta", []byte(name)) }
	keys := box("keys", u32(0), u32(3), key("com.apple.quicktime.location.ISO6709"), key("com.apple.quicktime.location.name"), key("com.apple.quicktime.make"))
	item := func(i uint32, v string) []byte {
		return box(string(u32(i)), box("data", u32(1), u32(0), []byte(v)))
	}
	ilst := box("ilst", item(1, ISO6709), item(2, PlaceName), item(3, Make))
	hdlr := box("hdlr", u32(0), u32(0), []byte("mdta"), make([]byte, 12), []byte{0})
	meta := box("meta", hdlr, keys, ilst)
	trak := box("trak", box("tkhd", make([]byte, 84)), box("udta", xyz))
	media := make([]byte, mdatSize)
	for i := range media {
		media[i] = byte(i * 7)
	}
	head := append(box("ftyp", []byte("isom"), u32(0x200), []byte("isomiso2mp41")), largeBox("mdat", media)...)
	// GPMF-like samples: a GPS5 key, then the latitude rationals.
	sample := append([]byte("GPS5"), rationals(binary.BigEndian, Lat[:])...)
	sample = append(sample, 0, 0)
	gpsAt := uint32(len(head) + 8)
	n := uint32(len(sample))
	stbl := box("stbl",
		box("stsd", u32(0), u32(1), box("gpmd", make([]byte, 8))),
		box("stsc", u32(0), u32(2), u32(1), u32(2), u32(1), u32(2), u32(1), u32(1)),
		box("stsz", u32(0), u32(0), u32(3), u32(n), u32(n), u32(n)),
		box("stco", u32(0), u32(2), u32(gpsAt), u32(gpsAt+2*n)))
	gpmd := box("trak", box("tkhd", make([]byte, 84)), box("mdia",
		box("hdlr", u32(0), u32(0), []byte("meta"), make([]byte, 12), []byte{0}),
		box("minf", stbl)))
	moov := box("moov", box("mvhd", make([]byte, 100)), trak, gpmd, udta, meta)
	gps := box("mdat", sample, sample, sample)
	return append(append(head, gps...), moov...)
}

// HEIC is a HEIF photo: a meta box whose iinf names an hvc1 image item,
// an Exif item and an XMP (mime) item, and whose iloc (version 1, 4-byte
// offsets) places them in mdat. The Exif item is TIFF in order behind
// its 4-byte header offset and "Exif\0\0".
func HEIC(order Order) []byte { return heic(order, false) }

// HEICIdat is HEIC with the Exif item inside the meta box's idat
// (construction method 1, offsets relative to idat's payload).
func HEICIdat(order Order) []byte { return heic(order, true) }

func heic(order Order, inIdat bool) []byte {
	image := bytes.Repeat([]byte{0x42}, 64)
	exif := append(append(u32(6), "Exif\x00\x00"...), TIFF(order, nil)...)
	xmp := []byte(XMP)
	ftyp := box("ftyp", []byte("heic"), u32(0), []byte("mif1heic"))
	metaFor := func(mdatBody uint32) []byte {
		infe := func(id uint16, typ string, extra string) []byte {
			return box("infe", []byte{2, 0, 0, 0}, u16(id), u16(0), []byte(typ), []byte("\x00"+extra))
		}
		iinf := box("iinf", u32(0), u16(3), infe(1, "hvc1", ""), infe(2, "Exif", ""), infe(3, "mime", "application/rdf+xml\x00"))
		loc := func(id, method uint16, off, l uint32) []byte {
			// item ID, construction method, data reference 0, one
			// extent (no base offset: base_offset_size is 0).
			return bytes.Join([][]byte{u16(id), u16(method), u16(0), u16(1), u32(off), u32(l)}, nil)
		}
		var il []byte
		il = append(il, 1, 0, 0, 0, 0x44, 0x00)
		il = append(il, u16(3)...)
		il = append(il, loc(1, 0, mdatBody, uint32(len(image)))...)
		next := mdatBody + uint32(len(image))
		if inIdat {
			il = append(il, loc(2, 1, 0, uint32(len(exif)))...)
		} else {
			il = append(il, loc(2, 0, next, uint32(len(exif)))...)
			next += uint32(len(exif))
		}
		il = append(il, loc(3, 0, next, uint32(len(xmp)))...)
		hdlr := box("hdlr", u32(0), u32(0), []byte("pict"), make([]byte, 12), []byte{0})
		children := [][]byte{u32(0), hdlr, box("pitm", u32(0), u16(1)), iinf, box("iloc", il)}
		if inIdat {
			children = append(children, box("idat", exif))
		}
		return box("meta", children...)
	}
	meta := metaFor(0)
	mdatBody := uint32(len(ftyp) + len(meta) + 8)
	meta = metaFor(mdatBody)
	if inIdat {
		return append(append(ftyp, meta...), box("mdat", image, xmp)...)
	}
	return append(append(ftyp, meta...), box("mdat", image, exif, xmp)...)
}

// WebP is a WebP file (an extended-format header and a stand-in image
// chunk) with an EXIF chunk (TIFF in order) and an XMP chunk.
func WebP(order Order) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
		b = append(b, data...)
		if len(data)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	// VP8X: flags EXIF (0x08) and XMP (0x04), canvas 4×4.
	vp8x := []byte{0x0C, 0, 0, 0, 3, 0, 0, 3, 0, 0}
	body := append([]byte("WEBP"), chunk("VP8X", vp8x)...)
	body = append(body, chunk("VP8L", []byte{0x2f, 3, 0xc0, 0, 0, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0})...)
	body = append(body, chunk("EXIF", TIFF(order, nil))...)
	body = append(body, chunk("XMP ", []byte(XMP))...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}
