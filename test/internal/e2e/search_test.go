package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSearchFileAcrossChunkBorder(t *testing.T) {
	needle := []byte("needle-across-the-border")
	data := bytes.Repeat([]byte{'x'}, 3*searchChunk)
	copy(data[searchChunk-5:], needle) // straddles the first border
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := SearchFile(p, needle); err != nil || !ok {
		t.Fatalf("SearchFile = %v, %v; want found", ok, err)
	}
	if ok, err := SearchFile(p, []byte("absent-needle")); err != nil || ok {
		t.Fatalf("SearchFile(absent) = %v, %v; want not found", ok, err)
	}
}

func TestSearchProcessMemoryFindsLiveBytes(t *testing.T) {
	RequireProcMem(t)
	// Built at run time so the needle is not also a string constant in
	// the binary's read-only data (which would make the test trivial).
	needle := bytes.Repeat([]byte("mem-probe-"), 4)
	needle = append(needle, []byte(t.Name())...)
	res, err := SearchProcessMemory(os.Getpid(), needle)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found {
		t.Fatalf("needle in this process's heap not found (%d regions, %d bytes, %d unreadable)",
			res.Regions, res.BytesRead, res.Unreadable)
	}
}

func TestProcStatusKB(t *testing.T) {
	RequireProcMem(t)
	if kb, err := ProcStatusKB(os.Getpid(), "VmRSS"); err != nil || kb <= 0 {
		t.Fatalf("VmRSS of this process: %d %v", kb, err)
	}
	if _, err := ProcStatusKB(os.Getpid(), "NoSuchField"); err == nil {
		t.Fatal("a missing field gave no error")
	}
}
