package relaye2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/test/internal/e2e"
)

// sigtermWriters is the number of writers putting while SIGTERM arrives.
const sigtermWriters = 32

// TestSIGTERMDrainsInFlightPuts: SIGTERM while 32 writers are putting makes
// the daemon stop accepting, finish in-flight puts and close the database;
// it exits 0, and after a restart every acknowledged put is there.
func TestSIGTERMDrainsInFlightPuts(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	logPath := filepath.Join(t.TempDir(), "relay.log")
	l := newLedger(t, sigtermWriters)
	r := startRelay(t, dataDir, logPath)
	r.waitReady(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var acks atomic.Int64
	var ready sync.WaitGroup
	ready.Add(sigtermWriters)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.writeUntilError(ctx, t, r.info, &acks, &ready)
	}()
	ready.Wait()
	base := acks.Load()
	eventually(t, "writers to make progress", func() bool { return acks.Load() >= base+128 })
	r.stop(t) // SIGTERM; requires exit code 0
	cancel()
	<-done
	if t.Failed() {
		t.FailNow()
	}
	if _, err := os.Stat(filepath.Join(dataDir, "relay.addrs")); !os.IsNotExist(err) {
		t.Errorf("relay.addrs left behind after a clean stop (err %v)", err)
	}
	if !bytes.Contains(r.Log(), []byte("stopped cleanly")) {
		t.Errorf("log lacks the clean-stop line:\n%s", r.LogTail(2048))
	}
	t.Logf("%d puts acknowledged before/while stopping", l.ackedCount())

	r2 := startRelay(t, dataDir, logPath)
	r2.waitReady(t)
	l.verify(t, r2.info)
	r2.stop(t)
}

// TestInitRunHealthcheck: init writes a config and a private identity; run
// -config uses them (flags still override); relay.addrs matches stdout;
// healthcheck exits 0 while the relay is up and 1 once it is down; /readyz
// turns 200.
func TestInitRunHealthcheck(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "relay")
	code, out := runCmd(t, "init", "-data-dir", dataDir)
	if code != 0 {
		t.Fatalf("init exited %d:\n%s", code, out)
	}
	var initID string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "peer_id "); ok {
			initID = v
		}
	}
	if initID == "" {
		t.Fatalf("init printed no peer_id:\n%s", out)
	}
	assertMode(t, filepath.Join(dataDir, "identity.key"), 0o600)
	assertMode(t, dataDir, 0o700)
	cfg := filepath.Join(dataDir, "imigee-relay.toml")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[store]", "retention = \"720h0m0s\"", "# Unacknowledged blobs", "[admin]", "data_dir = "} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("config lacks %q", want)
		}
	}

	logPath := filepath.Join(t.TempDir(), "relay.log")
	p, err := e2e.StartLog(logPath, relayBin, append([]string{"run", "-config", cfg}, loopbackListen...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	kv, err := p.Announced(true)
	if err != nil {
		t.Fatal(err)
	}
	if kv["peer_id"][0] != initID {
		t.Fatalf("run uses peer %s, init made %s", kv["peer_id"][0], initID)
	}
	r := &relayProc{Proc: p, dataDir: dataDir, admin: kv["admin"][0]}
	r.waitReady(t)
	addrs, err := os.ReadFile(filepath.Join(dataDir, "relay.addrs"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(addrs)) != strings.Join(p.Lines(), "\n") {
		t.Errorf("relay.addrs %q differs from stdout %q", addrs, p.Lines())
	}
	if code, out := runCmd(t, "healthcheck", "-admin", r.admin); code != 0 {
		t.Fatalf("healthcheck while up: %d\n%s", code, out)
	}
	if code, out := runCmd(t, "healthcheck", "-admin", r.admin, "-ready"); code != 0 {
		t.Fatalf("healthcheck -ready while up: %d\n%s", code, out)
	}
	r.stop(t)
	if code, _ := runCmd(t, "healthcheck", "-admin", r.admin, "-timeout", "2s"); code == 0 {
		t.Fatal("healthcheck succeeded with the relay down")
	}
}

// TestRetentionAbove30DaysRefused (P2): the operator may lower retention,
// never raise it above 30 days — from a flag or from the config file, with
// an error that says why. A lower value is accepted and applied (the
// expiry the relay returns for a put honours it).
func TestRetentionAbove30DaysRefused(t *testing.T) {
	dir := t.TempDir()
	code, out := runCmd(t, "run", "-data-dir", dir, "-retention", "721h", "-admin", "off")
	if code == 0 || !strings.Contains(out, "30 days") {
		t.Fatalf("run -retention 721h: exit %d, output:\n%s", code, out)
	}
	cfg := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(cfg, []byte("[store]\nretention = \"1000h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = runCmd(t, "run", "-config", cfg, "-data-dir", dir, "-admin", "off")
	if code == 0 || !strings.Contains(out, "30 days") {
		t.Fatalf("run with retention 1000h in the config: exit %d, output:\n%s", code, out)
	}

	r := startRelay(t, filepath.Join(dir, "data"), "", "-retention", "24h")
	r.waitReady(t)
	h, err := newClientHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := openWithRetry(ctx, h, r.info)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	before := time.Now()
	pr, err := c.putResult(crypto.MailboxIDFromPub(key.Public().(ed25519.PublicKey)), padClass([]byte("sealed")))
	if err != nil {
		t.Fatal(err)
	}
	if exp := time.Unix(pr.ExpiresUnix, 0); exp.After(before.Add(24*time.Hour+time.Minute)) || exp.Before(before.Add(23*time.Hour)) {
		t.Fatalf("blob expires at %v; want about 24h after %v", exp, before)
	}
	c.Close()
	r.stop(t)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Fatalf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
	}
}
