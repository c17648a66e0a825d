package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rwcarlsen/goexif/exif"
)

// maxExifScan is how much of a photo captureTime reads looking for its
// EXIF block: 256 KiB (a JPEG's APP1 segment is at most 64 KiB and comes
// first; a file without one costs no more than this).
const maxExifScan = 256 << 10

// exifTimeLayout is the EXIF date-time format ("2026:07:14 21:03:09").
const exifTimeLayout = "2006:01:02 15:04:05"

// Sources of a capture time.
const (
	takenExif  = "exif"  // EXIF DateTimeOriginal
	takenMtime = "mtime" // the file's modification time
)

// captureTime returns when the photo at path was taken: its EXIF
// DateTimeOriginal, read in zone (EXIF stores the camera's wall clock
// without a zone; the camera is assumed to be set to the local time),
// else the file's modification time; and which of the two it used.
// Only that one field is read: the EXIF block may also hold a GPS
// position, which is never read or sent.
func captureTime(path string, zone *time.Location) (time.Time, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}, "", err
	}
	if !isVideoExt(path) {
		if f, err := os.Open(path); err == nil {
			t, ok := exifTaken(io.LimitReader(f, maxExifScan), zone)
			f.Close()
			if ok {
				return t, takenExif, nil
			}
		}
	}
	return st.ModTime(), takenMtime, nil
}

// exifTaken parses DateTimeOriginal from r. Any failure (no EXIF, a
// broken one, a decoder panic on a malformed file) is "not found": the
// caller falls back to the modification time.
func exifTaken(r io.Reader, zone *time.Location) (t time.Time, ok bool) {
	defer func() {
		if recover() != nil {
			t, ok = time.Time{}, false
		}
	}()
	x, err := exif.Decode(r)
	if err != nil {
		return time.Time{}, false
	}
	tag, err := x.Get(exif.DateTimeOriginal)
	if err != nil {
		return time.Time{}, false
	}
	s, err := tag.StringVal()
	if err != nil {
		return time.Time{}, false
	}
	t, err = time.ParseInLocation(exifTimeLayout, strings.TrimSpace(strings.TrimRight(s, "\x00")), zone)
	if err != nil || t.Year() < 1990 {
		return time.Time{}, false
	}
	return t, true
}

// describeTaken renders a capture time for people.
func describeTaken(t time.Time, src string) string {
	return fmt.Sprintf("taken %s (%s)", t.Local().Format("2006-01-02 15:04"), src)
}
