package relaye2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/test/internal/e2e"
)

// identifyingLabelWords are words that, as a label name or a part of one
// (split at "_"), say the label names a user, peer, address, mailbox or
// secret. DESIGN.md P10 allows none of them.
var identifyingLabelWords = map[string]bool{
	"peer": true, "peerid": true, "ip": true, "addr": true, "address": true, "remote": true,
	"mailbox": true, "token": true, "id": true, "user": true, "client": true, "conn": true,
	"host": true, "multiaddr": true, "maddr": true, "key": true, "pubkey": true, "session": true,
	"origin": true, "blob": true, "record": true, "cell": true, "port": true,
}

// aggregateLabelNames are label names that contain such a word but whose
// values are a closed, aggregate set (checked below like every value).
var aggregateLabelNames = map[string]bool{
	"ip_version": true, // "ip4" / "ip6" (libp2p swarm)
	"key_type":   true, // "Ed25519", "RSA" … (libp2p swarm: key algorithms seen)
}

var (
	reLongHex    = regexp.MustCompile(`(?i)[0-9a-f]{16,}`)
	reBase58ish  = regexp.MustCompile(`\b(12D3Koo|Qm)[1-9A-HJ-NP-Za-km-z]{20,}`)
	reLongBase64 = regexp.MustCompile(`[A-Za-z0-9+_-]{24,}`)
	reIPv4       = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
)

// identifyingValue says why a label value could identify someone, or "".
func identifyingValue(v string) string {
	switch {
	case strings.Contains(v, "/ip4/") || strings.Contains(v, "/ip6/") || strings.Contains(v, "/dns") || strings.Contains(v, "/p2p/"):
		return "multiaddr"
	case reIPv4.MatchString(v):
		return "IPv4 address"
	case reBase58ish.MatchString(v):
		return "peer ID"
	case reLongHex.MatchString(v):
		return "long hex (mailbox ID, token, key?)"
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return "IP address"
	}
	if _, err := netip.ParseAddrPort(v); err == nil {
		return "IP:port"
	}
	if _, err := peer.Decode(v); err == nil && len(v) > 30 {
		return "peer ID"
	}
	for _, m := range reLongBase64.FindAllString(v, -1) {
		if strings.ContainsAny(m, "0123456789") && strings.ToLower(m) != m && strings.ToUpper(m) != m {
			return "long base64-like string"
		}
	}
	return ""
}

// identifyingName says why a label name could identify someone, or "".
func identifyingName(n string) string {
	if aggregateLabelNames[n] {
		return ""
	}
	for _, w := range strings.Split(strings.ToLower(n), "_") {
		if identifyingLabelWords[w] {
			return "word " + w
		}
	}
	return ""
}

// TestP10MetricsAggregateOnly scrapes /metrics of a relay that has served
// puts, fetches, acks, a subscription and an error, with clients still
// connected, and fails on any label name or value that could identify a
// user: peer IDs, IPs, multiaddrs, mailbox IDs, tokens (DESIGN.md P10). It
// also checks that libp2p's own metrics are exported.
func TestP10MetricsAggregateOnly(t *testing.T) {
	r := startRelay(t, t.TempDir(), "")
	r.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Traffic from two clients that stay connected during the scrape.
	var conns []*mbConn
	for i := range 2 {
		h, err := newClientHost()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c, err := openWithRetry(ctx, h, r.info)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		mb := crypto.MailboxIDFromPub(key.Public().(ed25519.PublicKey))
		if _, err := c.subscribe(key); err != nil {
			t.Fatal(err)
		}
		for range 3 + i {
			if _, err := c.put(mb, bytes.Repeat([]byte{byte(i)}, 1024)); err != nil {
				t.Fatal(err)
			}
		}
		blobs, err := c.fetchAll(key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ack(key, [][]byte{blobs[0].BlobId}); err != nil {
			t.Fatal(err)
		}
		// A bad request (empty put) for the error counters.
		if _, err := c.put(mb, nil); err == nil {
			t.Fatal("empty put accepted")
		}
	}

	checkMetricsAggregate(t, ctx, r.admin, r.info.ID.String(), conns[0].s.Conn().LocalPeer().String(), "127.0.0.1")
}

// checkMetricsAggregate scrapes http://admin/metrics and fails on any
// identifying label name or value, on any of the forbidden strings
// anywhere in the text, and if libp2p's or the relay's metrics are missing.
func checkMetricsAggregate(t *testing.T, ctx context.Context, admin string, forbidden ...string) {
	t.Helper()
	body, err := e2e.HTTPGet(ctx, "http://"+admin+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	series, libp2p := 0, 0
	for name, mf := range families {
		if strings.HasPrefix(name, "libp2p_") {
			libp2p++
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, lp := range m.GetLabel() {
				if why := identifyingName(lp.GetName()); why != "" {
					t.Errorf("%s: label %q could identify a user (%s)", name, lp.GetName(), why)
				}
				if why := identifyingValue(lp.GetValue()); why != "" {
					t.Errorf("%s{%s=%q}: value looks like a %s", name, lp.GetName(), lp.GetValue(), why)
				}
			}
		}
	}
	// The raw text must not contain the relay's or a client's peer ID or
	// address anywhere (help strings included).
	for _, s := range forbidden {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("/metrics contains %q", s)
		}
	}
	if _, ok := families["imigee_relay_puts_total"]; !ok {
		t.Error("/metrics lacks imigee_relay_puts_total")
	}
	if libp2p == 0 {
		t.Error("/metrics has no libp2p_ metric families (issue 3 asks for libp2p's own metrics)")
	}
	t.Logf("checked %d families (%d libp2p), %d series", len(families), libp2p, series)
}

func TestIdentifyingDetectors(t *testing.T) {
	bad := []string{"/ip4/1.2.3.4/tcp/1", "10.0.0.1", "::1", "12D3KooWKX5kzani9veMBrRXc8YLncjtAfBQSoUwGMjGdWG2Sjvi",
		"00112233445566778899aabbccddeeff", "1.2.3.4:5", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"}
	for _, v := range bad {
		if identifyingValue(v) == "" {
			t.Errorf("identifyingValue(%q) missed it", v)
		}
	}
	good := []string{"mailbox", "/imigee/mailbox/1", "QUOTA_EXCEEDED", "notify_queue_full", "inbound", "quic-v1",
		"ip4", "devel (go1.26.8)", "v0.1.0 (rev 1a2b3c4d5e6f, go1.26.8)", "/libp2p/circuit/relay/0.2.0/hop", "0.005", "+Inf"}
	for _, v := range good {
		if why := identifyingValue(v); why != "" {
			t.Errorf("identifyingValue(%q) = %q; want clean", v, why)
		}
	}
	for _, n := range []string{"peer", "peer_id", "remote_addr", "mailbox", "ip", "token", "user"} {
		if identifyingName(n) == "" {
			t.Errorf("identifyingName(%q) missed it", n)
		}
	}
	for _, n := range []string{"type", "code", "reason", "protocol", "dir", "transport", "ip_version", "le", "version"} {
		if why := identifyingName(n); why != "" {
			t.Errorf("identifyingName(%q) = %q; want clean", n, why)
		}
	}
}
