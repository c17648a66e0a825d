package mobile

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/protocol"
)

//go:noinline
func panicWithSecret(secret string) { panic(errors.New(secret)) }

// TestCrashCountedBySignature (P13): a panic recovered at the facade is
// counted in today's analytics as one crash in the bucket of the panicking
// function's name, and nothing else of it: the preview (what the report
// would carry) holds neither the function's name nor the panic's text. The
// app version is there only as its bucket. A second node in the process
// with analytics off counts nothing. Before this, CountCrash had no caller
// and the crash fields stayed 0.
func TestCrashCountedBySignature(t *testing.T) {
	key := hex.EncodeToString(make([]byte, 32))
	an := `{"leader":"/ip4/127.0.0.1/udp/9/quic-v1/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq","leader_key":"` + key + `","helper_key":"` + key + `"}`
	on, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey(), AnalyticsJSON: an, Platform: "android", AppVersion: "2.3.1-secret-build"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	off, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	const secret = "secret-photo-path-and-friend-name"
	testPanic = func(method string) {
		if method == "Invite" {
			panicWithSecret(secret)
		}
	}
	defer func() { testPanic = nil }()
	if _, err := on.Invite(); ErrorCode(err) != CodeInternal {
		t.Fatalf("panic: %v", err)
	}
	const top = "github.com/imigee/imigee/node/mobile.panicWithSecret"
	preview := on.AnalyticsPreviewJSON()
	var pv map[string]uint64
	if err := json.Unmarshal([]byte(preview), &pv); err != nil {
		t.Fatal(err)
	}
	want := protocol.AnalyticsHashBucket(top)
	for b := range protocol.AnalyticsHashBuckets {
		f := "crash_sig_" + strconv.Itoa(b)
		if w := uint64(b2i(b == want)); pv[f] != w {
			t.Fatalf("%s = %d, want %d (%s)", f, pv[f], w, preview)
		}
	}
	if pv["crash"] != 1 {
		t.Fatalf("crash = %d, want 1", pv["crash"])
	}
	v := protocol.AnalyticsHashBucket("2.3.1-secret-build")
	if pv["app_version_"+strconv.Itoa(v)] != 1 || pv["platform_android"] != 1 {
		t.Fatalf("app version bucket %d or platform not set: %s", v, preview)
	}
	for _, s := range []string{secret, "panicWithSecret", "mobile.", "secret-build", "2.3.1"} {
		if strings.Contains(preview, s) {
			t.Fatalf("the report would carry %q: %s", s, preview)
		}
	}
	if got := off.AnalyticsPreviewJSON(); got != "{}" {
		t.Fatalf("a node with analytics off counted: %s", got)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTopFunction: the signature is the panicking function, past the
// runtime's frames, for a panic value and for a runtime error.
func TestTopFunction(t *testing.T) {
	got := func() (top string) {
		defer func() { _ = recover(); top = topFunction() }()
		panicWithSecret("x")
		return ""
	}()
	if got != "github.com/imigee/imigee/node/mobile.panicWithSecret" {
		t.Fatalf("top function %q", got)
	}
	got = func() (top string) {
		defer func() { _ = recover(); top = topFunction() }()
		nilDeref(nil)
		return ""
	}()
	if got != "github.com/imigee/imigee/node/mobile.nilDeref" {
		t.Fatalf("top function of a runtime error %q", got)
	}
}

//go:noinline
func nilDeref(p *Node) *node.Node { return p.n }
