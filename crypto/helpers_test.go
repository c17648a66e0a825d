package crypto

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// hexBytes is []byte that reads and writes itself as hex in JSON vectors.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

// detRand is a deterministic io.Reader seeded from a label, so vectors and
// tests never depend on the system RNG.
func detRand(label string) *rand.ChaCha8 {
	return rand.NewChaCha8(sha256.Sum256([]byte("imigee/test/" + label)))
}

// testIdentity makes a deterministic identity.
func testIdentity(t testing.TB, label string) *Identity {
	t.Helper()
	id, err := NewIdentityAt(detRand(label), 1_780_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testPair makes two identities and both ends' pair keys.
func testPair(t testing.TB) (a, b *Identity, ab, ba *PairKeys) {
	t.Helper()
	a, b = testIdentity(t, "alice"), testIdentity(t, "bob")
	var err error
	if ab, err = DerivePair(a, b.Card()); err != nil {
		t.Fatal(err)
	}
	if ba, err = DerivePair(b, a.Card()); err != nil {
		t.Fatal(err)
	}
	return a, b, ab, ba
}

func mustMarshal(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flipEach calls f with a copy of b that has byte i flipped, for every i
// (or a spread of positions for long inputs).
func flipEach(b []byte, f func(i int, c []byte)) {
	step := 1
	if len(b) > 4096 {
		step = len(b) / 997
	}
	for i := 0; i < len(b); i += step {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		f(i, c)
	}
	if step > 1 {
		c := append([]byte(nil), b...)
		c[len(c)-1] ^= 0x80
		f(len(c)-1, c)
	}
}
