package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

// photoSize is the edge of the demo photo in pixels: 256 (about 100 KiB
// as PNG: two 64 KiB chunks on the wire).
const photoSize = 256

// writePhoto draws a small picture (a sunset over a fountain, roughly) as a
// PNG at path and returns its size in bytes.
func writePhoto(path string) (int64, error) {
	img := image.NewRGBA(image.Rect(0, 0, photoSize, photoSize))
	for y := 0; y < photoSize; y++ {
		for x := 0; x < photoSize; x++ {
			fy := float64(y) / photoSize
			c := color.RGBA{uint8(255 - 90*fy), uint8(140 + 60*fy), uint8(60 + 160*fy), 255}
			dx, dy := float64(x-photoSize/2), float64(y-photoSize*3/4)
			if r := math.Hypot(dx, dy*2); r < 50 {
				c = color.RGBA{40, uint8(120 + r), 220, 255}
			}
			// A little noise so the file is not trivially compressible.
			n := uint8((x*7919 ^ y*104729) % 23)
			c.R, c.G, c.B = c.R^n, c.G^n, c.B^n
			img.Set(x, y, c)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
