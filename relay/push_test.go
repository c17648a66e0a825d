package relay

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// pushRelay is a relay that may POST to 127.0.0.1 over http, with an
// endpoint counting what it gets.
func pushRelay(t *testing.T) (*Relay, string, *atomic.Int64) {
	t.Helper()
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(t)
	cfg.Push.AllowHosts = []string{"127.0.0.1"}
	cfg.Push.AllowHTTP = true
	cfg.Push.MinInterval = Duration(time.Hour) // a second wake-up within the test is rate-limited
	return startRelay(t, cfg), srv.URL + "/wake", &posts
}

// register runs one push exchange; lie replaces each signature with one by
// another key (a client claiming mailboxes it does not control).
func register(t *testing.T, r *Relay, keys []ed25519.PrivateKey, endpoint string, lie bool) *pb.PushResult {
	t.Helper()
	h := clientHost(t, "quic")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, relayInfo(r, "quic")); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, r.ID(), lprotocol.ID(protocol.PushProtocol))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ch pb.PushChallenge
	if err := protocol.ReadPushChallenge(s, &ch); err != nil {
		t.Fatal(err)
	}
	req := &pb.PushRegister{Endpoint: endpoint}
	for _, k := range keys {
		a := auth(k, crypto.OpSubscribe, ch.Nonce)
		if lie {
			other, _ := newKey(t)
			_, a.Sig = crypto.SignMailboxAuth(other, crypto.OpSubscribe, ch.Nonce)
		}
		req.Auth = append(req.Auth, a)
	}
	if err := protocol.WriteMsg(s, req); err != nil {
		t.Fatal(err)
	}
	var res pb.PushResult
	if err := protocol.ReadPushResult(s, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// TestPushRegistrationNeedsProof: a client that cannot prove control of a
// mailbox cannot attach an endpoint to it (it would learn when that
// mailbox receives mail); an endpoint off the allow-list is refused; a
// proven one gets exactly one empty POST per put while no subscription
// watches the mailbox, rate-limited per endpoint and counted.
func TestPushRegistrationNeedsProof(t *testing.T) {
	r, ep, posts := pushRelay(t)
	k, mbox := newKey(t)
	if res := register(t, r, []ed25519.PrivateKey{k}, ep, true); code(res) != pb.ErrorCode_UNAUTHORIZED {
		t.Fatalf("lying registration: %v", res)
	}
	if res := register(t, r, []ed25519.PrivateKey{k}, "http://10.0.0.1/admin", false); code(res) != pb.ErrorCode_REJECTED {
		t.Fatalf("endpoint off the allow-list: %v", res)
	}
	h := clientHost(t, "quic")
	sender := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	if resp := sender.put(mbox, []byte("sealed")); code(resp) != pb.ErrorCode_OK {
		t.Fatal(code(resp))
	}
	time.Sleep(300 * time.Millisecond)
	if posts.Load() != 0 {
		t.Fatal("a refused registration got a wake-up")
	}
	if res := register(t, r, []ed25519.PrivateKey{k}, ep, false); res.Error != nil || res.Registered != 1 {
		t.Fatalf("registration: %v", res)
	}
	sender.put(mbox, []byte("sealed 2"))
	eventually(t, "a wake-up", func() bool { return posts.Load() == 1 })
	sender.put(mbox, []byte("sealed 3"))
	eventually(t, "the rate-limited wake-up counted", func() bool {
		return testutil.ToFloat64(r.push.total.WithLabelValues(pushRateLimited)) == 1
	})
	if posts.Load() != 1 {
		t.Fatalf("%d wake-ups, want 1 (rate limit)", posts.Load())
	}
}

// TestPushSkippedWhileSubscribed: a device with a live subscription hears
// of the blob on it; the relay does not wake it by push as well.
func TestPushSkippedWhileSubscribed(t *testing.T) {
	r, ep, posts := pushRelay(t)
	k, mbox := newKey(t)
	if res := register(t, r, []ed25519.PrivateKey{k}, ep, false); res.Error != nil {
		t.Fatal(res.Error)
	}
	h := clientHost(t, "quic")
	sub := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	ch := sub.challenge()
	if resp := sub.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: ch,
		Auth: []*pb.MailboxAuth{auth(k, crypto.OpSubscribe, ch)}}}}); code(resp) != pb.ErrorCode_OK {
		t.Fatal(code(resp))
	}
	sender := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	sender.put(mbox, []byte("sealed"))
	time.Sleep(300 * time.Millisecond)
	if posts.Load() != 0 {
		t.Fatal("woken by push while subscribed")
	}
}

// TestPushOffByDefault: without an allow-list the relay refuses
// registrations and never POSTs.
func TestPushOffByDefault(t *testing.T) {
	r := startRelay(t, testConfig(t))
	k, _ := newKey(t)
	if res := register(t, r, []ed25519.PrivateKey{k}, "https://push.example.org/x", false); code(res) != pb.ErrorCode_UNSUPPORTED {
		t.Fatalf("push off: %v", res)
	}
}

// TestPushRegistrationsPerSource: one address cannot register more than
// MaxPerSource mailboxes (it could otherwise fill the table with keys it
// made up); removing its registrations frees its budget.
func TestPushRegistrationsPerSource(t *testing.T) {
	cfg := testConfig(t)
	cfg.Push.AllowHosts = []string{"127.0.0.1"}
	cfg.Push.AllowHTTP = true
	cfg.Push.MaxPerSource = 2
	r := startRelay(t, cfg)
	ep := "http://127.0.0.1:1/wake"
	k1, _ := newKey(t)
	k2, _ := newKey(t)
	k3, _ := newKey(t)
	if res := register(t, r, []ed25519.PrivateKey{k1, k2}, ep, false); res.Error != nil {
		t.Fatal(res.Error)
	}
	// Registering the same mailboxes again costs nothing more.
	if res := register(t, r, []ed25519.PrivateKey{k1, k2}, ep, false); res.Error != nil {
		t.Fatal(res.Error)
	}
	if res := register(t, r, []ed25519.PrivateKey{k3}, ep, false); code(res) != pb.ErrorCode_QUOTA_EXCEEDED {
		t.Fatalf("third mailbox from one address: %v", res)
	}
	if res := register(t, r, []ed25519.PrivateKey{k1}, "", false); res.Error != nil {
		t.Fatal(res.Error)
	}
	if res := register(t, r, []ed25519.PrivateKey{k3}, ep, false); res.Error != nil {
		t.Fatalf("after removing one: %v", res.Error)
	}
}

// TestPushRegistrationCharged: a client cannot make the relay verify a
// request's worth of signatures for one rate unit on the push stream: the
// auths are charged as on a mailbox stream (one unit per mailboxPerUnit)
// before any is verified.
func TestPushRegistrationCharged(t *testing.T) {
	cfg := testConfig(t)
	cfg.Push.AllowHosts = []string{"127.0.0.1"}
	cfg.Push.AllowHTTP = true
	cfg.Limits.RequestsPerSecond = 0.001
	cfg.Limits.RequestBurst = 10
	r := startRelay(t, cfg)
	keys := make([]ed25519.PrivateKey, 20*mailboxPerUnit)
	for i := range keys {
		keys[i], _ = newKey(t)
	}
	if res := register(t, r, keys, "http://127.0.0.1:1/wake", false); code(res) != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("%d auths with a burst of 10: %v; want RATE_LIMITED", len(keys), res)
	}
}
