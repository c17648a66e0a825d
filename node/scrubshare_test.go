package node

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imigee/imigee/node/scrub"
	"github.com/imigee/imigee/node/scrub/scrubtest"
	"github.com/rwcarlsen/goexif/exif"
)

// The adversary of these tests is the friend: it receives what a phone
// shares and searches every byte for the position the camera wrote into
// it (P3, P4). The files carry it in every place a phone writes one
// (node/scrub/scrubtest); the test first checks it is there.

// receive has b accept item id and returns the received file's bytes.
func receive(t *testing.T, b *testNode, id string) []byte {
	t.Helper()
	b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	if err := b.Accept(id); err != nil {
		t.Fatal(err)
	}
	got := b.ev.wait(t, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	data, err := os.ReadFile(got.Path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// noLocation checks a received file against what was shared: same size,
// no location byte left (and there was one to begin with).
func noLocation(t *testing.T, sent, got []byte) {
	t.Helper()
	if len(scrubtest.Leaks(sent)) == 0 {
		t.Fatal("the shared file holds no location to begin with")
	}
	if len(got) != len(sent) {
		t.Errorf("received %d bytes, shared %d", len(got), len(sent))
	}
	if l := scrubtest.Leaks(got); len(l) != 0 {
		t.Errorf("the friend reads the location: %q", l)
	}
}

// exifKept checks that b's EXIF still says when and which way up, and
// no longer where.
func exifKept(t *testing.T, b []byte) {
	t.Helper()
	x, err := exif.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("exif: %v", err)
	}
	if tag, err := x.Get(exif.DateTimeOriginal); err != nil {
		t.Errorf("DateTimeOriginal lost: %v", err)
	} else if s, _ := tag.StringVal(); s != scrubtest.DateTimeOriginal {
		t.Errorf("DateTimeOriginal %q", s)
	}
	if tag, err := x.Get(exif.Orientation); err != nil {
		t.Errorf("Orientation lost: %v", err)
	} else if v, _ := tag.Int(0); v != scrubtest.Orientation {
		t.Errorf("Orientation %d", v)
	}
	if lat, lon, err := x.LatLong(); err == nil {
		t.Errorf("GPS still readable: %v, %v", lat, lon)
	}
}

// TestSharedPhotoHasNoGPS: a phone photo with a GPS IFD (in two EXIF
// blocks, both byte orders), XMP and extended XMP with exif:GPS*, and a
// thumbnail with XMP of its own, shared to a friend over the real
// transport: the friend's file has no GPS byte, still decodes, keeps
// DateTimeOriginal and Orientation and the size. The same through
// SharePhotoTaken, and for a PNG and a HEIC shared as bytes. The sender's
// own file is left as it was.
func TestSharedPhotoHasNoGPS(t *testing.T) {
	clock, _, a, b, bID, _ := pair(t)
	photo := scrubtest.JPEG(binary.LittleEndian)
	path := filepath.Join(t.TempDir(), "IMG_0001.JPG")
	if err := os.WriteFile(path, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	if x, err := exif.Decode(bytes.NewReader(photo)); err != nil {
		t.Fatal(err)
	} else if _, _, err := x.LatLong(); err != nil {
		t.Fatalf("the test photo has no GPS: %v", err)
	}
	id, err := a.SharePhoto(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, b, id)
	noLocation(t, photo, got)
	if _, err := jpeg.Decode(bytes.NewReader(got)); err != nil {
		t.Errorf("received JPEG does not decode: %v", err)
	}
	exifKept(t, got)
	if orig, _ := os.ReadFile(path); !bytes.Equal(orig, photo) {
		t.Error("the sender's own file was changed")
	}

	// The capture-time variant (and so the together shares, which take
	// the same path) sends the same scrubbed bytes.
	id, err = a.SharePhotoTaken(path, clock.Now().Unix()-60, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	if again := receive(t, b, id); !bytes.Equal(again, got) {
		t.Error("SharePhotoTaken sent other bytes than SharePhoto")
	}

	pngPhoto := scrubtest.PNG(binary.BigEndian)
	id, err = a.ShareBytes(TypePhoto, "shot.png", pngPhoto, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	got = receive(t, b, id)
	noLocation(t, pngPhoto, got)
	if _, err := png.Decode(bytes.NewReader(got)); err != nil {
		t.Errorf("received PNG does not decode (CRC?): %v", err)
	}

	heic := scrubtest.HEIC(binary.BigEndian)
	id, err = a.ShareBytes(TypePhoto, "IMG_0002.HEIC", heic, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	got = receive(t, b, id)
	noLocation(t, heic, got)
	exifKept(t, got[bytes.LastIndex(got, []byte("Exif\x00\x00")):])
}

// TestSharedVideoHasNoLocation: a phone video with ©xyz (movie and
// track), loci, XMP, Apple's location keys and a gpmd GPS track, shared while the friend is
// offline, so it travels through the friend's relay mailbox: what the
// friend fetches has no location, the same size and box layout, and its
// media bytes and the camera make are untouched.
func TestSharedVideoHasNoLocation(t *testing.T) {
	clock, ra, a, b, bID, _ := pair(t)
	video := scrubtest.MP4(300 << 10)
	path := filepath.Join(t.TempDir(), "VID_0001.MP4")
	if err := os.WriteFile(path, video, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
	b.restart(t, clock, ra)
	got := receive(t, b, id)
	noLocation(t, video, got)
	m := bytes.Index(video, []byte("mdat"))
	if !bytes.Equal(got[:m+300<<10], video[:m+300<<10]) {
		t.Error("the media data or the boxes before it changed")
	}
	if !bytes.Contains(got, []byte(scrubtest.Make)) {
		t.Error("the camera make was blanked too")
	}
	if ev := b.ev.wait(t, EventItemReceived, func(e Event) bool { return e.ItemID == id }, time.Second); ev.Via != ViaMailbox {
		t.Errorf("via %q, want the mailbox", ev.Via)
	}
}

// TestScrubbedVideoResealedAfterRestart: a video whose sealing a restart
// interrupted is scrubbed again when it is re-sealed from the file: the
// offered hash (of the scrubbed bytes, taken before the restart) still
// matches, so the "file changed" check passes, and the friend gets the
// same scrubbed bytes a single pass gives.
func TestScrubbedVideoResealedAfterRestart(t *testing.T) {
	clock, ra, a, b, bID, aID := pair(t)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	a.holdDeliveries(true)
	reached, _ := blockSealing(a.Node, 1)
	video := scrubtest.MP4(400 << 10)
	path := filepath.Join(t.TempDir(), "VID_0002.MOV")
	if err := os.WriteFile(path, video, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	waitChan(t, reached, "sealing started")
	a.restart(t, clock, ra)
	got := b.ev.waitRetrying(t, b.Node, clock, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 60*time.Second)
	data, err := os.ReadFile(got.Path)
	if err != nil {
		t.Fatal(err)
	}
	noLocation(t, video, data)
	want, _, err := scrub.Bytes(video)
	if err != nil || !bytes.Equal(data, want) {
		t.Fatalf("received bytes are not the scrubbed video (err %v)", err)
	}
}
