package relayabuse

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/relayclient"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/test/internal/e2e"
)

const relayPkg = "github.com/imigee/imigee/cmd/imigee-relay"

var relayBin string

// oldBinary: the suite runs against a binary that predates the new config
// keys (IMIGEE_RELAYABUSE_OLD=1).
var oldBinary = os.Getenv("IMIGEE_RELAYABUSE_OLD") == "1"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relayabuse-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relayBin = os.Getenv("IMIGEE_RELAY_BIN")
	if relayBin == "" {
		relayBin, err = e2e.Build(dir, relayPkg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestBinarySourcesTracked re-runs the suite when the daemon changes.
func TestBinarySourcesTracked(t *testing.T) {
	if err := e2e.TrackSources(relayPkg); err != nil {
		t.Fatal(err)
	}
}

// Scaled limits of the relay under attack. memoryBudget is the relay's
// memory_budget; rssOverhead is what the Go runtime and libp2p may add on
// top of it under load (GC headroom at GOGC=100 for the budget's garbage,
// QUIC connection buffers of the attacker's connections, goroutine
// stacks), measured at well under this figure (see docs/relay.md).
const (
	memoryBudget = 96 << 20
	rssOverhead  = 96 << 20
	readTimeout  = 2 * time.Second
	writeTimeout = 2 * time.Second
)

// relayConfig is the TOML the relay under attack runs with.
func relayConfig(extra string) string {
	s := fmt.Sprintf(`
[store]
global_quota = %d
mailbox_quota = %d
sweep_interval = "1m"

[limits]
read_timeout = %q
write_timeout = %q
idle_timeout = "2m"

[rendezvous]
max_entries = 49152
`, 128<<20, 64<<20, readTimeout.String(), writeTimeout.String())
	if !oldBinary {
		s += fmt.Sprintf(`
[limits]
memory_budget = %d
memory_per_conn = %d
memory_per_source = %d

[store]
put_burst_per_source = %d
put_bytes_per_source_per_day = %d
put_share_per_conn = 0.5

[rendezvous]
max_entries_per_source = 16384
`, memoryBudget, 16<<20, 48<<20, 32<<20, 256<<20)
	}
	return mergeTOML(s + extra)
}

// mergeTOML joins repeated [section] blocks, since TOML forbids a table
// twice; a key set twice keeps its last value.
func mergeTOML(s string) string {
	sections := map[string][]string{}
	var order []string
	cur := ""
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			cur = line
			continue
		}
		if _, ok := sections[cur]; !ok {
			order = append(order, cur)
		}
		if k, _, ok := strings.Cut(line, "="); ok {
			// A key set again (a test's extra config) replaces the earlier.
			k = strings.TrimSpace(k)
			lines := sections[cur]
			replaced := false
			for i, l := range lines {
				if lk, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(lk) == k {
					lines[i], replaced = line, true
				}
			}
			if replaced {
				continue
			}
		}
		sections[cur] = append(sections[cur], line)
	}
	var b strings.Builder
	for _, sec := range order {
		if sec != "" {
			b.WriteString(sec + "\n")
		}
		b.WriteString(strings.Join(sections[sec], "\n") + "\n\n")
	}
	return b.String()
}

// relayProc is the relay under attack.
type relayProc struct {
	*e2e.Proc
	info peer.AddrInfo
}

// startRelay runs the daemon with cfg on 127.0.0.1 and [::1] (QUIC).
func startRelay(t *testing.T, extraTOML string) *relayProc {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "relay.toml")
	if err := os.WriteFile(cfgPath, []byte(relayConfig(extraTOML)), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := e2e.StartLog(filepath.Join(dir, "relay.log"), relayBin, "run", "-config", cfgPath, "-data-dir", filepath.Join(dir, "data"),
		"-listen", "/ip4/127.0.0.1/udp/0/quic-v1", "-listen", "/ip6/::1/udp/0/quic-v1", "-admin", "off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	// Both listen lines (127.0.0.1 and ::1): Announced returns at the first.
	lines, err := p.WaitStdout(e2e.DefaultTimeout, func(ls []string) bool {
		n := 0
		for _, l := range ls {
			if strings.HasPrefix(l, "listen ") {
				n++
			}
		}
		return n >= 2
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, p.LogTail(4096))
	}
	info, err := e2e.AddrInfo(e2e.ParseKV(lines))
	if err != nil {
		t.Fatal(err)
	}
	return &relayProc{Proc: p, info: info}
}

// family returns the relay's addresses of one IP family.
func (r *relayProc) family(ip int) peer.AddrInfo {
	ai := peer.AddrInfo{ID: r.info.ID}
	for _, a := range r.info.Addrs {
		if _, err := a.ValueForProtocol(ip); err == nil {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	return ai
}

// rss returns the relay's resident set size in bytes (VmRSS).
func (r *relayProc) rss(t *testing.T) int64 { return r.status(t, "VmRSS") }

// anon returns the relay's anonymous resident memory (RssAnon): VmRSS
// without the page cache of its memory-mapped database file, which the
// kernel reclaims under pressure and which grows with stored data, not
// with an attack's buffers.
func (r *relayProc) anon(t *testing.T) int64 { return r.status(t, "RssAnon") }

func (r *relayProc) status(t *testing.T, key string) int64 {
	t.Helper()
	kb, err := e2e.ProcStatusKB(r.Pid(), key)
	if err != nil {
		t.Fatal(err)
	}
	return kb << 10
}

// newHost returns a client libp2p host (QUIC only, no limits of its own).
func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.Transport(quic.NewTransport))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// attacker is one attacking identity connected from 127.0.0.1.
type attacker struct {
	h  host.Host
	id peer.ID
}

func newAttacker(t *testing.T, r *relayProc) *attacker {
	t.Helper()
	h := newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, r.family(ma.P_IP4)); err != nil {
		t.Fatal(err)
	}
	return &attacker{h: h, id: r.info.ID}
}

// stream opens a stream of proto, or nil if the relay refuses.
func (a *attacker) stream(proto string) network.Stream {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := a.h.NewStream(ctx, a.id, lprotocol.ID(proto))
	if err != nil {
		return nil
	}
	return s
}

// legit is the legitimate user: a relayclient from [::1] that puts,
// fetches, compares and acks in a loop, and announces.
type legit struct {
	t      *testing.T
	c      *relayclient.Client
	key    ed25519.PrivateKey
	mbox   crypto.MailboxID
	rounds atomic.Int64
	mu     sync.Mutex
	errs   []string
}

func newLegit(t *testing.T, r *relayProc) *legit {
	t.Helper()
	h := newHost(t)
	c := relayclient.New(h, r.family(ma.P_IP6), relayclient.Config{Timeout: 20 * time.Second})
	t.Cleanup(func() { c.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &legit{t: t, c: c, key: priv, mbox: crypto.MailboxIDFromPub(pub)}
}

func (l *legit) fail(format string, args ...any) {
	l.mu.Lock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// round puts a 1 KiB blob (a size class), fetches it back byte-identical
// and acks it.
func (l *legit) round(ctx context.Context) {
	blob := make([]byte, protocol.SmallBlobSize)
	rand.Read(blob)
	id, err := l.c.Put(ctx, l.mbox, blob)
	if err != nil {
		l.fail("put: %v", err)
		return
	}
	blobs, _, err := l.c.Fetch(ctx, []ed25519.PrivateKey{l.key}, relayclient.FetchOptions{})
	if err != nil {
		l.fail("fetch: %v", err)
		return
	}
	found := false
	for _, b := range blobs {
		if b.ID == id {
			found = bytes.Equal(b.Data, blob)
			if !found {
				l.fail("fetched blob differs")
				return
			}
		}
	}
	if !found {
		l.fail("put blob not listed")
		return
	}
	if _, err := l.c.Ack(ctx, []ed25519.PrivateKey{l.key}, []relayclient.Ref{{Mailbox: l.mbox, ID: id}}); err != nil {
		l.fail("ack: %v", err)
		return
	}
	l.rounds.Add(1)
}

// run loops rounds until ctx ends.
func (l *legit) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		l.round(rctx)
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// figures is what one attack measured, logged for docs/relay.md.
type figures struct {
	before, peak, after   int64 // VmRSS
	anonBefore, anonAfter int64 // RssAnon
	rounds                int64
}

// underAttack starts the relay, lets it settle, runs attack(ctx) for d
// while the legitimate client works and RSS is sampled, then checks the
// three promises of the package doc. attack must return when ctx ends.
func underAttack(t *testing.T, r *relayProc, d time.Duration, attack func(ctx context.Context)) figures {
	t.Helper()
	l := newLegit(t, r)
	warm, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	l.round(warm) // connections and pools warm before the baseline
	cancel()
	time.Sleep(300 * time.Millisecond)
	f := figures{before: r.rss(t), anonBefore: r.anon(t)}
	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go l.run(ctx, &wg)
	go func() {
		defer wg.Done()
		attack(ctx)
	}()
	tick := time.NewTicker(25 * time.Millisecond)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			f.peak = max(f.peak, r.rss(t))
		}
	}
	tick.Stop()
	wg.Wait()
	f.peak = max(f.peak, r.rss(t))
	f.rounds = l.rounds.Load()
	// After the attack: a last legitimate round, then memory comes back.
	last, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	l.round(last)
	cancel2()
	limit := 2*f.anonBefore + 16<<20
	deadline := time.Now().Add(45 * time.Second)
	for {
		f.after, f.anonAfter = r.rss(t), r.anon(t)
		if f.anonAfter <= limit || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("RSS before %d MiB, peak %d MiB, after %d MiB (anonymous %d → %d MiB); legitimate rounds %d", f.before>>20, f.peak>>20, f.after>>20, f.anonBefore>>20, f.anonAfter>>20, f.rounds)
	if r.Exited() {
		t.Fatalf("relay died:\n%s", r.LogTail(4096))
	}
	l.mu.Lock()
	errs := l.errs
	l.mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("legitimate client failed %d times during the attack, first: %s", len(errs), errs[0])
	}
	if f.rounds < 3 {
		t.Errorf("legitimate client completed only %d rounds", f.rounds)
	}
	if bound := f.before + memoryBudget + rssOverhead; f.peak > bound {
		t.Errorf("RSS peaked at %d MiB, above before (%d MiB) + budget (%d MiB) + overhead (%d MiB)", f.peak>>20, f.before>>20, memoryBudget>>20, rssOverhead>>20)
	}
	if f.anonAfter > limit {
		t.Errorf("anonymous RSS %d MiB 45 s after the attack, above 2× before (%d MiB) + 16 MiB", f.anonAfter>>20, f.anonBefore>>20)
	}
	return f
}
