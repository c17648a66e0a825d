package mobile

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/imigee/imigee/relay"
)

type wake struct {
	at     time.Time
	method string
	path   string
	body   int
	header http.Header
}

// pushEndpoint is a real local HTTP endpoint on 127.0.0.1 standing in for
// a push provider.
func pushEndpoint(t *testing.T) (*httptest.Server, chan wake) {
	t.Helper()
	got := make(chan wake, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- wake{at: time.Now(), method: r.Method, path: r.URL.Path, body: len(b), header: r.Header.Clone()}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestPushWakesBackgroundedNode: a node registers its push endpoint on its
// way to the background; an item posted for it makes the relay POST an
// empty wake-up to that endpoint (no content, no mailbox or blob ID), and
// SyncOnce then delivers the item.
func TestPushWakesBackgroundedNode(t *testing.T) {
	srv, got := pushEndpoint(t)
	r := startRelay(t, func(c *relay.Config) {
		c.Push.AllowHosts = []string{"127.0.0.1"}
		c.Push.AllowHTTP = true
	})
	addr, _ := relayQUIC(t, r)
	a, ea := newStarted(t, addr)
	b, eb := newStarted(t, addr)
	linkPair(t, a, b)
	if err := a.SetPushEndpoint(srv.URL + "/up/opaque-instance-token"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	mid, err := b.SendMessage(a.ID(), "psst")
	if err != nil {
		t.Fatal(err)
	}
	eb.wait(t, EventQueued, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
	queued := time.Now()
	var w wake
	select {
	case w = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no push wake-up arrived")
	}
	if w.method != http.MethodPost || w.body != 0 || w.path != "/up/opaque-instance-token" {
		t.Fatalf("wake-up %+v", w)
	}
	for k := range w.header {
		switch http.CanonicalHeaderKey(k) {
		case "Ttl", "Urgency", "Content-Length", "User-Agent", "Accept-Encoding", "Connection":
		default:
			t.Fatalf("unexpected header %q in the wake-up", k)
		}
	}
	t.Logf("send → push POST %v (includes the sender's direct-dial budget); queued event → POST %v",
		w.at.Sub(sent).Round(time.Millisecond), w.at.Sub(queued).Round(time.Millisecond))
	s, err := a.SyncOnce(10000)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct{ Received int }
	if json.Unmarshal([]byte(s), &sum) != nil || sum.Received != 1 {
		t.Fatalf("summary %s", s)
	}
	if ev := ea.wait(t, EventMessage, nil, time.Second); ev.Text != "psst" {
		t.Fatalf("message %+v", ev)
	}
}

// TestPushOnlyToAllowedHosts: the relay POSTs only to hosts on its
// operator's allow-list, so a phone (or anyone) cannot make it send
// requests to an arbitrary address (SSRF): an endpoint on a host the list
// does not name is refused at registration and never receives anything.
func TestPushOnlyToAllowedHosts(t *testing.T) {
	srv, got := pushEndpoint(t)
	r := startRelay(t, func(c *relay.Config) {
		c.Push.AllowHosts = []string{"push.example.org"}
		c.Push.AllowHTTP = true
	})
	addr, _ := relayQUIC(t, r)
	a, _ := newStarted(t, addr)
	b, eb := newStarted(t, addr)
	linkPair(t, a, b)
	if err := a.SetPushEndpoint(srv.URL + "/internal/admin"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	mid, err := b.SendMessage(a.ID(), "psst")
	if err != nil {
		t.Fatal(err)
	}
	eb.wait(t, EventQueued, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
	select {
	case w := <-got:
		t.Fatalf("relay POSTed to a host not on its allow-list: %+v", w)
	case <-time.After(2 * time.Second):
	}
	if err := a.SetPushEndpoint("file:///etc/passwd"); ErrorCode(err) != CodeBadArgument {
		t.Fatalf("non-http endpoint: %v", err)
	}
}
