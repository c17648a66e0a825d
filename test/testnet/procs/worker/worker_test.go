package worker

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/test/testnet/procs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts a Server on 127.0.0.1 whose processes would be "true"
// (enough for everything but starting relays and nodes).
func serve(t *testing.T, token string) (*Server, string) {
	t.Helper()
	s, err := NewServer(Config{Token: token, Host: procs.HostConfig{Imigee: "true", Relay: "true", Dir: t.TempDir()}, Capacity: 3})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// TestProtocol: token, version and capacity, run IDs, request checks,
// and events from the worker's processes reaching the controller.
func TestProtocol(t *testing.T) {
	s, addr := serve(t, "sesame")
	ctx := context.Background()

	if _, err := (&Client{Addr: addr, Token: "wrong"}).Hello(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := (&Client{Addr: addr}).Open(ctx, nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no token: %v", err)
	}
	c := &Client{Addr: addr, Token: "sesame"}
	var mu sync.Mutex
	var got []procs.NodeEvent
	m, err := c.Open(ctx, func(e procs.NodeEvent) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Capacity() != 3 {
		t.Errorf("capacity %d, want 3", c.Capacity())
	}
	if _, err := m.Control(ctx, 0, procs.Command{Cmd: "share"}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("share through control: %v", err)
	}
	if _, err := m.Control(ctx, 0, procs.Command{Cmd: procs.CmdLocate, Lat: 91}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("latitude 91: %v", err)
	}
	if err := m.StartNode(ctx, 5); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "no such") {
		t.Errorf("unknown node: %v", err)
	}
	if err := m.StartRelay(ctx, 0, procs.RelaySpec{EpochSeconds: 1}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("epoch 1 s: %v", err)
	}
	if _, err := m.SharePhoto(ctx, 0, procs.MaxShareSize+1, []string{"x"}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("oversized photo: %v", err)
	}

	// Events the worker's nodes emit arrive, in order, heartbeats aside.
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	for i := range 3 {
		r.emit(procs.NodeEvent{Node: i, Event: "friend_nearby", Friend: "f"})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 events arrived", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got[2].Node != 2 || got[2].Event != "friend_nearby" {
		t.Errorf("event %+v", got[2])
	}

	// A second open replaces the run: the first controller's requests fail.
	c2 := &Client{Addr: addr, Token: "sesame"}
	m2, err := c2.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StopNode(ctx, 0); !errors.Is(err, ErrNoRun) {
		t.Errorf("replaced run: %v", err)
	}
	if err := m.Close(); !errors.Is(err, ErrNoRun) {
		t.Errorf("close of a replaced run: %v", err)
	}
	if err := m2.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestHTTPLimits: oversized bodies, wrong methods and paths, unknown
// fields are refused with a clear status.
func TestHTTPLimits(t *testing.T) {
	_, addr := serve(t, "sesame")
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer hc.CloseIdleConnections()
	post := func(path string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer sesame")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, c := range map[string]struct {
		path   string
		body   []byte
		status int
	}{
		"hello":         {"/v1/hello", []byte(`{}`), 200},
		"too large":     {"/v1/hello", bytes.Repeat([]byte(" "), MaxRequestBody+1), 400},
		"unknown field": {"/v1/hello", []byte(`{"evil":1}`), 400},
		"unknown op":    {"/v1/format-disk", []byte(`{"run":"00000000000000000000000000000000"}`), 400},
		"no run":        {"/v1/node/stop", []byte(`{"run":"00000000000000000000000000000000"}`), 409},
		"bad run":       {"/v1/node/stop", []byte(`{"run":"x"}`), 400},
		"other path":    {"/metrics", nil, 404},
	} {
		if got := post(c.path, c.body); got != c.status {
			t.Errorf("%s: status %d, want %d", name, got, c.status)
		}
	}
	resp, err := hc.Get("http://" + addr + "/v1/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without token: %d", resp.StatusCode)
	}
}

// TestNoTokenNeedsLoopback: a worker without a token refuses to serve
// on an address other machines can reach.
func TestNoTokenNeedsLoopback(t *testing.T) {
	s, err := NewServer(Config{Host: procs.HostConfig{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip(err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrNoToken) {
		t.Fatalf("serve without token on 0.0.0.0: %v", err)
	}
}
