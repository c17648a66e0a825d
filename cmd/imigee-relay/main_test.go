package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigEveryKeyDocumented(t *testing.T) {
	text, missing, err := renderConfig(defaultFileConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("config keys without a comment in keyDocs: %v", missing)
	}
	// Every documented key must still exist (no stale docs).
	for k := range keyDocs {
		_, key, ok := strings.Cut(k, ".")
		if !ok {
			key = k
		}
		if !bytes.Contains(text, []byte("\n"+key+" = ")) {
			t.Errorf("keyDocs has %q but the rendered config has no such key", k)
		}
	}
}

func TestRenderedConfigRoundTrips(t *testing.T) {
	want := defaultFileConfig()
	want.DataDir = "/var/lib/imigee-relay"
	text, _, err := renderConfig(want)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, text, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := loadConfigFile(p)
	if err != nil {
		t.Fatalf("load rendered config: %v\n%s", err, text)
	}
	got.Logger, want.Logger = nil, nil
	got.Now, want.Now = nil, nil
	if len(got.Peers) == 0 && len(want.Peers) == 0 {
		got.Peers, want.Peers = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(string(text), "# Unacknowledged blobs are deleted") {
		t.Fatal("rendered config lacks the retention comment")
	}
}

func TestConfigUnknownKeyRejected(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("[store]\nretension = \"1h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfigFile(p); err == nil || !strings.Contains(err.Error(), "store.retension") {
		t.Fatalf("loadConfigFile(typo) = %v; want an unknown-key error naming it", err)
	}
}

func TestRetentionCannotBeRaised(t *testing.T) {
	var out, errb bytes.Buffer
	code := realMain([]string{"run", "-data-dir", t.TempDir(), "-retention", "721h"}, &out, &errb)
	if code != exitFail || !strings.Contains(errb.String(), "30 days") {
		t.Fatalf("run -retention 721h: code %d, stderr %q; want failure naming 30 days", code, errb.String())
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("[store]\nretention = \"800h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); !errors.Is(err, errRetentionTooLong) {
		t.Fatalf("validate(800h) = %v; want errRetentionTooLong", err)
	}
}

func TestAdminMustBeLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:9464": true, "[::1]:9464": true, "localhost:1": true,
		"0.0.0.0:9464": false, ":9464": false, "10.0.0.1:9464": false, "example.com:80": false,
	} {
		err := checkAdminAddr(addr, false)
		if (err == nil) != ok {
			t.Errorf("checkAdminAddr(%q) = %v; want ok=%v", addr, err, ok)
		}
		if err := checkAdminAddr(addr, true); err != nil && addr != ":9464" {
			t.Errorf("checkAdminAddr(%q, allowRemote) = %v", addr, err)
		}
	}
}

func TestIdentityCreatedPrivateAndStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := filepath.Join(dir, "identity.key")
	k1, created, err := loadOrCreateIdentity(p)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %04o; want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %04o; want 0700", di.Mode().Perm())
	}
	k2, created, err := loadOrCreateIdentity(p)
	if err != nil || created || !k1.Equals(k2) {
		t.Fatalf("second load: created=%v err=%v equal=%v", created, err, k1.Equals(k2))
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateIdentity(p); !errors.Is(err, errIdentityPerm) {
		t.Fatalf("world-readable identity: err = %v; want errIdentityPerm", err)
	}
}

func TestInitWritesConfigAndIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	var out, errb bytes.Buffer
	if code := realMain([]string{"init", "-data-dir", dir}, &out, &errb); code != exitOK {
		t.Fatalf("init: %d %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "peer_id 12D3") {
		t.Fatalf("init stdout %q; want a peer_id line", out.String())
	}
	cfg := filepath.Join(dir, defaultConfigName)
	c, err := loadConfigFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != dir {
		t.Fatalf("config data_dir %q; want %q", c.DataDir, dir)
	}
	// run -data-dir DIR finds the config init wrote there.
	fs := newFlagSet("run", "", "", &bytes.Buffer{})
	rf := addRunFlags(fs)
	if err := fs.Parse([]string{"-data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := rf.resolve(fs); err != nil || rf.loaded != cfg {
		t.Fatalf("run -data-dir: loaded %q err %v; want %q", rf.loaded, err, cfg)
	}
	// A second init refuses to overwrite, -force keeps the same identity.
	if code := realMain([]string{"init", "-data-dir", dir}, &out, &errb); code != exitFail {
		t.Fatalf("second init: code %d; want %d", code, exitFail)
	}
	var out2 bytes.Buffer
	if code := realMain([]string{"init", "-data-dir", dir, "-force"}, &out2, &errb); code != exitOK {
		t.Fatalf("init -force: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), strings.TrimSpace(out2.String())) {
		t.Fatalf("init -force changed the identity: %q vs %q", out.String(), out2.String())
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("listen_addrs = [\"/ip4/127.0.0.1/tcp/1\"]\n[store]\nretention = \"48h\"\n[log]\nlevel = \"warn\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet("run", "", "", &bytes.Buffer{})
	rf := addRunFlags(fs)
	if err := fs.Parse([]string{"-config", p, "-retention", "24h", "-listen", "/ip4/127.0.0.1/tcp/0", "-listen", "/ip4/127.0.0.1/udp/0/quic-v1"}); err != nil {
		t.Fatal(err)
	}
	c, err := rf.resolve(fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Retention.D() != 24*time.Hour || len(c.ListenAddrs) != 2 || c.Log.Level != "warn" {
		t.Fatalf("resolved retention %v listen %v level %q", c.Store.Retention.D(), c.ListenAddrs, c.Log.Level)
	}
}

func TestUsageAndUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := realMain(nil, &out, &errb); code != exitUsage {
		t.Fatalf("no args: %d", code)
	}
	if code := realMain([]string{"frobnicate"}, &out, &errb); code != exitUsage {
		t.Fatalf("unknown: %d", code)
	}
	if code := realMain([]string{"version"}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "imigee-relay ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

// TestDocsListEveryKey keeps docs/relay.md's config reference in step with
// the code: every key init writes must appear there (regenerate the table
// from `imigee-relay init -print` when this fails).
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "relay.md"))
	if err != nil {
		t.Skipf("docs/relay.md not found: %v", err)
	}
	for k := range keyDocs {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("docs/relay.md lacks config key `%s`", k)
		}
	}
}
