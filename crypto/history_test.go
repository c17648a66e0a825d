package crypto

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type historyVector struct {
	Key    hexBytes `json:"key"`
	Epoch  uint64   `json:"epoch"`
	Secret hexBytes `json:"secret"`
	Tag    hexBytes `json:"tag"`
}

func buildHistoryVectors() []historyVector {
	var out []historyVector
	for i, epoch := range []uint64{1, 2_950_000, 2_950_001, 1 << 40} {
		var k [32]byte
		for j := range k {
			k[j] = byte(i*32 + j)
		}
		s := HistoryForgetSecret(&k, epoch)
		tg := HistoryForgetTag(s[:])
		out = append(out, historyVector{Key: k[:], Epoch: epoch, Secret: s[:], Tag: tg[:]})
	}
	return out
}

// TestHistoryVectors pins the forget secret and tag derivations
// (testdata/history.json; -update rewrites it).
func TestHistoryVectors(t *testing.T) {
	path := filepath.Join("testdata", "history.json")
	built := buildHistoryVectors()
	if *update {
		b, _ := json.MarshalIndent(built, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []historyVector
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(built) {
		t.Fatalf("%d vectors, want %d", len(got), len(built))
	}
	for i := range got {
		var k [32]byte
		copy(k[:], got[i].Key)
		s := HistoryForgetSecret(&k, got[i].Epoch)
		tg := HistoryForgetTag(s[:])
		if !bytes.Equal(s[:], got[i].Secret) || !bytes.Equal(tg[:], got[i].Tag) {
			t.Fatalf("vector %d differs", i)
		}
	}
}

// TestForgetSecretsUnlinkable: neighbouring epochs give unrelated secrets
// and tags, and a tag is not its secret.
func TestForgetSecretsUnlinkable(t *testing.T) {
	var k [32]byte
	a, b := HistoryForgetSecret(&k, 10), HistoryForgetSecret(&k, 11)
	ta, tb := HistoryForgetTag(a[:]), HistoryForgetTag(b[:])
	if a == b || ta == tb || ta == a || tb == b {
		t.Fatal("secrets or tags repeat")
	}
}
