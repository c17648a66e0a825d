package scrub

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"

	"github.com/imigee/imigee/node/scrub/scrubtest"
)

// Benchmarks are ratios against a raw baseline in the same run:
// BenchmarkRead/raw is the node's hash pass without scrubbing (SHA-256
// over 1 MiB reads), BenchmarkRead/scrubbed the same pass with Scan and
// the streaming Reader in front, as each of the node's two sealing
// passes now does.

// bigJPEG is a 12-megapixel-class photo: the test JPEG's metadata in
// front of a 2000×1500 noisy image (several MiB of entropy-coded data
// that Scan walks for markers).
func bigJPEG(b *testing.B) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2000, 1500))
	var x uint32 = 1
	for i := range img.Pix {
		x = x*1664525 + 1013904223
		img.Pix[i] = byte(x >> 24)
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		b.Fatal(err)
	}
	meta := scrubtest.JPEG(binary.BigEndian)
	// The test JPEG's APP1 segments, then the big image after its SOI.
	end := 2
	for meta[end+1] == 0xE1 || meta[end+1] == 0xED {
		end += 2 + int(binary.BigEndian.Uint16(meta[end+2:]))
	}
	return append(meta[:end:end], buf.Bytes()[2:]...)
}

func BenchmarkRead(b *testing.B) {
	files := map[string][]byte{"jpeg": bigJPEG(b), "mp4": scrubtest.MP4(32 << 20)}
	for _, name := range []string{"jpeg", "mp4"} {
		f := files[name]
		b.Run(name+"/raw", func(b *testing.B) {
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				hashPass(bytes.NewReader(f))
			}
		})
		b.Run(name+"/scan", func(b *testing.B) {
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				if _, err := Scan(bytes.NewReader(f), int64(len(f))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/scrubbed", func(b *testing.B) {
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				r := bytes.NewReader(f)
				p, err := Scan(r, int64(len(f)))
				if err != nil || p.Regions == 0 {
					b.Fatal(err)
				}
				hashPass(p.Reader(r))
			}
		})
	}
}

// hashPass reads r as node.hashSource does.
func hashPass(r io.Reader) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err != nil {
			return
		}
	}
}
