package nodee2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/node"
)

// Places. Coordinates go to the nodes only through "imigee locate"; the
// P3/P4 subtest searches everything friends see for them.
const (
	squareLat, squareLng = 52.52190, 13.41320 // alice and bob meet here
	quietLat, quietLng   = 48.85837, 2.29448  // carol's quiet zone
	quietRadius          = 300
)

// world is the shared setup: one relay and three nodes, alice linked with
// bob and with carol.
type world struct {
	root              string
	relay             *relayProc
	alice, bob, carol *nodeProc
	places            [][2]float64 // every position given to a node
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{root: shortTempDir(t)}
	w.relay = startRelay(t, w.root)
	w.alice = newNode(t, w.root, "alice", w.relay.addrs)
	w.bob = newNode(t, w.root, "bob", w.relay.addrs)
	w.carol = newNode(t, w.root, "carol", w.relay.addrs)
	for _, n := range []*nodeProc{w.alice, w.bob, w.carol} {
		n.start(t)
	}
	link(t, w.alice, w.bob)
	link(t, w.alice, w.carol)
	return w
}

func (w *world) locate(t *testing.T, n *nodeProc, lat, lng float64) {
	t.Helper()
	w.places = append(w.places, [2]float64{lat, lng})
	n.locate(t, lat, lng)
}

// TestNodeFlows drives the desktop CLI end to end over one shared world:
// every step is real processes talking over loopback QUIC/TCP. The
// subtests depend on each other's state and run in order.
func TestNodeFlows(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	files := shortTempDir(t)
	var directItem string // shared alice → bob, liked later

	t.Run("ControlSocket", func(t *testing.T) {
		sock := filepath.Join(w.alice.dir, "control.sock")
		st, err := os.Stat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("control socket mode %v, want 0600", st.Mode().Perm())
		}
		// Oversized, garbage and unknown requests get an error; the node
		// keeps answering.
		for _, req := range [][]byte{
			append(bytes.Repeat([]byte("x"), 70<<10), '\n'),
			[]byte("{not json\n"),
			[]byte(`{"cmd":"share","evil":1}` + "\n"),
			[]byte(`{"cmd":"no-such-command"}` + "\n"),
		} {
			resp := rawRequest(t, sock, req)
			if !strings.Contains(resp, `"ok":false`) {
				t.Fatalf("request %.40q answered %q", req, resp)
			}
		}
		var id struct{ ID string }
		w.alice.cli(t, &id, "id")
		if id.ID != w.alice.id {
			t.Fatalf("id after bad requests: %q", id.ID)
		}
		// A second node on the same data dir refuses to start.
		_, stderr, code := runCLI(t, "run", "-data-dir", w.alice.dir, "-epoch", "60")
		if code == 0 || !strings.Contains(stderr, "already running") {
			t.Fatalf("second run: exit %d, %s", code, stderr)
		}
	})

	t.Run("MeetThenShareDirect", func(t *testing.T) {
		w.locate(t, w.alice, squareLat, squareLng)
		bl, bg := geo.Destination(squareLat, squareLng, 90, 40)
		w.locate(t, w.bob, bl, bg)
		w.alice.wait(t, "friend_nearby", func(e event) bool { return e.Friend == w.bob.id })
		w.bob.wait(t, "friend_nearby", func(e event) bool { return e.Friend == w.alice.id })
		var fs []struct {
			ID     string
			Nearby bool
		}
		w.alice.cli(t, &fs, "friends")
		if !slices.ContainsFunc(fs, func(f struct {
			ID     string
			Nearby bool
		}) bool {
			return f.ID == w.bob.id && f.Nearby
		}) {
			t.Fatalf("friends does not show bob nearby: %+v", fs)
		}

		path, data := writeFile(t, files, "square.jpg", 300<<10+17)
		r := w.alice.share(t, path, w.bob)
		directItem = r.Item
		if len(r.To) != 1 || r.To[0] != w.bob.id || r.Size != int64(len(data)) {
			t.Fatalf("share result %+v", r)
		}
		off := w.bob.wait(t, "item_offered", func(e event) bool { return e.Item == r.Item })
		if off.Friend != w.alice.id || off.Type != "photo" || off.Total != int64(len(data)) {
			t.Fatalf("offer %+v", off)
		}
		w.bob.cli(t, nil, "accept", r.Item[:6]) // a prefix is enough
		got := w.bob.wait(t, "item_received", func(e event) bool { return e.Item == r.Item })
		sameFile(t, got.Path, data)
		w.alice.wait(t, "delivered", func(e event) bool { return e.Item == r.Item && e.Friend == w.bob.id })
		if ob := w.alice.inbox(t).Outbox; len(ob) != 0 {
			t.Fatalf("alice's outbox after delivery: %+v", ob)
		}
		if w.relay.blobs(t) != 0 {
			t.Fatal("a direct share left blobs at the relay")
		}
	})

	t.Run("Reject", func(t *testing.T) {
		path, _ := writeFile(t, files, "declined.jpg", 20<<10)
		r := w.alice.share(t, path, w.bob)
		w.bob.wait(t, "item_offered", func(e event) bool { return e.Item == r.Item })
		w.bob.cli(t, nil, "reject", r.Item)
		w.alice.wait(t, "delivery_failed", func(e event) bool {
			return e.Item == r.Item && e.Friend == w.bob.id && e.Err == "rejected"
		})
		waitUntil(t, "alice's outbox empties after the reject", func() bool { return len(w.alice.inbox(t).Outbox) == 0 })
		for _, it := range w.bob.inbox(t).Inbox {
			if it.ID == r.Item && it.State != "rejected" {
				t.Fatalf("rejected item in bob's inbox: %+v", it)
			}
		}
		if w.bob.count("item_received", func(e event) bool { return e.Item == r.Item }) != 0 ||
			w.alice.count("delivered", func(e event) bool { return e.Item == r.Item }) != 0 {
			t.Fatal("a rejected item was delivered")
		}
	})

	t.Run("LikesAndMessages", func(t *testing.T) {
		var like itemResult
		w.bob.cli(t, &like, "like", w.alice.id[:8], directItem)
		ev := w.alice.wait(t, "like", func(e event) bool { return e.Item == like.Item })
		if ev.Friend != w.bob.id || ev.Text != directItem {
			t.Fatalf("like event %+v", ev)
		}
		var msg itemResult
		w.alice.cli(t, &msg, "message", w.bob.id[:8], "see", "you", "at", "the", "fountain")
		m := w.bob.wait(t, "message", func(e event) bool { return e.Item == msg.Item })
		if m.Text != "see you at the fountain" || m.Friend != w.alice.id {
			t.Fatalf("message event %+v", m)
		}
		w.alice.wait(t, "delivered", func(e event) bool { return e.Item == msg.Item })
	})

	t.Run("AutoShareAndAutoAccept", func(t *testing.T) {
		// Sender policy: shares without -to go to friends nearby now (bob;
		// carol has no location). Recipient policy: bob accepts alice's
		// items without being asked.
		w.alice.cli(t, nil, "policy", "nearby")
		w.bob.cli(t, nil, "auto-accept", w.alice.id, "on")
		path, data := writeFile(t, files, "auto.jpg", 70<<10)
		r := w.alice.share(t, path)
		if len(r.To) != 1 || r.To[0] != w.bob.id {
			t.Fatalf("policy picked %v, want only bob %s", r.To, w.bob.id)
		}
		got := w.bob.wait(t, "item_received", func(e event) bool { return e.Item == r.Item })
		sameFile(t, got.Path, data)
		if w.bob.count("item_offered", func(e event) bool { return e.Item == r.Item }) != 0 {
			t.Fatal("bob was asked despite auto-accept")
		}
		w.alice.cli(t, nil, "policy", "ask")
		if _, code := w.alice.cliErr(t, "share", "-wait", "0", path); code == 0 {
			t.Fatal("ask mode shared without recipients")
		}
	})

	t.Run("OfflineThroughRelayP9", func(t *testing.T) {
		// P9: carol never set a location (no location permission) and
		// still receives, through the relay.
		w.carol.stop(t)
		path, data := writeFile(t, files, "for-carol.png", 200<<10+5)
		r := w.alice.share(t, path, w.carol)
		var msg itemResult
		w.alice.cli(t, &msg, "message", w.carol.id, "left this for you")
		// The node says both are queued at carol's relay mailbox...
		w.alice.wait(t, "queued_at_relay", func(e event) bool { return e.Item == r.Item && e.Friend == w.carol.id })
		w.alice.wait(t, "queued_at_relay", func(e event) bool { return e.Item == msg.Item && e.Friend == w.carol.id })
		for _, it := range w.alice.inbox(t).Outbox {
			if (it.ID == r.Item || it.ID == msg.Item) && it.Recipients[w.carol.id] != "queued_at_relay" {
				t.Fatalf("outbox item %s: recipients %+v", it.ID, it.Recipients)
			}
		}
		// ...and the relay holds them: the offer, one blob of chunks (a
		// small photo) and the message.
		w.relay.waitBlobs(t, "the photo and the message posted", func(n int) bool { return n >= 3 })
		w.carol.start(t)
		w.carol.wait(t, "message", func(e event) bool { return e.Item == msg.Item && e.Text == "left this for you" })
		w.carol.wait(t, "item_offered", func(e event) bool { return e.Item == r.Item })
		w.carol.cli(t, nil, "accept", r.Item)
		got := w.carol.wait(t, "item_received", func(e event) bool { return e.Item == r.Item })
		sameFile(t, got.Path, data)
		w.alice.wait(t, "delivered", func(e event) bool { return e.Item == r.Item && e.Friend == w.carol.id })
		w.alice.wait(t, "delivered", func(e event) bool { return e.Item == msg.Item && e.Friend == w.carol.id })
		w.relay.waitBlobs(t, "empty after delivery", func(n int) bool { return n == 0 })
		// Exactly once, even after fetching the mailbox again on restart.
		w.carol.stop(t)
		w.carol.start(t)
		time.Sleep(500 * time.Millisecond)
		if w.carol.count("item_received", nil)+w.carol.count("message", nil)+w.carol.count("item_offered", nil) != 0 {
			t.Fatalf("delivered again after a restart: %+v", w.carol.events())
		}
	})

	t.Run("QuietZoneNeverFound", func(t *testing.T) {
		w.carol.cli(t, nil, "quiet", ff(quietLat), ff(quietLng), strconv.Itoa(quietRadius))
		w.locate(t, w.alice, quietLat, quietLng)
		cl, cg := geo.Destination(quietLat, quietLng, 0, 30)
		w.locate(t, w.carol, cl, cg)
		// A match takes milliseconds on loopback (see MeetThenShareDirect);
		// give it far longer.
		time.Sleep(3 * time.Second)
		if n := w.alice.count("friend_nearby", func(e event) bool { return e.Friend == w.carol.id }) +
			w.carol.count("friend_nearby", nil); n != 0 {
			t.Fatalf("a friend in a quiet zone was found (%d events)", n)
		}
	})

	t.Run("ForgetLeavesNothingAtRelay", func(t *testing.T) {
		// Park items alice sent to an offline bob at the relay, then alice
		// forgets: her signed requests must remove them.
		w.bob.stop(t)
		path, _ := writeFile(t, files, "parked.jpg", 150<<10)
		w.alice.share(t, path, w.bob)
		w.alice.cli(t, nil, "message", w.bob.id, "parked at the relay")
		// Both posted (offer + chunk blob + message): nothing of alice's is
		// in flight any more when she forgets.
		w.relay.waitBlobs(t, "the photo and the message parked", func(n int) bool { return n >= 3 })
		var fr struct {
			RelayError string `json:"relay_error"`
		}
		w.alice.cli(t, &fr, "forget", "-yes")
		if fr.RelayError != "" {
			t.Fatalf("forget: relay error %s", fr.RelayError)
		}
		code, err := w.alice.p.Wait(waitTimeout)
		if err != nil || code != 0 {
			t.Fatalf("alice's run after forget: exit %d, %v", code, err)
		}
		w.relay.waitBlobs(t, "empty after forget", func(n int) bool { return n == 0 })
		// Bob is offline and carol in her quiet zone: with alice's entries
		// withdrawn, the rendezvous holds nothing either.
		waitUntil(t, "no rendezvous entries after forget", func() bool {
			return w.relay.gauge(t, "imigee_relay_rendezvous_entries") == 0
		})
		ents, _ := os.ReadDir(w.alice.dir)
		if len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("alice's data dir after forget: %v", names)
		}
		if stderr, _ := w.alice.cliErr(t, "friends"); !strings.Contains(stderr, "imigee init") {
			t.Fatalf("friends after forget: %s", stderr)
		}
	})

	t.Run("P3P4NothingLocatesAFriend", func(t *testing.T) {
		// Every event every node printed (what the app, and so a friend's
		// device, gets) and every node log (info level) is searched for the
		// coordinates, the S2 cells around them and distance fields.
		needles := locationNeedles(w.places)
		var shortNeedles []string // 3 decimals: only where no timestamp is
		for _, p := range w.places {
			shortNeedles = append(shortNeedles, strconv.FormatFloat(p[0], 'f', 3, 64), strconv.FormatFloat(p[1], 'f', 3, 64))
		}
		allowed := map[string]bool{"time": true, "event": true, "id": true, "friend": true, "item": true,
			"type": true, "text": true, "path": true, "done": true, "total": true, "err": true, "via": true, "handle": true}
		lines := 0
		for _, n := range []*nodeProc{w.alice, w.bob, w.carol} {
			for _, l := range n.allLines() {
				lines++
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("%s printed a non-JSON line: %q", n.name, l)
				}
				for k := range m {
					if !allowed[k] {
						t.Errorf("%s event has field %q: %s", n.name, k, l)
					}
				}
				// The path an item took is a word, never a place.
				if v, ok := m["via"]; ok && v != node.ViaDirect && v != node.ViaCircuit && v != node.ViaMailbox {
					t.Errorf("%s event has via %q: %s", n.name, v, l)
				}
				// The timestamp's seconds could look like a short
				// coordinate ("13.413…"): check it parses, then leave it out.
				if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"])); err != nil {
					t.Errorf("%s event time %v: %v", n.name, m["time"], err)
				}
				delete(m, "time")
				rest, _ := json.Marshal(m)
				for _, nd := range append(needles, shortNeedles...) {
					if strings.Contains(string(rest), nd) {
						t.Errorf("%s event contains %q: %s", n.name, nd, l)
					}
				}
			}
			logb, _ := os.ReadFile(filepath.Join(w.root, n.name+".log"))
			for _, nd := range needles {
				if bytes.Contains(logb, []byte(nd)) {
					t.Errorf("%s log contains %q", n.name, nd)
				}
			}
		}
		if lines < 20 {
			t.Fatalf("only %d event lines recorded", lines)
		}
		t.Logf("searched %d event lines and 3 logs for %d needles", lines, len(needles))
	})
}

// locationNeedles are strings that would betray a position: each
// coordinate with 4, 5 and all decimals, and each S2 cell (levels 14 and 16,
// here and near) in decimal, hex and token form.
func locationNeedles(places [][2]float64) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, p := range places {
		for _, v := range p {
			for _, prec := range []int{4, 5} {
				add(strconv.FormatFloat(v, 'f', prec, 64))
			}
			add(strconv.FormatFloat(v, 'f', -1, 64))
		}
		for _, lvl := range []int{14, 16} {
			here, near := geo.AllCells(p[0], p[1], lvl)
			for _, c := range append([]uint64{here}, near...) {
				add(strconv.FormatUint(c, 10))
				h := fmt.Sprintf("%016x", c)
				add(h)
				add(strings.TrimRight(h, "0"))
			}
		}
	}
	for _, w := range []string{"distance", "meters", "metres", "latitude", "longitude"} {
		add(w)
	}
	return out
}

// rawRequest writes req to the control socket and returns the reply line.
func rawRequest(t *testing.T, sock string, req []byte) string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	wrote := make(chan struct{})
	go func() { defer close(wrote); _, _ = c.Write(req) }() // the server may stop reading early
	defer func() { c.Close(); <-wrote }()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no reply to a bad request: %v", err)
	}
	return line
}
