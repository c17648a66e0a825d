package nodee2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imigee/imigee/test/internal/e2e"
)

// waitTimeout bounds each wait for an event or a relay state. Generous:
// the machine is shared, and a wait ends as soon as its condition holds.
const waitTimeout = 30 * time.Second

// event is one line of "imigee run -json".
type event struct {
	Time   string `json:"time"`
	Event  string `json:"event"`
	ID     string `json:"id"`
	Friend string `json:"friend"`
	Item   string `json:"item"`
	Type   string `json:"type"`
	Text   string `json:"text"`
	Path   string `json:"path"`
	Done   int64  `json:"done"`
	Total  int64  `json:"total"`
	Err    string `json:"err"`
}

// relayProc is the imigee-relay child.
type relayProc struct {
	*e2e.Proc
	addrs []string // listen multiaddrs with /p2p/ID
	admin string
}

func startRelay(t *testing.T, dir string) *relayProc {
	t.Helper()
	p, err := e2e.StartLog(filepath.Join(dir, "relay.log"), relayBin, "run", "-data-dir", filepath.Join(dir, "relay"),
		"-listen", "/ip4/127.0.0.1/udp/0/quic-v1", "-listen", "/ip4/127.0.0.1/tcp/0", "-admin", "127.0.0.1:0", "-epoch", "60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	kv, err := p.Announced(true)
	if err != nil {
		t.Fatal(err)
	}
	return &relayProc{Proc: p, addrs: kv["listen"], admin: kv["admin"][0]}
}

// gauge reads one gauge of the relay's /metrics.
func (r *relayProc) gauge(t *testing.T, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := e2e.HTTPGet(ctx, "http://"+r.admin+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(f)
		}
	}
	t.Fatalf("relay metrics have no %s", name)
	return 0
}

// blobs reads the imigee_relay_store_blobs gauge.
func (r *relayProc) blobs(t *testing.T) int { return r.gauge(t, "imigee_relay_store_blobs") }

// waitBlobs waits until cond holds for the relay's blob count.
func (r *relayProc) waitBlobs(t *testing.T, what string, cond func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		n := r.blobs(t)
		if cond(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay: %s: still %d blobs after %v", what, n, waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeProc is one "imigee run -json" child and its data directory.
type nodeProc struct {
	name string
	dir  string
	id   string
	p    *e2e.Proc
	// past are the earlier processes of this node (before restarts); their
	// events count for the P3/P4 scan.
	past []*e2e.Proc
	// owner is the test that created the node: its processes live until
	// that test ends, even when a subtest (re)starts them.
	owner *testing.T
}

// newNode runs "imigee init" for name under root.
func newNode(t *testing.T, root, name string, relays []string) *nodeProc {
	t.Helper()
	n := &nodeProc{name: name, dir: filepath.Join(root, name), owner: t}
	args := []string{"init", "-data-dir", n.dir, "-json"}
	for _, r := range relays {
		args = append(args, "-relay", r)
	}
	var r struct{ ID string }
	cliJSON(t, &r, args...)
	if len(r.ID) < 16 {
		t.Fatalf("init printed ID %q", r.ID)
	}
	n.id = r.ID
	return n
}

// start runs "imigee run" on the node's data dir and waits for "started".
func (n *nodeProc) start(t *testing.T, extra ...string) {
	t.Helper()
	if n.p != nil {
		n.past = append(n.past, n.p)
	}
	args := append([]string{"run", "-data-dir", n.dir, "-json", "-epoch", "60", "-log-level", "info",
		"-listen", "/ip4/127.0.0.1/udp/0/quic-v1", "-listen", "/ip4/127.0.0.1/tcp/0"}, extra...)
	p, err := e2e.StartLog(filepath.Join(filepath.Dir(n.dir), n.name+".log"), imigeeBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	n.p = p
	n.owner.Cleanup(p.Kill)
	ev := n.wait(t, "started", nil)
	if ev.ID != n.id {
		t.Fatalf("%s started as %q, init said %q", n.name, ev.ID, n.id)
	}
}

// stop sends SIGTERM and requires exit status 0.
func (n *nodeProc) stop(t *testing.T) {
	t.Helper()
	if err := n.p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := n.p.Wait(waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("%s exited %d after SIGTERM; log:\n%s", n.name, code, n.p.LogTail(4096))
	}
}

// events returns the current process's events so far.
func (n *nodeProc) events() []event { return parseEvents(n.p.Lines()) }

// allLines returns every stdout line of every process of this node.
func (n *nodeProc) allLines() []string {
	var out []string
	for _, p := range append(append([]*e2e.Proc(nil), n.past...), n.p) {
		out = append(out, p.Lines()...)
	}
	return out
}

func parseEvents(lines []string) []event {
	var out []event
	for _, l := range lines {
		var ev event
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Event != "" {
			out = append(out, ev)
		}
	}
	return out
}

// wait returns the first event of kind matching match (nil: any) of the
// current process, failing after waitTimeout.
func (n *nodeProc) wait(t *testing.T, kind string, match func(event) bool) event {
	t.Helper()
	var got event
	_, err := n.p.WaitStdout(waitTimeout, func(lines []string) bool {
		for _, ev := range parseEvents(lines) {
			if ev.Event == kind && (match == nil || match(ev)) {
				got = ev
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%s: no %s event: %v\nevents: %+v", n.name, kind, err, n.events())
	}
	return got
}

// count counts the current process's events of kind matching match.
func (n *nodeProc) count(kind string, match func(event) bool) int {
	c := 0
	for _, ev := range n.events() {
		if ev.Event == kind && (match == nil || match(ev)) {
			c++
		}
	}
	return c
}

// cli runs "imigee CMD -data-dir DIR -json ARGS..." for this node and
// decodes its JSON output into out (may be nil).
func (n *nodeProc) cli(t *testing.T, out any, cmd string, args ...string) {
	t.Helper()
	cliJSON(t, out, append([]string{cmd, "-data-dir", n.dir, "-json"}, args...)...)
}

// cliErr runs the CLI expecting failure and returns its stderr and code.
func (n *nodeProc) cliErr(t *testing.T, cmd string, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := runCLI(t, append([]string{cmd, "-data-dir", n.dir}, args...)...)
	if code == 0 {
		t.Fatalf("imigee %s succeeded, want failure; stdout %s", cmd, stdout)
	}
	return stderr, code
}

func cliJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("imigee %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			t.Fatalf("imigee %s: output %q: %v", args[0], stdout, err)
		}
	}
}

// runCLI runs the imigee binary and returns stdout, stderr and exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, imigeeBin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("imigee %s: %v", args[0], err)
	}
	return so.String(), se.String(), code
}

// link makes invitee answer inviter's invite and waits for both sides.
func link(t *testing.T, inviter, invitee *nodeProc) {
	t.Helper()
	var inv struct{ Invite string }
	inviter.cli(t, &inv, "invite")
	var lr struct {
		Friend       string
		SafetyNumber string `json:"safety_number"`
	}
	invitee.cli(t, &lr, "link", inv.Invite)
	if lr.Friend != inviter.id {
		t.Fatalf("%s linked with %s, want %s", invitee.name, lr.Friend, inviter.id)
	}
	inviter.wait(t, "friend_linked", func(e event) bool { return e.Friend == invitee.id })
	invitee.wait(t, "friend_linked", func(e event) bool { return e.Friend == inviter.id })
	// Both see the same safety number.
	var fs []struct {
		ID           string
		SafetyNumber string `json:"safety_number"`
	}
	inviter.cli(t, &fs, "friends")
	for _, f := range fs {
		if f.ID == invitee.id && f.SafetyNumber != lr.SafetyNumber {
			t.Fatalf("safety numbers differ: %q vs %q", f.SafetyNumber, lr.SafetyNumber)
		}
	}
}

// itemResult is the JSON output of share, like and message.
type itemResult struct {
	Item string
	To   []string
	Size int64
}

// share shares path from n with friends (none: the share policy decides).
func (n *nodeProc) share(t *testing.T, path string, to ...*nodeProc) itemResult {
	t.Helper()
	args := []string{"-wait", "0"}
	for _, f := range to {
		args = append(args, "-to", f.id[:8]) // a unique prefix is enough
	}
	var r itemResult
	n.cli(t, &r, "share", append(args, path)...)
	return r
}

// inbox is the JSON output of "imigee inbox".
type inbox struct {
	Inbox  []inboxItem
	Outbox []inboxItem
}

type inboxItem struct {
	ID     string
	Friend string
	To     []string
	Type   string
	Text   string
	Path   string
	State  string
	// Recipients: outbox only, friend ID → state.
	Recipients map[string]string
}

func (n *nodeProc) inbox(t *testing.T) inbox {
	t.Helper()
	var ib inbox
	n.cli(t, &ib, "inbox")
	return ib
}

// locate sets n's position.
func (n *nodeProc) locate(t *testing.T, lat, lng float64) {
	t.Helper()
	n.cli(t, nil, "locate", ff(lat), ff(lng), "10")
}

func ff(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// writeFile writes size random bytes to a new file named name in dir.
func writeFile(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d sent", path, len(got), len(want))
	}
}

// waitUntil polls cond every 50 ms up to waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shortTempDir is a temp dir with a short path: control sockets live in
// the data dirs and unix socket paths are limited to 107 bytes, which
// t.TempDir() paths can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ne2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
