package nodee2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto/geo"
)

// TestTogetherCLI (issue 10) drives the taken-while-together commands of
// the built binary: two friends meet (real rendezvous at a real relay),
// "imigee meetings" lists it, "share -taken-while-with" shares the photo
// taken during the meeting and skips the one taken two days before,
// "share -auto" shares by capture time with whoever was there, and
// "network none|wifi" and "proposals" answer.
func TestTogetherCLI(t *testing.T) {
	t.Parallel()
	root := shortTempDir(t)
	r := startRelay(t, root)
	alice := newNode(t, root, "alice", r.addrs)
	bob := newNode(t, root, "bob", r.addrs)
	alice.start(t)
	bob.start(t)
	link(t, alice, bob)
	const lat, lng = 45.76400, 4.83570
	alice.locate(t, lat, lng)
	bl, bg := geo.Destination(lat, lng, 180, 30)
	bob.locate(t, bl, bg)
	alice.wait(t, "friend_nearby", func(e event) bool { return e.Friend == bob.id })

	type meeting struct {
		Friend   string
		From, To int64
		Kind     string
	}
	var ms []meeting
	waitUntil(t, "alice lists the meeting", func() bool {
		alice.cli(t, &ms, "meetings", "-since", "1h")
		return len(ms) > 0
	})
	if ms[0].Friend != bob.id || ms[0].Kind != "live" || ms[0].To <= ms[0].From {
		t.Fatalf("meetings %+v", ms)
	}
	files := shortTempDir(t)
	during, _ := writeFile(t, files, "during.jpg", 3000)
	before, _ := writeFile(t, files, "before.jpg", 3000)
	auto, _ := writeFile(t, files, "auto.jpg", 3000)
	at := time.Unix(ms[0].From+1, 0) // no EXIF: the modification time is the capture time
	for p, tm := range map[string]time.Time{during: at, before: at.Add(-48 * time.Hour), auto: at} {
		if err := os.Chtimes(p, tm, tm); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		File    string
		Taken   int64
		From    string `json:"taken_from"`
		Item    string
		To      []string
		Skipped bool
	}
	lines := func(out string) []result {
		var rs []result
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var r result
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	stdout, stderr, code := runCLI(t, "share", "-data-dir", alice.dir, "-json", "-taken-while-with", bob.id[:8], during, before)
	if code != 0 {
		t.Fatalf("share -taken-while-with: exit %d: %s", code, stderr)
	}
	rs := lines(stdout)
	if len(rs) != 2 || rs[0].Item == "" || rs[0].Taken != at.Unix() || rs[0].From != "mtime" || !rs[1].Skipped || rs[1].Item != "" {
		t.Fatalf("share -taken-while-with: %+v", rs)
	}
	bob.wait(t, "item_offered", func(e event) bool { return e.Item == rs[0].Item })

	stdout, stderr, code = runCLI(t, "share", "-data-dir", alice.dir, "-json", "-auto", auto)
	if code != 0 {
		t.Fatalf("share -auto: exit %d: %s", code, stderr)
	}
	if rs := lines(stdout); len(rs) != 1 || rs[0].Item == "" || len(rs[0].To) != 1 || rs[0].To[0] != bob.id {
		t.Fatalf("share -auto: %+v", rs)
	} else {
		bob.wait(t, "item_offered", func(e event) bool { return e.Item == rs[0].Item })
	}
	if _, code := alice.cliErr(t, "share", "-auto", "-taken-while-with", bob.id[:8], auto); code != 2 {
		t.Fatalf("-auto with -taken-while-with: exit %d, want 2", code)
	}
	var ps []any
	alice.cli(t, &ps, "proposals")
	if len(ps) != 0 {
		t.Fatalf("proposals %v", ps)
	}
	// The capture time travels with the photo: bob's inbox shows it.
	waitUntil(t, "bob's inbox shows the capture time", func() bool {
		var ib struct {
			Inbox []struct {
				ID    string
				Taken int64
			}
		}
		bob.cli(t, &ib, "inbox")
		for _, it := range ib.Inbox {
			if it.ID == rs[0].Item && it.Taken == at.Unix() {
				return true
			}
		}
		return false
	})
	// The together policy on a plain share: nobody was with alice two
	// days ago, so the photo waits (no item).
	alice.cli(t, nil, "policy", "together-auto")
	var wait struct{ Item string }
	alice.cli(t, &wait, "share", "-wait", "0", before)
	if wait.Item != "" {
		t.Fatalf("plain share under the together policy shared %s", wait.Item)
	}
	alice.cli(t, nil, "network", "none")
	alice.cli(t, nil, "network", "wifi")
	if _, code := alice.cliErr(t, "network", "moon"); code != 2 {
		t.Fatalf("network moon: exit %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(alice.dir, "control.sock")); err != nil {
		t.Fatal(err)
	}
}
