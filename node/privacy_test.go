package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/protocol"
)

// TestNothingLocatingLeaves (P3/P4) records every byte both nodes send to
// the relay (mailbox and rendezvous streams) and every event each gets,
// through meeting, a direct share, a message and an offline item, and
// looks for the coordinates (as float64 bytes and as decimal text), the S2
// cell IDs at every level used (here and near, as bytes and decimal), and
// the distance between them.
func TestNothingLocatingLeaves(t *testing.T) {
	clock := newTestClock()
	r := startRelay(t, clock)
	ra := relayAddrs(r)
	var mu sync.Mutex
	var sent [][]byte
	protos := map[string]int{}
	rec := func(p string, b []byte) {
		mu.Lock()
		sent = append(sent, b)
		protos[p]++
		mu.Unlock()
	}
	a := newRecordedNode(t, clock, ra, rec)
	b := newRecordedNode(t, clock, ra, rec)
	bID, aID := link(t, a, b)
	latA, lngA := 48.858370, 2.294481
	latB, lngB := geo.Destination(latA, lngA, 45, 60)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	_ = a.SetLocation(latA, lngA, 8)
	_ = b.SetLocation(latB, lngB, 8)
	a.ev.wait(t, EventFriendNearby, nil, 10*time.Second)
	b.ev.wait(t, EventFriendNearby, nil, 10*time.Second)
	_ = b.SetAutoAccept(aID, true)
	path, _ := writeFile(t, 100<<10)
	if _, err := a.SharePhoto(path, []string{bID}); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventItemReceived, nil, 10*time.Second)
	if _, err := b.SendMessage(aID, "hello"); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, EventMessage, nil, 10*time.Second)
	// An offline item through the mailbox.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SendMessage(bID, "later"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return protos[protocol.MailboxProtocol] > 0
	})
	b.restart(t, clock, ra)
	b.ev.wait(t, EventMessage, nil, 20*time.Second)
	// Taken while together (issue 10): a photo of two hours ago proposed
	// once a late meeting covering it is known; share_proposed and
	// friend_was_nearby are scanned with the other events below.
	if err := a.SetSharePolicy(SharePolicy{Mode: ShareTogether}); err != nil {
		t.Fatal(err)
	}
	taken := clock.Now().Add(-2 * time.Hour)
	if _, err := a.SharePhotoTaken(path, taken.Unix(), nil); err != nil {
		t.Fatal(err)
	}
	a.noteMeeting(bID, MeetingLate, epochsAround(a.Node, taken, 10*time.Minute))
	a.ev.wait(t, EventShareProposed, nil, 5*time.Second)

	needles := locatingNeedles([][2]float64{{latA, lngA}, {latB, lngB}})

	mu.Lock()
	all := bytes.Join(sent, nil)
	seen := maps.Clone(protos) // nodes still running may record more
	mu.Unlock()
	if seen[protocol.RendezvousProtocol] == 0 || seen[protocol.MailboxProtocol] == 0 {
		t.Fatalf("recording saw %v; the test would prove nothing", seen)
	}
	for _, nd := range needles {
		if bytes.Contains(all, nd) {
			t.Errorf("bytes sent to the relay contain %x (%q)", nd, nd)
		}
	}
	if a.ev.count(EventShareProposed) == 0 || a.ev.count(EventFriendWasNearby) == 0 {
		t.Fatal("no share_proposed or friend_was_nearby event: the event scan would prove nothing for them")
	}
	for _, n := range []*testNode{a, b} {
		for _, ev := range n.ev.snapshot() {
			s := fmt.Sprintf("%+v", ev)
			for _, nd := range needles {
				if len(nd) > 3 && strings.Contains(s, string(nd)) {
					t.Errorf("event %s contains %q", ev.Kind, nd)
				}
			}
		}
	}
	t.Logf("scanned %d bytes sent to the relay (%v) and %d events", len(all), seen, len(a.ev.snapshot())+len(b.ev.snapshot()))
}

// locatingNeedles are the byte strings that would give away points: each
// coordinate as float64 bytes (both orders) and as decimal text, the S2
// cell IDs at every level used (here and near; bytes and decimal and hex),
// and the distance between the first two points.
func locatingNeedles(pts [][2]float64) [][]byte {
	var needles [][]byte
	addF := func(f float64) {
		needles = append(needles,
			binary.BigEndian.AppendUint64(nil, math.Float64bits(f)),
			binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)),
			[]byte(strconv.FormatFloat(f, 'f', 4, 64)))
	}
	addCell := func(c uint64) {
		needles = append(needles,
			binary.BigEndian.AppendUint64(nil, c),
			binary.LittleEndian.AppendUint64(nil, c),
			[]byte(strconv.FormatUint(c, 10)),
			[]byte(fmt.Sprintf("%x", c)))
	}
	for _, p := range pts {
		addF(p[0])
		addF(p[1])
		for _, lvl := range []int{14, 16} {
			h, near := geo.Cells(p[0], p[1], lvl)
			addCell(h)
			for _, c := range near {
				addCell(c)
			}
		}
	}
	if len(pts) >= 2 {
		d := distance(pts[0][0], pts[0][1], pts[1][0], pts[1][1])
		needles = append(needles, []byte(strconv.Itoa(int(math.Round(d)))+"m"), []byte(strconv.FormatFloat(d, 'f', 1, 64)))
	}
	return needles
}
