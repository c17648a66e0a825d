package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
