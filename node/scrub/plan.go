package scrub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Limits. A file that needs more is not shared (ErrTooComplex): failing
// closed is the only answer P3 allows.
const (
	// MaxPatches caps the blanked regions of one file: 65536 (about
	// 3 MiB of bookkeeping). Real photos need a handful.
	MaxPatches = 1 << 16
	// MaxBoxes caps the ISO BMFF boxes visited in one file: 1<<20 (a
	// fragmented hour-long video has a few thousand top-level boxes).
	MaxBoxes = 1 << 20
	// MaxMetaRead caps a metadata block read into memory to be parsed (a
	// PNG eXIf chunk, a HEIF Exif item, an MP4 keys box): 4 MiB. A bigger
	// one is blanked whole instead of parsed.
	MaxMetaRead = 4 << 20
	// MaxMetaTotal caps what Scan reads of one file into memory to parse
	// (segments, chunks, boxes' headers and tables, items; not the
	// JPEG entropy-coded data it skips through in fixed blocks): 64 MiB,
	// far above any real file's metadata. A crafted file that points many
	// items at one big extent stops here (ErrTooComplex).
	MaxMetaTotal = 64 << 20
	// maxDepth bounds nesting: boxes in boxes, thumbnails in EXIF.
	maxDepth = 8
)

// ErrTooComplex is returned by Scan for a file whose metadata needs more
// than MaxPatches blanked regions, MaxBoxes boxes or MaxMetaTotal bytes
// read: it is not scrubbed, so it must not be shared.
var ErrTooComplex = errors.New("scrub: too many metadata regions")

// Formats Scan recognises (Plan.Format).
const (
	FormatUnknown = ""     // passed unchanged
	FormatJPEG    = "jpeg" // EXIF GPS IFD, XMP and extended XMP
	FormatPNG     = "png"  // eXIf chunk's GPS IFD, XMP iTXt/tEXt
	FormatBMFF    = "bmff" // MP4/MOV/3GP: ©xyz, loci, Apple location keys, XMP
	FormatHEIF    = "heif" // HEIC/HEIF/AVIF: Exif item's GPS IFD, XMP item
	FormatWebP    = "webp" // EXIF chunk's GPS IFD, XMP chunk
)

// patch replaces n bytes at off: with data when it is set, else with
// fill.
type patch struct {
	off  int64
	n    int64
	fill byte
	data []byte
}

func (p patch) at(i int64) byte {
	if p.data != nil {
		return p.data[i-p.off]
	}
	return p.fill
}

// Plan is what Scan found: the regions of one file to blank. Applying it
// never changes the file's size.
type Plan struct {
	// Format is one of the Format constants.
	Format string
	// Regions counts what was blanked: GPS IFDs, XMP packets, location
	// boxes (0: the file held no location Scan knows of).
	Regions int

	layers []layer
}

// layer is patches sorted by offset, applied in that order.
type layer struct {
	patches []patch
	reach   []int64 // reach[i]: the furthest end of patches[:i+1]
}

func newLayer(ps []patch) layer {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].off < ps[j].off })
	l := layer{patches: ps, reach: make([]int64, len(ps))}
	var far int64
	for i, q := range ps {
		far = max(far, q.off+q.n)
		l.reach[i] = far
	}
	return l
}

// layered orders patches for applying: blanking with spaces and data
// (COM segments, XMP, CRCs) first, zeros last, so that where regions of
// a crafted file overlap, location bytes end up zero whatever else was
// written over them.
func layered(ps []patch) []layer {
	var other, zeros []patch
	for _, q := range ps {
		if q.data == nil && q.fill == 0 {
			zeros = append(zeros, q)
		} else {
			other = append(other, q)
		}
	}
	return []layer{newLayer(other), newLayer(zeros)}
}

// Blanked is how many bytes the plan changes (an upper bound when
// regions overlap).
func (p *Plan) Blanked() int64 {
	var n int64
	for _, l := range p.layers {
		for _, q := range l.patches {
			n += q.n
		}
	}
	return n
}

// scanner collects patches for one file.
type scanner struct {
	r       io.ReaderAt
	size    int64
	patches []patch
	regions int
	boxes   int
	timed   bool   // a GPS timed-metadata track was seen (timedTrack)
	err     error  // first I/O or limit error; stops the scan
	buf     []byte // skipEntropy's block, reused
	budget  int64  // bytes readAt may still read (MaxMetaTotal)
}

func (s *scanner) add(off, n int64, fill byte, data []byte) {
	if n <= 0 || off < 0 || off >= s.size {
		return
	}
	if off+n > s.size {
		n = s.size - off
		if data != nil {
			data = data[:n]
		}
	}
	if len(s.patches) >= MaxPatches {
		s.fail(ErrTooComplex)
		return
	}
	s.patches = append(s.patches, patch{off: off, n: n, fill: fill, data: data})
}

func (s *scanner) zero(off, n int64) { s.add(off, n, 0, nil) }

func (s *scanner) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// readAt reads exactly n bytes at off; false (and no error recorded) if
// they are past the end, false with s.err set on an I/O error.
func (s *scanner) readAt(off, n int64) ([]byte, bool) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, false
	}
	if s.budget -= n; s.budget < 0 {
		s.fail(ErrTooComplex)
		return nil, false
	}
	return s.readInto(make([]byte, n), off)
}

// readInto is readAt into b.
func (s *scanner) readInto(b []byte, off int64) ([]byte, bool) {
	if off < 0 || off > s.size || int64(len(b)) > s.size-off {
		return nil, false
	}
	m, err := s.r.ReadAt(b, off)
	if m == len(b) {
		return b, true
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the file shrank under us
	}
	s.fail(fmt.Errorf("scrub: read: %w", err))
	return nil, false
}

// Scan reads the file r of size bytes (only its metadata: headers, boxes,
// segments, and a JPEG's entropy-coded data to find the markers after it)
// and returns the plan that removes its location. An unrecognised format
// gets an empty plan. Errors are r's, or ErrTooComplex; a malformed file
// is not an error: what can be parsed is scrubbed, and metadata that
// cannot be parsed is blanked whole (see the package doc).
func Scan(r io.ReaderAt, size int64) (*Plan, error) {
	return scan(&scanner{r: r, size: size, budget: MaxMetaTotal})
}

func scan(s *scanner) (*Plan, error) {
	format := FormatUnknown
	head, _ := s.readAt(0, min(s.size, 16))
	switch {
	case isJPEG(head):
		format = FormatJPEG
		s.jpeg(0, s.size, 0)
	case isPNG(head):
		format = FormatPNG
		s.png()
	case isBMFF(head):
		format = s.bmff()
	case isWebP(head):
		format = FormatWebP
		s.webp()
	}
	if s.err != nil {
		return nil, s.err
	}
	return &Plan{Format: format, Regions: s.regions, layers: layered(s.patches)}, nil
}

// Apply scrubs b in place with the plan (b is the file the plan was made
// from, or its prefix).
func (p *Plan) Apply(b []byte) {
	p.applyAt(b, 0)
}

// applyAt applies patches to b, which holds the file's bytes from off.
func (p *Plan) applyAt(b []byte, off int64) {
	applyLayers(p.layers, b, off)
}

func applyLayers(ls []layer, b []byte, off int64) {
	for _, l := range ls {
		l.apply(b, off)
	}
}

func (l layer) apply(b []byte, off int64) {
	end := off + int64(len(b))
	// The first patch that may reach off (reach is non-decreasing).
	i := sort.Search(len(l.reach), func(i int) bool { return l.reach[i] > off })
	for ; i < len(l.patches) && l.patches[i].off < end; i++ {
		q := l.patches[i]
		lo, hi := max(q.off, off), min(q.off+q.n, end)
		for x := lo; x < hi; x++ {
			b[x-off] = q.at(x)
		}
	}
}

// Reader returns r (the file the plan was made from, read from its start)
// with the plan applied as it streams: nothing is buffered beyond each
// Read's own slice.
func (p *Plan) Reader(r io.Reader) io.Reader {
	if p.Blanked() == 0 {
		return r
	}
	return &reader{r: r, p: p}
}

type reader struct {
	r   io.Reader
	off int64
	p   *Plan
}

func (r *reader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.p.applyAt(b[:n], r.off)
		r.off += int64(n)
	}
	return n, err
}

// Bytes returns a scrubbed copy of b (Scan and Apply over memory).
func Bytes(b []byte) ([]byte, *Plan, error) {
	p, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	out := append([]byte(nil), b...)
	p.Apply(out)
	return out, p, nil
}
