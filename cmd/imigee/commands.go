package main

import (
	"github.com/imigee/imigee/node"

	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"
)

// printJSON writes v as one JSON line on stdout.
func printJSON(e *env, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return fail(e, "json", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", b)
	return exitOK
}

// simple runs a command that sends one request and prints its result:
// JSON with -json, else text from show (nil: "done").
func simple(e *env, name string, min, max int, build func(pos []string) (*request, error), out any, show func()) int {
	fs, cf := newFlagSet(e, name)
	pos, code, ok := parseFlags(fs, e.args, min, max)
	if !ok {
		return code
	}
	req, err := build(pos)
	if err != nil {
		fmt.Fprintf(e.stderr, "imigee %s: %v\n", name, err)
		return exitUsage
	}
	if err := call(cf.dataDir, req, out); err != nil {
		return fail(e, name, err)
	}
	if cf.json {
		if out == nil {
			return printJSON(e, map[string]bool{"ok": true})
		}
		return printJSON(e, out)
	}
	if show != nil {
		show()
	}
	return exitOK
}

const aboutID = `
Print this device's friend ID: a fingerprint of its identity key. Friends see
it in their lists; commands accept any unique prefix of an ID.`

func cmdID(e *env) int {
	var r idResult
	return simple(e, "id", 0, 0, func([]string) (*request, error) { return &request{Cmd: "id"}, nil }, &r,
		func() { fmt.Fprintln(e.stdout, r.ID) })
}

const aboutInvite = `
Make a one-time invite, valid for 24 hours, and print it as a QR code and as
text. Show the QR code to your friend, or send them the text over a channel
you trust; they run "imigee link <text>" (or scan it in the app). Afterwards
compare safety numbers ("imigee friends") in person.`

func cmdInvite(e *env) int {
	fs, cf := newFlagSet(e, "invite")
	noQR := fs.Bool("no-qr", false, "print only the text, no QR code")
	if _, code, ok := parseFlags(fs, e.args, 0, 0); !ok {
		return code
	}
	var r inviteResult
	if err := call(cf.dataDir, &request{Cmd: "invite"}, &r); err != nil {
		return fail(e, "invite", err)
	}
	if cf.json {
		return printJSON(e, r)
	}
	if !*noQR {
		qrterminal.GenerateWithConfig(r.Invite, qrterminal.Config{
			Level:          qrterminal.L,
			Writer:         e.stdout,
			HalfBlocks:     true,
			BlackChar:      qrterminal.BLACK_BLACK,
			WhiteBlackChar: qrterminal.WHITE_BLACK,
			WhiteChar:      qrterminal.WHITE_WHITE,
			BlackWhiteChar: qrterminal.BLACK_WHITE,
			QuietZone:      2,
		})
	}
	fmt.Fprintf(e.stdout, "\nYour friend links with (valid 24 h, once):\n\n  imigee link %s\n", r.Invite)
	return exitOK
}

const aboutLink = `
Answer a friend's invite: your node reaches theirs (directly or through their
relay), both store each other as friends and derive the keys you share. Then
compare the safety number both of you see ("imigee friends").`

func cmdLink(e *env) int {
	var r linkResult
	return simple(e, "link", 1, 1, func(pos []string) (*request, error) {
		return &request{Cmd: "link", Text: pos[0]}, nil
	}, &r, func() {
		fmt.Fprintf(e.stdout, "Linked with friend %s.\nSafety number (compare it in person): %s\n", r.Friend, r.SafetyNumber)
	})
}

const aboutFriends = `
List your friends: ID, whether they are nearby now, how finely they can find
you (close ≈ 150 m, casual ≈ 600 m, off) and the safety number. If the safety
number on both devices is the same, nobody sits between you.`

func cmdFriends(e *env) int {
	var r []friendResult
	return simple(e, "friends", 0, 0, func([]string) (*request, error) { return &request{Cmd: "friends"}, nil }, &r, func() {
		if len(r) == 0 {
			fmt.Fprintln(e.stdout, "No friends yet: imigee invite, or imigee link <invite>.")
			return
		}
		for _, f := range r {
			flags := []string{"precision " + f.Precision}
			if f.Nearby {
				flags = append(flags, "nearby now")
			}
			if f.AutoAccept {
				flags = append(flags, "auto-accept")
			}
			fmt.Fprintf(e.stdout, "%s  %s\n    safety number %s\n", f.ID, strings.Join(flags, ", "), f.SafetyNumber)
		}
	})
}

const aboutLocate = `
Tell the node where this device is, in decimal degrees (and optionally the
accuracy in metres). A phone does this from GPS; a desktop has to be told.
The position stays on this device: only unlinkable per-friend tokens leave
it, and friends learn only "nearby", never where or how far. "locate off"
forgets the position and stops announcing.`

func cmdLocate(e *env) int {
	return simple(e, "locate", 1, 3, func(pos []string) (*request, error) {
		if len(pos) == 1 {
			if pos[0] != "off" {
				return nil, fmt.Errorf("give LAT LNG [ACCURACY-M], or off")
			}
			return &request{Cmd: "locate", Value: "off"}, nil
		}
		v, err := floats(pos)
		if err != nil {
			return nil, err
		}
		r := &request{Cmd: "locate", Lat: v[0], Lng: v[1], Accuracy: 10}
		if len(v) == 3 {
			r.Accuracy = v[2]
		}
		if err := checkPlace(r.Lat, r.Lng); err != nil {
			return nil, err
		}
		if r.Accuracy < 0 {
			return nil, fmt.Errorf("accuracy must be metres ≥ 0")
		}
		return r, nil
	}, nil, func() { fmt.Fprintln(e.stdout, "Location set (it stays on this device).") })
}

const aboutQuiet = `
Quiet zones are circles (centre in decimal degrees, radius in metres) in which
this device never announces itself, so no friend finds you there (home,
work). They are kept only on this device.

  imigee quiet                     list the quiet zones
  imigee quiet LAT LNG RADIUS-M    add one
  imigee quiet remove ZONE         remove one (by the ID the list shows)`

func cmdQuiet(e *env) int {
	var added zoneResult
	var list []zoneInfo
	var out any = &added
	show := func() { fmt.Fprintf(e.stdout, "Quiet zone %s added.\n", added.Zone) }
	return simple(e, "quiet", 0, 3, func(pos []string) (*request, error) {
		switch {
		case len(pos) == 0:
			out = &list
			show = func() {
				if len(list) == 0 {
					fmt.Fprintln(e.stdout, "No quiet zones.")
				}
				for _, z := range list {
					fmt.Fprintf(e.stdout, "%s  %.5f %.5f  radius %g m\n", z.Zone, z.Lat, z.Lng, z.Radius)
				}
			}
			return &request{Cmd: "quiet-list"}, nil
		case len(pos) == 2 && pos[0] == "remove":
			out = &map[string]bool{"ok": true}
			show = func() { fmt.Fprintf(e.stdout, "Quiet zone %s removed.\n", pos[1]) }
			return &request{Cmd: "quiet-remove", Value: pos[1]}, nil
		case len(pos) != 3:
			return nil, fmt.Errorf("want LAT LNG RADIUS-M, \"remove ZONE\", or nothing to list")
		}
		v, err := floats(pos)
		if err != nil {
			return nil, err
		}
		if err := checkPlace(v[0], v[1]); err != nil {
			return nil, err
		}
		if !(v[2] > 0 && v[2] <= 100e3) {
			return nil, fmt.Errorf("radius must be metres in (0, 100000]")
		}
		return &request{Cmd: "quiet", Lat: v[0], Lng: v[1], Radius: v[2]}, nil
	}, &out, func() { show() })
}

// checkPlace validates decimal-degree coordinates.
func checkPlace(lat, lng float64) error {
	if !(lat >= -90 && lat <= 90) || !(lng >= -180 && lng <= 180) {
		return fmt.Errorf("latitude must be in [-90, 90] and longitude in [-180, 180] (decimal degrees)")
	}
	return nil
}

func floats(ss []string) ([]float64, error) {
	out := make([]float64, len(ss))
	for i, s := range ss {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		out[i] = v
	}
	return out, nil
}

const aboutInbox = `
List what friends sent you — offers waiting for "imigee accept/reject",
transfers in progress, received files (with their path), messages and likes —
and your outbox: items not yet delivered to every recipient.`

func cmdInbox(e *env) int {
	var r inboxResult
	return simple(e, "inbox", 0, 0, func([]string) (*request, error) { return &request{Cmd: "inbox"}, nil }, &r, func() {
		fmt.Fprintf(e.stdout, "Inbox (%d):\n", len(r.Inbox))
		for _, it := range r.Inbox {
			fmt.Fprintf(e.stdout, "  %s  %-8s from %s  %-9s %s\n", short(it.ID), oneLine(it.Type), short(it.Friend), it.State, itemDetail(it))
		}
		fmt.Fprintf(e.stdout, "Outbox (%d):\n", len(r.Outbox))
		for _, it := range r.Outbox {
			var to []string
			for _, f := range it.To {
				if st := it.Recipients[f]; st != "" {
					to = append(to, short(f)+" ("+oneLine(st)+")")
				} else {
					to = append(to, short(f))
				}
			}
			fmt.Fprintf(e.stdout, "  %s  %-8s to %s  %s\n", short(it.ID), oneLine(it.Type), strings.Join(to, ","), itemDetail(it))
		}
	})
}

func itemDetail(it itemJSON) string {
	switch it.Type {
	case "message":
		return strconv.Quote(it.Text)
	case "like":
		return "of item " + short(oneLine(it.Text))
	}
	s := humanBytes(it.Size)
	if it.State == "receiving" {
		s = humanBytes(it.Done) + " of " + s
	}
	if it.Path != "" {
		s += "  " + it.Path
	}
	return s
}

const (
	aboutAccept = `
Accept an offered item (see "imigee inbox"); the transfer starts now if the
sender is reachable, else when it tries again. Any unique prefix of the item
ID works.`
	aboutReject = `
Decline an offered item; nothing more is transferred and the sender learns it
was declined.`
)

func cmdDecide(accept bool) func(e *env) int {
	name := "reject"
	if accept {
		name = "accept"
	}
	return func(e *env) int {
		var r itemResult
		return simple(e, name, 1, 1, func(pos []string) (*request, error) {
			return &request{Cmd: name, Item: pos[0]}, nil
		}, &r, func() { fmt.Fprintf(e.stdout, "Item %s: %sed.\n", short(r.Item), name) })
	}
}

const aboutLike = `
Like an item: one a friend shared with you, or one you shared with them. The
like travels like a message (directly, or through the relay).`

func cmdLike(e *env) int {
	var r itemResult
	return simple(e, "like", 2, 2, func(pos []string) (*request, error) {
		return &request{Cmd: "like", Friend: pos[0], Item: pos[1]}, nil
	}, &r, func() { fmt.Fprintf(e.stdout, "Like %s queued.\n", short(r.Item)) })
}

const aboutMessage = `
Send a friend a text message (up to 16 KiB), end-to-end encrypted: directly
if they are reachable, else through their mailbox at the relay.`

func cmdMessage(e *env) int {
	var r itemResult
	return simple(e, "message", 2, -1, func(pos []string) (*request, error) {
		return &request{Cmd: "message", Friend: pos[0], Text: strings.Join(pos[1:], " ")}, nil
	}, &r, func() { fmt.Fprintf(e.stdout, "Message %s queued.\n", short(r.Item)) })
}

const aboutPrecision = `
Set how finely a friend can find you: close (same ≈150 m), casual (≈600 m) or
off (never announced to this friend). New friends start at close.`

func cmdPrecision(e *env) int {
	return simple(e, "precision", 2, 2, func(pos []string) (*request, error) {
		return &request{Cmd: "precision", Friend: pos[0], Value: pos[1]}, nil
	}, nil, func() { fmt.Fprintln(e.stdout, "Precision set.") })
}

const aboutAutoAccept = `
With "on", everything this friend shares is accepted without asking; with
"off" (the default) each item is offered first ("imigee inbox").`

func cmdAutoAccept(e *env) int {
	return simple(e, "auto-accept", 2, 2, func(pos []string) (*request, error) {
		if pos[1] != "on" && pos[1] != "off" {
			return nil, fmt.Errorf("say on or off")
		}
		return &request{Cmd: "auto-accept", Friend: pos[0], Value: pos[1]}, nil
	}, nil, func() { fmt.Fprintln(e.stdout, "Auto-accept set.") })
}

const aboutPolicy = `
Choose who gets a share made without -to: "ask" (the default: you must name
friends), "nearby" (friends who are nearby right now), or "together" (the
friends who were with you when the photo was taken — its file time — live or
found after the fact; friends found later are proposed: "imigee proposals")
and "together-auto" (those found later get it without asking).`

func cmdPolicy(e *env) int {
	return simple(e, "policy", 1, 1, func(pos []string) (*request, error) {
		return &request{Cmd: "policy", Value: pos[0]}, nil
	}, nil, func() { fmt.Fprintln(e.stdout, "Share policy set.") })
}

const aboutForget = `
Erase this identity: signed requests remove your mailboxes, queued items and
announcements from every relay the node used, then the local store, received
files, pending copies and the key file are wiped and "imigee run" exits.
Your friends keep what you already sent them. This cannot be undone.`

func cmdForget(e *env) int {
	fs, cf := newFlagSet(e, "forget")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if _, code, ok := parseFlags(fs, e.args, 0, 0); !ok {
		return code
	}
	if !*yes {
		fmt.Fprintf(e.stdout, "Erase this identity from every relay and wipe %s? Type yes: ", cf.dataDir)
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(e.stdout, "Nothing done.")
			return exitFail
		}
	}
	var r forgetResult
	if err := call(cf.dataDir, &request{Cmd: "forget"}, &r); err != nil {
		return fail(e, "forget", err)
	}
	if cf.json {
		return printJSON(e, r)
	}
	if r.RelayError != "" {
		fmt.Fprintf(e.stdout, "Wiped locally. Some relay could not be reached (%s); what it holds expires within 30 days.\n", r.RelayError)
	} else {
		fmt.Fprintln(e.stdout, "Forgotten: nothing of this identity is left at the relays or here.")
	}
	return exitOK
}

const aboutShare = `
Share a photo (or, with -video, a video) with the friends named by -to (ID or
unique prefix; repeat -to for several). Without -to, the share policy picks
the friends ("imigee policy nearby": friends nearby now).

By capture time (EXIF DateTimeOriginal of a JPEG, read as local time, else
the file's modification time), for one or more photos:

  -taken-while-with FRIEND  share each photo taken while FRIEND was with you
                            (a meeting known now, see "imigee meetings");
                            the others are skipped
  -auto                     share each photo with whoever was with you when
                            it was taken, now, and with friends found later
                            (after the fact) to have been there too

The file is sealed once on this device and sent to each friend directly, or,
if a friend is offline, to their mailbox at the relay, from which it is
fetched when they come back. The node keeps delivering in the background;
this command shows a progress bar and waits while the transfer makes
progress (-wait 0 returns at once).`

func cmdShare(e *env) int {
	fs, cf := newFlagSet(e, "share")
	var to stringList
	fs.Var(&to, "to", "`friend` ID or unique prefix; repeatable")
	video := fs.Bool("video", false, "share as a video (default: by file extension)")
	wait := fs.Duration("wait", 10*time.Second, "wait for delivery while there is progress, giving up after this long without any")
	with := fs.String("taken-while-with", "", "share the photos taken while this `friend` was with you")
	auto := fs.Bool("auto", false, "share the photos with whoever was with you when each was taken, now and when found later")
	pos, code, ok := parseFlags(fs, e.args, 1, -1)
	if !ok {
		return code
	}
	if *with != "" || *auto {
		if *with != "" && *auto || len(to) > 0 {
			fmt.Fprintln(e.stderr, "imigee share: -taken-while-with, -auto and -to exclude each other")
			return exitUsage
		}
		return cmdShareTogether(e, cf, pos, *with, *video)
	}
	if len(pos) != 1 {
		fmt.Fprintln(e.stderr, "imigee share: one FILE (several only with -taken-while-with or -auto)")
		return exitUsage
	}
	path, err := filepath.Abs(pos[0])
	if err != nil {
		return fail(e, "share", err)
	}
	isVideo := *video || isVideoExt(path)
	var events <-chan eventJSON
	if *wait > 0 {
		ch, closeEvents, err := subscribeEvents(cf.dataDir)
		if err != nil {
			return fail(e, "share", err)
		}
		defer closeEvents()
		events = ch
	}
	req := &request{Cmd: "share", Path: path, To: to, Video: isVideo}
	if t, _, err := captureTime(path, time.Local); err == nil {
		req.Taken = t.Unix() // travels sealed with the offer; the together policy picks friends by it
	}
	var r itemResult
	if err := call(cf.dataDir, req, &r); err != nil {
		return fail(e, "share", err)
	}
	if r.Item == "" {
		// The together policy found nobody with you at the capture time.
		if cf.json {
			return printJSON(e, r)
		}
		fmt.Fprintf(e.stdout, "Nobody known to have been with you when %s was taken; it waits and is shared (or proposed: imigee proposals) when such a meeting is found.\n", filepath.Base(path))
		return exitOK
	}
	if cf.json {
		printJSON(e, r)
	} else {
		var names []string
		for _, f := range r.To {
			names = append(names, short(f))
		}
		fmt.Fprintf(e.stdout, "Sharing %s (%s) as item %s with %s.\n", filepath.Base(path), humanBytes(r.Size), short(r.Item), strings.Join(names, ", "))
	}
	if events == nil {
		return exitOK
	}
	out, all := waitDelivery(e, events, r, *wait, cf.json)
	if cf.json {
		return exitOK
	}
	if all {
		fmt.Fprintln(e.stdout, "Delivered to everyone.")
		return exitOK
	}
	for _, f := range r.To {
		switch out[f] {
		case "delivered":
			fmt.Fprintf(e.stdout, "%s: delivered.\n", short(f))
		case node.FailRejected:
			fmt.Fprintf(e.stdout, "%s: declined it.\n", short(f))
		case "queued":
			fmt.Fprintf(e.stdout, "%s: offline; it waits, sealed, in their mailbox at the relay until they come back.\n", short(f))
		case "":
			fmt.Fprintf(e.stdout, "%s: not delivered yet; imigee run keeps trying.\n", short(f))
		default:
			fmt.Fprintf(e.stdout, "%s: failed: %s\n", short(f), oneLine(out[f]))
		}
	}
	return exitOK
}

// waitDelivery shows progress of item r until every recipient has an
// outcome (delivered, declined, failed, or queued at the relay for an
// offline friend), or idle passes without any event about it. It returns
// each recipient's outcome ("delivered", "queued", or the failure reason)
// and whether every recipient has the item.
func waitDelivery(e *env, events <-chan eventJSON, r itemResult, idle time.Duration, quiet bool) (map[string]string, bool) {
	out := map[string]string{}
	all := func() bool {
		for _, f := range r.To {
			if out[f] != "delivered" {
				return false
			}
		}
		return true
	}
	left := map[string]bool{}
	for _, f := range r.To {
		left[f] = true
	}
	bar := newProgressBar(e.stderr, quiet)
	defer bar.finish()
	t := time.NewTimer(idle)
	defer t.Stop()
	for len(left) > 0 {
		select {
		case ev, ok := <-events:
			if !ok {
				return out, all()
			}
			if ev.Item != r.Item {
				continue
			}
			t.Reset(idle)
			switch ev.Event {
			case "progress":
				bar.update(ev.Friend, ev.Done, ev.Total)
			case node.EventDelivered:
				out[ev.Friend] = "delivered"
				delete(left, ev.Friend)
				bar.update(ev.Friend, r.Size, r.Size)
			case node.EventDeliveryFailed:
				out[ev.Friend] = ev.Err
				delete(left, ev.Friend)
			case node.EventQueued:
				out[ev.Friend] = "queued"
				delete(left, ev.Friend)
			}
		case <-t.C:
			return out, all()
		}
	}
	return out, all()
}

func isVideoExt(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp":
		return true
	}
	return false
}
