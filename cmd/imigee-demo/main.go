package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// demoEpoch is the proximity epoch of the demo nodes: 60 s, the shortest
// relays accept (protocol.MinEpochSeconds). Meeting does not wait for an
// epoch boundary: a node announces as soon as it enters a new cell.
const demoEpoch = 60

// The meeting place: a square in Berlin. The positions are only given to
// the nodes on their control sockets; they never leave the "phones".
const (
	placeLat, placeLng = 52.52190, 13.41320
	// bob stands about 40 m east of alice.
	bobLat, bobLng = 52.52190, 13.41379
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imigee-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binDir := fs.String("bin-dir", "", "`directory` with imigee and imigee-relay (default: this program's directory)")
	keep := fs.Bool("keep", false, "keep the temporary directory (data dirs and logs) for a look afterwards")
	late := fs.Bool("late", false, "add the festival scene: a meeting found after the fact and the photo it shares (about a minute more)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: imigee-demo [-bin-dir DIR] [-keep] [-late]

Runs Imigee on this machine: a relay and three nodes (alice, bob, carol) as
real processes on 127.0.0.1, and tells what happens. "make demo" runs it.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(stderr, "imigee-demo:", err)
			return 1
		}
		*binDir = filepath.Dir(exe)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := newDemo(*binDir, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "imigee-demo:", err)
		return 1
	}
	d.late = *late
	err = d.run(ctx)
	d.cleanup(*keep)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "imigee-demo: interrupted; everything stopped and removed")
			return 130
		}
		fmt.Fprintln(stderr, "imigee-demo: FAILED:", err)
		return 1
	}
	return 0
}

// demo holds the processes and the story's clock.
type demo struct {
	out      io.Writer
	imigee   string // binary paths
	relayBin string
	dir      string // temp dir: data dirs and logs
	start    time.Time

	relay      *proc
	relayAddrs []string
	admin      string
	nodes      map[string]*node
	all        []*proc         // every process ever started, for cleanup
	late       bool            // -late: the festival scene (late.go)
	items      map[string]bool // items shared so far in the story
}

// node is one demo person.
type node struct {
	name string
	dir  string
	id   string
	p    *proc
}

func newDemo(binDir string, out io.Writer) (*demo, error) {
	im, err := findBin(binDir, "imigee")
	if err != nil {
		return nil, err
	}
	rb, err := findBin(binDir, "imigee-relay")
	if err != nil {
		return nil, err
	}
	// A short path: the control sockets live in the data dirs, and unix
	// socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "imigee-demo-")
	if err != nil {
		return nil, err
	}
	return &demo{out: out, imigee: im, relayBin: rb, dir: dir, nodes: map[string]*node{}, items: map[string]bool{}}, nil
}

// say prints one line of the story with the wall-clock time.
func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.out, "%s  %s\n", time.Now().Format("15:04:05.0"), fmt.Sprintf(format, a...))
}

func secs(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func (d *demo) cleanup(keep bool) {
	for i := len(d.all) - 1; i >= 0; i-- {
		d.all[i].stop()
	}
	if keep {
		fmt.Fprintf(d.out, "Kept %s (data directories and logs).\n", d.dir)
		return
	}
	os.RemoveAll(d.dir)
}

func (d *demo) run(ctx context.Context) error {
	d.start = time.Now()
	fmt.Fprintf(d.out, `Imigee demo: a relay and three phones (alice, bob, carol), each a real process on
127.0.0.1. Proximity epoch: %d s, the shortest the protocol allows (phones use
10 min); meeting does not wait for it, a phone announces on arriving somewhere.

`, demoEpoch)
	if err := d.startRelay(ctx); err != nil {
		return err
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		if err := d.initNode(ctx, name); err != nil {
			return err
		}
		if err := d.startNode(ctx, name); err != nil {
			return err
		}
	}
	d.say("alice, bob and carol are running (random IDs %s, %s, %s)", short(d.nodes["alice"].id), short(d.nodes["bob"].id), short(d.nodes["carol"].id))
	for _, name := range []string{"bob", "carol"} {
		if err := d.link(ctx, "alice", name); err != nil {
			return err
		}
	}
	if err := d.contactLink(ctx); err != nil {
		return err
	}
	if err := d.meet(ctx); err != nil {
		return err
	}
	photo := filepath.Join(d.dir, "fountain.png")
	size, err := writePhoto(photo)
	if err != nil {
		return err
	}
	if err := d.shareDirect(ctx, photo, size); err != nil {
		return err
	}
	if err := d.shareOffline(ctx, photo, size); err != nil {
		return err
	}
	if d.late {
		if err := d.lateScene(ctx); err != nil {
			return err
		}
	}
	d.say("done in %s; stopping everything and removing %s", secs(time.Since(d.start)), d.dir)
	return nil
}

func (d *demo) startRelay(ctx context.Context) error {
	p, err := startProc("relay", filepath.Join(d.dir, "relay.log"), d.relayBin, "run",
		"-data-dir", filepath.Join(d.dir, "relay"),
		"-listen", "/ip4/127.0.0.1/udp/0/quic-v1", "-listen", "/ip4/127.0.0.1/tcp/0",
		"-admin", "127.0.0.1:0", "-epoch", fmt.Sprint(demoEpoch))
	if err != nil {
		return err
	}
	d.all = append(d.all, p)
	d.relay = p
	if _, err := p.waitLine(ctx, startTimeout, "admin address", func(l string) bool { return strings.HasPrefix(l, "admin ") }); err != nil {
		return err
	}
	var peerID string
	for _, l := range p.snapshot() {
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "listen":
			d.relayAddrs = append(d.relayAddrs, v)
		case "admin":
			d.admin = v
		case "peer_id":
			peerID = v
		}
	}
	if len(d.relayAddrs) == 0 {
		return errors.New("relay announced no listen address")
	}
	d.say("relay is up (peer %s…, QUIC and TCP on 127.0.0.1; metrics at http://%s/metrics)", peerID[:min(len(peerID), 16)], d.admin)
	return nil
}

// cli runs "imigee CMD -data-dir DIR -json ARGS..." for name.
func (d *demo) cli(ctx context.Context, name, cmd string, args ...string) ([]byte, error) {
	full := append([]string{cmd, "-data-dir", d.nodes[name].dir, "-json"}, args...)
	out, err := runCLI(ctx, d.imigee, full...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func (d *demo) initNode(ctx context.Context, name string) error {
	n := &node{name: name, dir: filepath.Join(d.dir, name)}
	d.nodes[name] = n
	args := []string{}
	for _, a := range d.relayAddrs {
		args = append(args, "-relay", a)
	}
	out, err := d.cli(ctx, name, "init", args...)
	if err != nil {
		return err
	}
	var r struct{ ID string }
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("%s: init output: %w", name, err)
	}
	n.id = r.ID
	return nil
}

func (d *demo) startNode(ctx context.Context, name string) error {
	n := d.nodes[name]
	p, err := startProc(name, filepath.Join(d.dir, name+".log"), d.imigee, "run",
		"-data-dir", n.dir, "-json", "-epoch", fmt.Sprint(demoEpoch),
		"-listen", "/ip4/127.0.0.1/udp/0/quic-v1", "-listen", "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		return err
	}
	d.all = append(d.all, p)
	n.p = p
	_, err = p.waitEvent(ctx, "started", nil)
	return err
}

func (d *demo) link(ctx context.Context, inviter, invitee string) error {
	t0 := time.Now()
	out, err := d.cli(ctx, inviter, "invite")
	if err != nil {
		return err
	}
	var inv struct{ Invite string }
	if err := json.Unmarshal(out, &inv); err != nil {
		return err
	}
	out, err = d.cli(ctx, invitee, "link", inv.Invite)
	if err != nil {
		return err
	}
	var lr struct {
		Friend       string
		SafetyNumber string `json:"safety_number"`
	}
	if err := json.Unmarshal(out, &lr); err != nil {
		return err
	}
	if lr.Friend != d.nodes[inviter].id {
		return fmt.Errorf("%s linked with %s, want %s", invitee, lr.Friend, d.nodes[inviter].id)
	}
	if _, err := d.nodes[inviter].p.waitEvent(ctx, "friend_linked", func(e event) bool { return e.Friend == d.nodes[invitee].id }); err != nil {
		return err
	}
	d.say("%s scanned %s's invite: friends now (%s; both see safety number %s)", invitee, inviter, secs(time.Since(t0)), lr.SafetyNumber)
	return nil
}

func (d *demo) meet(ctx context.Context) error {
	a, b := d.nodes["alice"], d.nodes["bob"]
	if _, err := d.cli(ctx, "alice", "locate", fmt.Sprint(placeLat), fmt.Sprint(placeLng), "10"); err != nil {
		return err
	}
	d.say("alice walks into a square (her position stays on her phone)")
	arrived := time.Now()
	if _, err := d.cli(ctx, "bob", "locate", fmt.Sprint(bobLat), fmt.Sprint(bobLng), "10"); err != nil {
		return err
	}
	d.say("bob arrives, about 40 m from alice")
	if _, err := a.p.waitEvent(ctx, "friend_nearby", func(e event) bool { return e.Friend == b.id }); err != nil {
		return err
	}
	if _, err := b.p.waitEvent(ctx, "friend_nearby", func(e event) bool { return e.Friend == a.id }); err != nil {
		return err
	}
	d.say("alice and bob are nearby (%s after bob arrived): the relay matched 8-byte tokens, not places", secs(time.Since(arrived)))
	return nil
}

// share asks from to share path with to and returns the item ID.
func (d *demo) share(ctx context.Context, from, to, path string) (string, error) {
	out, err := d.cli(ctx, from, "share", "-wait", "0", "-to", d.nodes[to].id, path)
	if err != nil {
		return "", err
	}
	var r struct{ Item string }
	if err := json.Unmarshal(out, &r); err != nil {
		return "", err
	}
	d.items[r.Item] = true
	return r.Item, nil
}

// receive has name accept item from its offer and checks the received
// file against want.
func (d *demo) receive(ctx context.Context, name, item, want string) (event, error) {
	n := d.nodes[name]
	if _, err := n.p.waitEvent(ctx, "item_offered", func(e event) bool { return e.Item == item }); err != nil {
		return event{}, err
	}
	if _, err := d.cli(ctx, name, "accept", item); err != nil {
		return event{}, err
	}
	got, err := n.p.waitEvent(ctx, "item_received", func(e event) bool { return e.Item == item })
	if err != nil {
		return event{}, err
	}
	a, err1 := os.ReadFile(want)
	b, err2 := os.ReadFile(got.Path)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return got, fmt.Errorf("%s: received file %s differs from the photo sent", name, got.Path)
	}
	return got, nil
}

func (d *demo) shareDirect(ctx context.Context, photo string, size int64) error {
	t0 := time.Now()
	item, err := d.share(ctx, "alice", "bob", photo)
	if err != nil {
		return err
	}
	d.say("alice shares fountain.png (%s) with bob; it is sealed once on her phone", kib(size))
	if _, err := d.nodes["bob"].p.waitEvent(ctx, "item_offered", func(e event) bool { return e.Item == item }); err != nil {
		return err
	}
	d.say("bob is asked whether he wants it (%s after sharing) and accepts", secs(time.Since(t0)))
	if _, err := d.receive(ctx, "bob", item, photo); err != nil {
		return err
	}
	d.say("bob has the photo, straight from alice's phone (%s after sharing; same bytes)", secs(time.Since(t0)))
	if _, err := d.nodes["alice"].p.waitEvent(ctx, "delivered", func(e event) bool { return e.Item == item }); err != nil {
		return err
	}
	d.say("alice got bob's signed receipt and dropped her pending copy")
	return nil
}

func (d *demo) shareOffline(ctx context.Context, photo string, size int64) error {
	c := d.nodes["carol"]
	c.p.stop()
	if !c.p.exitedOK() {
		return fmt.Errorf("carol did not stop cleanly; log %s", c.p.logPath)
	}
	d.say("carol's phone goes offline")
	t0 := time.Now()
	item, err := d.share(ctx, "alice", "carol", photo)
	if err != nil {
		return err
	}
	d.say("alice shares the photo with carol too")
	if _, err := d.nodes["alice"].p.waitEvent(ctx, "queued_at_relay", func(e event) bool { return e.Item == item && e.Friend == c.id }); err != nil {
		return err
	}
	queued := time.Since(t0)
	// The relay's own count, as a cross-check of the node's event.
	n, err := settledBlobs(ctx, d.admin)
	if err != nil {
		return err
	}
	d.say("carol is unreachable, so alice's phone left it in carol's mailbox at the relay: %d sealed blobs the relay cannot open (%s)", n, secs(queued))
	t1 := time.Now()
	if err := d.startNode(ctx, "carol"); err != nil {
		return err
	}
	d.say("carol is back online")
	if _, err := c.p.waitEvent(ctx, "item_offered", func(e event) bool { return e.Item == item }); err != nil {
		return err
	}
	d.say("carol's phone fetched its mailbox and asks her (%s after coming back); she accepts", secs(time.Since(t1)))
	if _, err := d.receive(ctx, "carol", item, photo); err != nil {
		return err
	}
	d.say("carol has the photo, through the relay (%s after coming back; same bytes)", secs(time.Since(t1)))
	if _, err := d.nodes["alice"].p.waitEvent(ctx, "delivered", func(e event) bool { return e.Item == item && e.Friend == c.id }); err != nil {
		return err
	}
	d.say("alice got carol's signed receipt through her own mailbox (carol's phone waits a random 1–20 s before posting it, so the relay cannot tie the receipt to her fetch)")
	if _, err := waitBlobs(ctx, d.admin, "an empty store", func(n int) bool { return n == 0 }); err != nil {
		return err
	}
	d.say("the relay holds nothing any more: every blob was deleted when it was acknowledged")
	return nil
}

func short(id string) string { return id[:min(len(id), 8)] }

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }
