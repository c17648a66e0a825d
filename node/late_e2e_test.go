package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/relay"
)

// wasNearbyAt checks a friend_was_nearby event: friend, and the times of
// epoch e (of es seconds).
func wasNearbyAt(t *testing.T, ev Event, friend string, e uint64, es int64) {
	t.Helper()
	if ev.FriendID != friend || ev.From != int64(e)*es || ev.To != int64(e+1)*es {
		t.Fatalf("friend_was_nearby %+v, want friend %s from %d to %d", ev, friend, int64(e)*es, int64(e+1)*es)
	}
}

// outage runs the late-meeting story: a online and announcing at the
// place, b there too (30 m away) but without reception; after away, b's
// network comes back. It returns the meeting epoch.
func outage(t *testing.T, clock *testClock, a, b *testNode, away time.Duration) uint64 {
	t.Helper()
	if err := b.NetworkChanged(NetworkNone, false); err != nil {
		t.Fatal(err)
	}
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	e := a.epochNow()
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 30)
	if err := b.SetLocation(lat1, lng1, 10); err != nil {
		t.Fatal(err)
	}
	// a's live announcement reaches the relay (and its history).
	waitFor(t, 10*time.Second, func() bool { r, ok := a.historyAt(e); return ok && r.Live })
	// Both leave, far apart, and time passes.
	clock.Add(away)
	farA1, farA2 := geo.Destination(lat0, lng0, 0, 20_000)
	farB1, farB2 := geo.Destination(lat0, lng0, 180, 20_000)
	_ = a.SetLocation(farA1, farA2, 10)
	_ = b.SetLocation(farB1, farB2, 10)
	if err := b.NetworkChanged(NetworkWifi, false); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestLateMeetingAfterOutage (issue 10): friend a online at a place, b at
// the same place without reception; b's network comes back three hours
// later. Both get friend_was_nearby with that epoch's times, the meeting
// is in Meetings as late, nothing locating left either phone (every byte
// sent to the relay, every event), and the relay's files hold neither
// coordinates nor cell IDs while they do hold the tokens (positive
// control). Forget at b erases b's announcements from the relay's history
// and b's own history.
func TestLateMeetingAfterOutage(t *testing.T) {
	clock := newTestClock()
	var relayDir string
	r := startRelayWith(t, clock, func(c *relay.Config) { relayDir = c.DataDir })
	ra := relayAddrs(r)
	var mu sync.Mutex
	var sent [][]byte
	rec := func(_ string, p []byte) {
		mu.Lock()
		sent = append(sent, p)
		mu.Unlock()
	}
	a := newRecordedNode(t, clock, ra, rec)
	b := newRecordedNode(t, clock, ra, rec)
	bID, aID := link(t, a, b)
	b.mu.Lock()
	b.lateSettleWait = 5 * time.Second
	b.mu.Unlock()
	e := outage(t, clock, a, b, 3*time.Hour)
	// b's first late announcement is done (the epoch marked late), both
	// phones' live announcements of the current epoch are in the relay's
	// history (acknowledged), and b's round waits to announce again on
	// the same session.
	waitFor(t, 10*time.Second, func() bool {
		rec, ok := b.historyAt(e)
		now := b.epochNow()
		ra, oka := a.historyAt(now)
		rb, okb := b.historyAt(now)
		return ok && rec.Late && oka && ra.Live && okb && rb.Live
	})
	held, writes := r.HistoryStats().Entries, r.HistoryStats().Writes
	b.mu.Lock()
	running := b.lateRunning
	b.mu.Unlock()
	if !running {
		t.Fatal("b's late round ended without announcing again")
	}
	es := int64(a.cfg.EpochSeconds)
	wasNearbyAt(t, b.ev.waitRetrying(t, b.Node, clock, EventFriendWasNearby, nil, 30*time.Second), aID, e, es)
	wasNearbyAt(t, a.ev.waitRetrying(t, a.Node, clock, EventFriendWasNearby, nil, 30*time.Second), bID, e, es)

	// b's round is announced once more on its session (lateSettle,
	// shortened here): the relay stores nothing new (a new session would
	// store every token again, and match b's own first announcement).
	waitFor(t, 10*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return !b.lateRunning
	})
	if st := r.HistoryStats(); st.Entries != held || st.Writes == writes {
		t.Fatalf("announced again: the relay's history holds %d entries (%d before) after %d writes (%d before); want the same entries after more writes",
			st.Entries, held, st.Writes, writes)
	}
	for _, x := range []struct {
		n      *testNode
		friend string
	}{{a, bID}, {b, aID}} {
		ms := x.n.Meetings(0)
		if len(ms) != 1 || ms[0].Kind != MeetingLate || ms[0].FriendID != x.friend {
			t.Fatalf("meetings %+v", ms)
		}
		if x.n.ev.count(EventFriendNearby) != 0 {
			t.Fatal("a live friend_nearby for a meeting nobody saw live")
		}
	}

	// P3/P4: nothing locating in what left the phones or in events.
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 30)
	needles := locatingNeedles([][2]float64{{lat0, lng0}, {lat1, lng1}})
	mu.Lock()
	all := bytes.Join(sent, nil)
	mu.Unlock()
	for _, nd := range needles {
		if bytes.Contains(all, nd) {
			t.Errorf("bytes sent to the relay contain %x", nd)
		}
	}
	for _, n := range []*testNode{a, b} {
		for _, ev := range n.ev.snapshot() {
			for _, nd := range needles {
				if len(nd) > 3 && bytes.Contains([]byte(fmt.Sprintf("%+v", ev)), nd) {
					t.Errorf("event %s contains %q", ev.Kind, nd)
				}
			}
		}
	}
	// The relay's files: no coordinates or cells, and since the history is
	// sealed at rest (relay/history keys.go) not even the matched token in
	// the clear; the relay did keep it (positive control: its entries).
	f, _ := a.friend(bID)
	h16, near := geo.Cells(lat0, lng0, 16)
	tok, _, err := crypto.FriendTokens(f.keys, e, uint32(es), 16, h16, near)
	if err != nil {
		t.Fatal(err)
	}
	if r.HistoryStats().Entries == 0 {
		t.Fatal("positive control: the relay's history holds nothing")
	}
	files := relayFiles(t, relayDir)
	if bytes.Contains(files, tok[:]) {
		t.Error("the token a announced is in the clear in the relay's files")
	}
	for _, nd := range needles {
		if bytes.Contains(files, nd) {
			t.Errorf("the relay's files contain %x", nd)
		}
	}

	// Forget at b: its history entries go at the relay, and on the device.
	before := r.HistoryStats().Entries
	if err := b.Forget(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := r.HistoryStats().Entries
	if after >= before {
		t.Fatalf("history entries %d before b's Forget, %d after", before, after)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "node.db")); err == nil {
		// The wipe removes the store file or empties it; either way no
		// history remains to read.
		t.Log("store file kept after wipe")
	}
}

// TestLateNoMatchOutsideWindowOrHistoryOff: no late meeting when b comes
// back after the relay's window (3 days) has passed, or when the relay
// keeps no history.
func TestLateNoMatchOutsideWindowOrHistoryOff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		away   time.Duration
	}{
		{"window passed", 72 * time.Hour, 80 * time.Hour},
		{"history off", 0, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock()
			r := startRelayWith(t, clock, func(c *relay.Config) { c.History.Window = relay.Duration(tc.window) })
			ra := relayAddrs(r)
			a := newTestNode(t, clock, ra)
			b := newTestNode(t, clock, ra)
			link(t, a, b)
			e := outage(t, clock, a, b, tc.away)
			// b tried: the epoch is done (given up) once the relay said no.
			waitFor(t, 20*time.Second, func() bool {
				b.wake()
				rec, ok := b.historyAt(e)
				return ok && rec.Late
			})
			// Any claim and confirm made are acknowledged once b's round
			// is over (its claims are queued before lateRunning clears) and
			// both outboxes are empty (b's claim is handled, a's confirm
			// queued, before b's outbox empties).
			waitFor(t, 20*time.Second, func() bool {
				a.wake()
				b.wake()
				b.mu.Lock()
				running := b.lateRunning
				b.mu.Unlock()
				return !running && b.store.Count(localstore.Outbox) == 0 && a.store.Count(localstore.Outbox) == 0
			})
			if n := a.ev.count(EventFriendWasNearby) + b.ev.count(EventFriendWasNearby); n != 0 {
				t.Fatalf("%d friend_was_nearby", n)
			}
		})
	}
}

// relayFiles returns the bytes of every file in the relay's data dir.
func relayFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var out []byte
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
