package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// jpegWithExif returns a real 8×8 JPEG whose APP1 segment carries an EXIF
// block with DateTimeOriginal = taken (the EXIF text form, no zone) and
// DateTime = other, built by hand: the TIFF header (big endian), IFD0
// with DateTime and the pointer to the Exif IFD, and the Exif IFD with
// DateTimeOriginal.
func jpegWithExif(t testing.TB, taken, other string) []byte {
	t.Helper()
	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	var tiff []byte
	tiff = append(tiff, 'M', 'M', 0, 42)
	tiff = be.AppendUint32(tiff, 8)
	entry := func(b []byte, tag, typ uint16, count, value uint32) []byte {
		b = be.AppendUint16(b, tag)
		b = be.AppendUint16(b, typ)
		b = be.AppendUint32(b, count)
		return be.AppendUint32(b, value)
	}
	const ifd0 = 8
	const exifIFD = ifd0 + 2 + 2*12 + 4 // 38
	const data = exifIFD + 2 + 12 + 4   // 56
	otherOff := uint32(data)
	takenOff := uint32(data + 20)
	tiff = be.AppendUint16(tiff, 2)
	tiff = entry(tiff, 0x0132, 2, 20, otherOff) // DateTime, ASCII
	tiff = entry(tiff, 0x8769, 4, 1, exifIFD)   // ExifIFDPointer, LONG
	tiff = be.AppendUint32(tiff, 0)
	tiff = be.AppendUint16(tiff, 1)
	tiff = entry(tiff, 0x9003, 2, 20, takenOff) // DateTimeOriginal, ASCII
	tiff = be.AppendUint32(tiff, 0)
	tiff = append(tiff, other+"\x00"...)
	tiff = append(tiff, taken+"\x00"...)
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	var out []byte
	out = append(out, img.Bytes()[:2]...) // SOI
	out = append(out, 0xFF, 0xE1)
	out = be.AppendUint16(out, uint16(len(app1)+2))
	out = append(out, app1...)
	return append(out, img.Bytes()[2:]...)
}

// TestCaptureTime: EXIF DateTimeOriginal wins (read in the given zone,
// not DateTime); a JPEG without EXIF, a broken EXIF block and a video
// fall back to the file's modification time.
func TestCaptureTime(t *testing.T) {
	dir := t.TempDir()
	zone := time.FixedZone("UTC-3", -3*3600)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withExif := jpegWithExif(t, "2026:07:14 21:03:09", "2026:08:01 10:00:00")
	var plain bytes.Buffer
	_ = jpeg.Encode(&plain, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	broken := bytes.Clone(withExif)
	copy(broken[12:16], "XXXX") // the TIFF byte order mark
	for _, c := range []struct {
		name string
		b    []byte
		want time.Time
		src  string
	}{
		{"exif.jpg", withExif, time.Date(2026, 7, 14, 21, 3, 9, 0, zone), takenExif},
		{"plain.jpg", plain.Bytes(), mtime, takenMtime},
		{"broken.jpg", broken, mtime, takenMtime},
		{"clip.mp4", withExif, mtime, takenMtime},
		{"empty.jpg", nil, mtime, takenMtime},
	} {
		got, src, err := captureTime(write(c.name, c.b), zone)
		if err != nil || !got.Equal(c.want) || src != c.src {
			t.Errorf("%s: %v (%s) %v, want %v (%s)", c.name, got, src, err, c.want, c.src)
		}
	}
	if _, _, err := captureTime(filepath.Join(dir, "missing.jpg"), zone); err == nil {
		t.Error("missing file: no error")
	}
}

// FuzzExifTaken: any bytes give a time or "not found", never a panic
// past exifTaken (goexif is fed photos of any origin, including ones a
// friend sent).
func FuzzExifTaken(f *testing.F) {
	f.Add(jpegWithExif(f, "2026:07:14 21:03:09", "2026:08:01 10:00:00"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 8, 'E', 'x', 'i', 'f', 0, 0})
	f.Add([]byte("MM\x00*\x00\x00\x00\x08"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if tm, ok := exifTaken(bytes.NewReader(b), time.UTC); ok && tm.Year() < 1990 {
			t.Fatalf("accepted %v", tm)
		}
	})
}
