package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imigee/imigee/crypto"
)

// The analytics-key command prints the public key of the very box key the
// daemon loads, the key file is private, and one others can read is refused.
func TestAnalyticsKeyMatchesDaemon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	if code := cmdAnalyticsKey([]string{"-data-dir", dir}, &out, &errOut); code != exitOK {
		t.Fatalf("analytics-key: exit %d: %s", code, errOut.String())
	}
	printed := strings.TrimSpace(out.String())
	c := defaultFileConfig()
	c.DataDir = dir
	a := c.Analytics
	if err := loadAnalyticsKeys(&c, &a, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(a.BoxPub[:]); got != printed {
		t.Fatalf("daemon box key %s; command printed %s", got, printed)
	}
	p := c.dataPath(a.KeyFile)
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, err %v; want mode 0600", fi, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := loadOrCreateBoxKey(p); !errors.Is(err, errIdentityPerm) {
		t.Fatalf("world-readable box key: err = %v; want errIdentityPerm", err)
	}
}

// A contacts.key written before this change (ContactKey.Bytes, the format
// relays have on disk) loads to the same key, so the public key operators
// published does not change under them; a new file round-trips too.
func TestContactKeyFileKeepsPublishedKey(t *testing.T) {
	dir := t.TempDir()
	old, err := crypto.NewContactKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "contacts.key")
	if err := os.WriteFile(p, old.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	k, created, err := loadOrCreateContactKey(p)
	if err != nil || created {
		t.Fatalf("existing key: created %v, err %v", created, err)
	}
	if !bytes.Equal(k.PublicKey(), old.PublicKey()) {
		t.Fatal("an existing contacts.key loads to another public key")
	}
	p2 := filepath.Join(dir, "new", "contacts.key")
	k1, created, err := loadOrCreateContactKey(p2)
	if err != nil || !created {
		t.Fatalf("new key: created %v, err %v", created, err)
	}
	k2, created, err := loadOrCreateContactKey(p2)
	if err != nil || created || !bytes.Equal(k1.PublicKey(), k2.PublicKey()) {
		t.Fatalf("reload: created %v, err %v, same key %v", created, err, err == nil && bytes.Equal(k1.PublicKey(), k2.PublicKey()))
	}
	if err := os.Chmod(p2, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateContactKey(p2); !errors.Is(err, errIdentityPerm) {
		t.Fatalf("world-readable contact key: %v", err)
	}
}
