package scrub

import "encoding/binary"

// timedFormats are the sample entry formats of timed-metadata tracks
// whose samples carry a position: GoPro's GPMF (gpmd: GPS5/GPS9 streams
// beside the motion sensors) and Google's camera motion metadata (camm,
// which has GPS sample types).
var timedFormats = map[string]bool{"gpmd": true, "camm": true}

// timedTrack zeroes every sample of trak when its sample entry is one of
// timedFormats: the chunk offsets (stco/co64), samples per chunk (stsc)
// and sample sizes (stsz) locate them in the media data. The sensor data
// beside the position goes with it. Tables over MaxMetaRead are
// ErrTooComplex: the samples cannot be found, so the file must not go
// (and so is a fragmented file with such a track: s.timed, see bmff).
func (s *scanner) timedTrack(trak box) {
	stbl, ok := s.path(trak, "mdia", "minf", "stbl")
	if !ok {
		return
	}
	var stsd, stsc, stsz, stco box
	wide := false
	s.children(stbl.body, stbl.end, func(b box) {
		switch b.typ {
		case "stsd":
			stsd = b
		case "stsc":
			stsc = b
		case "stsz":
			stsz = b
		case "stco", "co64":
			stco, wide = b, b.typ == "co64"
		}
	})
	if stsd.end == 0 {
		return
	}
	timed := false
	s.children(stsd.body+8, stsd.end, func(e box) { timed = timed || timedFormats[e.typ] })
	if !timed {
		return
	}
	s.timed = true
	// From here on, a track whose samples cannot be located (a table
	// missing, stz2 instead of stsz, a table shorter than its header) is
	// ErrTooComplex: its positions would go out unblanked.
	if stsc.end == 0 || stsz.end == 0 || stco.end == 0 {
		s.fail(ErrTooComplex)
		return
	}
	tables := [3]box{stco, stsc, stsz}
	var data [3][]byte
	for i, b := range tables {
		if b.end-b.body > MaxMetaRead {
			s.fail(ErrTooComplex)
			return
		}
		if data[i], ok = s.readAt(b.body, b.end-b.body); !ok || len(data[i]) < 8 {
			s.fail(ErrTooComplex) // no-op when readAt already recorded an error
			return
		}
	}
	offs := chunkOffsets(data[0], wide)
	runs := data[1][8:] // (first chunk, samples per chunk, description) × n
	nRuns := min(int(binary.BigEndian.Uint32(data[1][4:])), len(runs)/12)
	sz := data[2]
	if len(sz) < 12 || (nRuns == 0 && len(offs) > 0) {
		s.fail(ErrTooComplex)
		return
	}
	fixed, nSamples := int64(binary.BigEndian.Uint32(sz[4:])), int(binary.BigEndian.Uint32(sz[8:]))
	sizes := sz[12:]
	if fixed == 0 {
		nSamples = min(nSamples, len(sizes)/4)
	}
	sample, run := 0, 0
	s.regions++
	for c, off := range offs {
		chunk := c + 1
		for run+1 < nRuns && int(binary.BigEndian.Uint32(runs[(run+1)*12:])) <= chunk {
			run++
		}
		spc := min(int(binary.BigEndian.Uint32(runs[run*12+4:])), nSamples-sample)
		var n int64
		if fixed != 0 {
			n = fixed * int64(spc)
			sample += spc
		} else {
			for range spc {
				n += int64(binary.BigEndian.Uint32(sizes[4*sample:]))
				sample++
			}
		}
		if off >= 0 && n > 0 {
			s.zero(off, min(n, s.size))
		}
		if sample >= nSamples || s.err != nil {
			return
		}
	}
}

// chunkOffsets reads an stco (32-bit) or co64 (64-bit) payload.
func chunkOffsets(p []byte, wide bool) []int64 {
	w := 4
	if wide {
		w = 8
	}
	n := min(int(binary.BigEndian.Uint32(p[4:])), (len(p)-8)/w)
	out := make([]int64, 0, n)
	for i := range n {
		q := p[8+i*w:]
		if wide {
			out = append(out, int64(binary.BigEndian.Uint64(q)&(1<<62-1)))
		} else {
			out = append(out, int64(binary.BigEndian.Uint32(q)))
		}
	}
	return out
}

// path descends from b through the first child of each type in turn.
func (s *scanner) path(b box, types ...string) (box, bool) {
	for _, t := range types {
		var next box
		found := false
		s.children(b.body, b.end, func(c box) {
			if !found && c.typ == t {
				next, found = c, true
			}
		})
		if !found {
			return box{}, false
		}
		b = next
	}
	return b, true
}
