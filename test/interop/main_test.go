package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/imigee/imigee/test/internal/e2e"
)

const (
	relayPkg = "github.com/imigee/imigee/cmd/imigee-relay"
	nodePkg  = "github.com/imigee/imigee/cmd/imigee"
)

// relayBin and nodeBin are the binaries built by TestMain.
var relayBin, nodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "interop-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relayBin, err = e2e.Build(dir, relayPkg)
	if err == nil {
		nodeBin, err = e2e.Build(dir, nodePkg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Client hosts close in t.Cleanup; on a loaded machine their last
		// goroutines may take a few seconds to go, so look more than once.
		err := goleak.Find()
		for i := 0; err != nil && i < 4; i++ {
			time.Sleep(time.Second)
			err = goleak.Find()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestBinarySourcesTracked re-runs this package when the daemon's sources
// change (see e2e.TrackSources).
func TestBinarySourcesTracked(t *testing.T) {
	for _, p := range []string{relayPkg, nodePkg} {
		if err := e2e.TrackSources(p); err != nil {
			t.Fatal(err)
		}
	}
}

// Limits of the test relay, small so every error is reachable quickly.
const (
	testMaxBlob      = 4096 // store.max_blob_size
	testMailboxQuota = 8192 // store.mailbox_quota
	testTokenBudget  = 8    // rendezvous.token_budget (per connection per epoch)
	testMaxEntries   = 24   // rendezvous.max_entries (whole relay)
)

// startRelay runs imigee-relay on 127.0.0.1 (QUIC and TCP) with the small
// limits above and returns its address.
func startRelay(t *testing.T) peer.AddrInfo {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`data_dir = %q
listen_addrs = ["/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"]

[store]
max_blob_size = %d
mailbox_quota = %d

[limits]
challenge_ttl = "1s"

[rendezvous]
token_budget = %d
max_entries = %d

[admin]
addr = ""
`, dir, testMaxBlob, testMailboxQuota, testTokenBudget, testMaxEntries)
	path := filepath.Join(dir, "relay.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := e2e.Start(t, relayBin, "run", "-config", path)
	kv, err := p.Announced(false)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, p.LogTail(4096))
	}
	info, err := e2e.AddrInfo(kv)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
