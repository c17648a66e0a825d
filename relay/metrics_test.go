package relay

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// forbiddenLabel reports whether a label name could carry something that
// identifies a user: a peer, an address, a mailbox, a token, an ID.
func forbiddenLabel(name string) bool {
	n := strings.ToLower(name)
	if n == "ip_version" || n == "key_type" { // libp2p: "ip4"/"ip6", "Ed25519"
		return false
	}
	for _, bad := range []string{"peer", "ip", "addr", "mailbox", "token", "id", "remote", "user", "conn", "host", "key", "asn"} {
		if n == bad || strings.HasPrefix(n, bad+"_") || strings.HasSuffix(n, "_"+bad) || strings.Contains(n, "_"+bad+"_") {
			return true
		}
	}
	return false
}

// lockedBuffer collects log output from concurrent goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMetricsAggregateOnly proves P10: after real traffic (puts, fetches,
// acks, subscriptions, rendezvous, errors) no metric of the relay or of
// libp2p carries a label that could identify a user, no label value holds
// a client's peer ID, address, mailbox ID or token, and the debug log holds
// none of them either.
func TestMetricsAggregateOnly(t *testing.T) {
	logs := &lockedBuffer{}
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := startRelay(t, cfg)

	h := clientHost(t, "quic")
	key, mbox := newKey(t)
	s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	ch := s.challenge()
	s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpSubscribe, ch)}}}})
	put := s.put(mbox, []byte("blob"))
	s.put(mbox, nil) // an error that closes the stream
	s = openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	ch = s.challenge()
	s.mbox(fetchReq(key, ch))
	ch = s.challenge()
	s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpAck, ch)}, Blobs: []*pb.BlobRef{{MailboxId: mbox[:], BlobId: put.GetPut().GetBlobId()}}}}})
	rv := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.RendezvousProtocol)
	epoch := uint64(clk.Now().Unix()) / 600
	tok := tokenN(0xfeedface)
	rv.rv(announce(epoch, tok))
	rv.rv(announce(epoch+5, tok)) // stale: an error

	fams, err := r.MetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		h.ID().String(), r.ID().String(), "127.0.0.1",
		hex.EncodeToString(mbox[:]), string(mbox[:]),
		hex.EncodeToString(tok), string(tok),
	}
	names := map[string]bool{}
	libp2p := 0
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "imigee_") && !strings.HasPrefix(f.GetName(), "go_") && !strings.HasPrefix(f.GetName(), "process_") {
			libp2p++
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				names[l.GetName()] = true
				if forbiddenLabel(l.GetName()) {
					t.Errorf("metric %s has label %q=%q", f.GetName(), l.GetName(), l.GetValue())
				}
				for _, s := range secrets {
					if strings.Contains(l.GetValue(), s) {
						t.Errorf("metric %s label %s holds an identifier", f.GetName(), l.GetName())
					}
				}
			}
		}
	}
	if libp2p == 0 {
		t.Error("libp2p's own metrics are missing from the registry")
	}
	t.Logf("%d families (%d from libp2p); label names: %v", len(fams), libp2p, keys(names))
	out := logs.String()
	for _, s := range secrets[2:] { // the relay may log its own peer ID
		if strings.Contains(out, s) {
			t.Errorf("log holds an identifier %q", s)
		}
	}
	if strings.Contains(out, h.ID().String()) {
		t.Error("log holds a client peer ID")
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
