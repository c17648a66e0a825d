package keyfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteAndZeroRemove: a written key reads back whole and leaves no
// temporary file; ZeroRemove removes it (and a missing file is fine).
func TestWriteAndZeroRemove(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte{0xA5}, 32)
	for _, noSync := range []bool{false, true} {
		if err := Write(dir, "k", raw, noSync); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "k"))
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("read back %x, %v", got, err)
		}
		if es, _ := os.ReadDir(dir); len(es) != 1 {
			t.Fatalf("%d entries, want the key alone", len(es))
		}
		if err := ZeroRemove(filepath.Join(dir, "k"), noSync); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "k")); !os.IsNotExist(err) {
			t.Fatalf("key still there: %v", err)
		}
	}
	if err := ZeroRemove(filepath.Join(dir, "missing"), false); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(dir, false); err != nil {
		t.Fatal(err)
	}
}
