package main

// The late scene (-late, issue 10): two friends at a festival, one without
// reception. Her photo waits; when reception comes back her phone
// announces the epochs it missed, the relay's history matches bob's
// announcement from then, the pair confirms it end to end, both are told
// "was nearby", and the photo is shared because of that late meeting.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"time"
)

// The festival field, a few km from the square.
const (
	festLat, festLng = 52.51450, 13.35010
	// bob stands about 30 m north of alice.
	festBobLat, festBobLng = 52.51477, 13.35010
	// Their homes, kilometres apart.
	aliceHomeLat, aliceHomeLng = 52.48800, 13.42500
	bobHomeLat, bobHomeLng     = 52.55000, 13.30000
)

// nextEpoch waits until just after the next epoch boundary.
func (d *demo) nextEpoch(ctx context.Context, after time.Time) error {
	next := time.Unix((after.Unix()/demoEpoch+1)*demoEpoch, 0).Add(time.Second)
	select {
	case <-time.After(time.Until(next)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *demo) lateScene(ctx context.Context) error {
	a, b := d.nodes["alice"], d.nodes["bob"]
	// The square's meeting covers its whole epoch: the festival starts in
	// the next one.
	for _, n := range []string{"alice", "bob"} {
		if _, err := d.cli(ctx, n, "locate", "off"); err != nil {
			return err
		}
	}
	if err := d.nextEpoch(ctx, time.Now()); err != nil {
		return err
	}
	d.say("— later: a festival with no reception —")
	if _, err := d.cli(ctx, "alice", "network", "none"); err != nil {
		return err
	}
	d.say("alice's phone has no reception at the festival (imigee network none): no relay, but it keeps its own history of where it would have announced")
	if _, err := d.cli(ctx, "alice", "locate", fmt.Sprint(festLat), fmt.Sprint(festLng), "10"); err != nil {
		return err
	}
	if _, err := d.cli(ctx, "bob", "locate", fmt.Sprint(festBobLat), fmt.Sprint(festBobLng), "10"); err != nil {
		return err
	}
	d.say("alice and bob are at the festival, about 30 m apart; bob has reception and announces as usual, alice cannot")
	photo := filepath.Join(d.dir, "stage.jpg")
	taken := time.Now()
	if err := writeJPEGTaken(photo, taken); err != nil {
		return err
	}
	out, err := d.cli(ctx, "alice", "share", "-auto", photo)
	if err != nil {
		return err
	}
	var r struct{ Item string }
	if err := json.Unmarshal(out, &r); err != nil {
		return err
	}
	if r.Item != "" {
		return fmt.Errorf("alice's photo was shared at once (item %s); nobody should be known yet", r.Item)
	}
	d.say("alice takes stage.jpg (EXIF time %s) and shares it with whoever was with her (share -auto): her phone knows nobody yet, so it waits", taken.Format("15:04:05"))
	// Give bob's phone a moment to announce at the festival, then both go
	// home (different places: phones keep knowing where they are).
	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	for n, p := range map[string][2]float64{"alice": {aliceHomeLat, aliceHomeLng}, "bob": {bobHomeLat, bobHomeLng}} {
		if _, err := d.cli(ctx, n, "locate", fmt.Sprint(p[0]), fmt.Sprint(p[1]), "10"); err != nil {
			return err
		}
	}
	// Reception must come back in a later epoch: the epoch at the festival
	// is then a past one, announced late.
	d.say("they go home, to different places; alice's phone finds reception again once the %d s epoch has ended", demoEpoch)
	if err := d.nextEpoch(ctx, taken); err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := d.cli(ctx, "alice", "network", "wifi"); err != nil {
		return err
	}
	d.say("alice has reception again (imigee network wifi); her phone announces the epochs it missed")
	wasNear := func(friend string) func(event) bool {
		return func(e event) bool { return e.Friend == friend && e.From <= taken.Unix() && taken.Unix() < e.To }
	}
	ev, err := a.p.waitEvent(ctx, "friend_was_nearby", wasNear(b.id))
	if err != nil {
		return err
	}
	if _, err := b.p.waitEvent(ctx, "friend_was_nearby", wasNear(a.id)); err != nil {
		return err
	}
	d.say("the relay's history matched bob's announcement from then; the pair confirmed it through their mailboxes: both are told they were together %s–%s (%s after reception came back; times only, no place)",
		time.Unix(ev.From, 0).Format("15:04"), time.Unix(ev.To, 0).Format("15:04"), secs(time.Since(t0)))
	off, err := b.p.waitEvent(ctx, "item_offered", func(e event) bool {
		return e.Friend == a.id && e.Type == "photo" && e.Item != "" && !d.seenItem(e.Item)
	})
	if err != nil {
		return err
	}
	d.say("alice's phone shares stage.jpg with bob because of that late meeting; bob is asked and accepts")
	if _, err := d.receive(ctx, "bob", off.Item, photo); err != nil {
		return err
	}
	d.say("bob has the festival photo (%s after reception came back; same bytes)", secs(time.Since(t0)))
	return nil
}

// seenItem reports whether item was shared earlier in the story.
func (d *demo) seenItem(item string) bool { return d.items[item] }

// writeJPEGTaken writes a small JPEG at path whose EXIF DateTimeOriginal
// is taken in local time, as a camera writes it. EXIF is a TIFF structure
// inside the APP1 segment right after the start-of-image marker: a byte
// order mark, IFD0 pointing to the Exif IFD, which holds the one ASCII
// field. (No library writes EXIF simply; the reader side, cmd/imigee,
// uses goexif.)
func writeJPEGTaken(path string, taken time.Time) error {
	img := image.NewRGBA(image.Rect(0, 0, 96, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 96; x++ {
			img.Set(x, y, color.RGBA{uint8(20 + 2*y), uint8(10 + x), uint8(90 + y), 255})
		}
	}
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, img, nil); err != nil {
		return err
	}
	be := binary.BigEndian
	const exifIFD = 8 + 2 + 12 + 4
	const value = exifIFD + 2 + 12 + 4
	t := []byte{'M', 'M', 0, 42, 0, 0, 0, 8}
	t = be.AppendUint16(t, 1) // IFD0: one entry, the Exif IFD pointer
	t = be.AppendUint16(t, 0x8769)
	t = be.AppendUint16(t, 4)
	t = be.AppendUint32(t, 1)
	t = be.AppendUint32(t, exifIFD)
	t = be.AppendUint32(t, 0)
	t = be.AppendUint16(t, 1) // Exif IFD: DateTimeOriginal, ASCII, 20 bytes
	t = be.AppendUint16(t, 0x9003)
	t = be.AppendUint16(t, 2)
	t = be.AppendUint32(t, 20)
	t = be.AppendUint32(t, value)
	t = be.AppendUint32(t, 0)
	t = append(t, taken.Format("2006:01:02 15:04:05")+"\x00"...)
	app1 := append([]byte("Exif\x00\x00"), t...)
	var out []byte
	out = append(out, enc.Bytes()[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = be.AppendUint16(out, uint16(len(app1)+2))
	out = append(out, app1...)
	out = append(out, enc.Bytes()[2:]...)
	return os.WriteFile(path, out, 0o600)
}
