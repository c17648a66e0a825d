package crypto

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
)

func TestCardRoundTripAndTamper(t *testing.T) {
	id := testIdentity(t, "card")
	c := id.Card()
	if err := c.Verify(); err != nil {
		t.Fatal(err)
	}
	b := mustMarshal(t, c)
	if len(b) != CardSize {
		t.Fatalf("card is %d bytes, want %d", len(b), CardSize)
	}
	got, err := ParseCard(b)
	if err != nil || got != c {
		t.Fatalf("ParseCard = %v, %v", got, err)
	}
	flipEach(b, func(i int, m []byte) {
		if _, err := ParseCard(m); err == nil {
			t.Errorf("flipped byte %d: card still parses", i)
		} else if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
			t.Errorf("flipped byte %d: unexpected error %v", i, err)
		}
	})
	for _, n := range []int{0, CardSize - 1, CardSize + 1} {
		if _, err := ParseCard(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("length %d: err %v, want ErrMalformed", n, err)
		}
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	id := testIdentity(t, "identity")
	b := mustMarshal(t, id)
	if len(b) != IdentitySize {
		t.Fatalf("identity is %d bytes", len(b))
	}
	got, err := UnmarshalIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Card() != id.Card() || !bytes.Equal(mustMarshal(t, got), b) || *got.BoxPrivate() != *id.BoxPrivate() {
		t.Fatal("identity does not round-trip")
	}
	bad := append([]byte(nil), b...)
	bad[0] = 9
	if _, err := UnmarshalIdentity(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad version: %v", err)
	}
	if _, err := UnmarshalIdentity(b[:10]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short: %v", err)
	}
}

func TestNewIdentityShortRand(t *testing.T) {
	if _, err := NewIdentityAt(bytes.NewReader(make([]byte, 63)), 0); err == nil {
		t.Fatal("identity from 63 random bytes")
	}
}

func TestCardIDsDiffer(t *testing.T) {
	a, b := testIdentity(t, "a").Card(), testIdentity(t, "b").Card()
	if a.ID() == b.ID() || len(a.Fingerprint()) != 16 {
		t.Fatalf("ids %s %s", a.Fingerprint(), b.Fingerprint())
	}
}

func TestSafetyNumber(t *testing.T) {
	a, b, c := testIdentity(t, "a").Card(), testIdentity(t, "b").Card(), testIdentity(t, "c").Card()
	ab, ba := SafetyNumber(a, b), SafetyNumber(b, a)
	if ab != ba {
		t.Fatalf("order matters: %q vs %q", ab, ba)
	}
	if !regexp.MustCompile(`^\d{5}( \d{5}){4}$`).MatchString(ab) {
		t.Fatalf("format %q", ab)
	}
	if SafetyNumber(a, c) == ab || SafetyNumber(b, c) == ab {
		t.Fatal("different pairs share a safety number")
	}
	// A swapped box key (same signing key) must change the number.
	m := b
	m.BoxPub[0] ^= 1
	if SafetyNumber(a, m) == ab {
		t.Fatal("box key not covered by the safety number")
	}
}

func TestPrekey(t *testing.T) {
	owner, other := testIdentity(t, "owner"), testIdentity(t, "other")
	priv, p, err := NewPrekey(detRand("pk"), owner, 20600)
	if err != nil || priv == nil {
		t.Fatal(err)
	}
	if err := p.Verify(owner.Card()); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(other.Card()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verified against another card: %v", err)
	}
	b := mustMarshal(t, p)
	got, err := ParsePrekey(b)
	if err != nil || got != p {
		t.Fatal("prekey does not round-trip")
	}
	flipEach(b, func(i int, m []byte) {
		q, err := ParsePrekey(m)
		if err == nil {
			err = q.Verify(owner.Card())
		}
		if err == nil {
			t.Errorf("flipped byte %d: prekey still verifies", i)
		}
	})
	for _, n := range []int{0, PrekeySize - 1, PrekeySize + 1} {
		if _, err := ParsePrekey(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("length %d: %v", n, err)
		}
	}
}
