package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func TestRecord(t *testing.T) {
	_, _, ab, ba := testPair(t)
	rec := []byte("/ip4/192.0.2.1/udp/4001/quic-v1/p2p/12D3KooW...")
	s, err := ab.SealRecord(detRand("r"), 42, rec)
	if err != nil || len(s) != SealedRecordSize {
		t.Fatalf("%d bytes, %v", len(s), err)
	}
	got, err := ba.OpenRecord(42, s)
	if err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("friend cannot open: %v", err)
	}
	if _, err := ba.OpenRecord(43, s); !errors.Is(err, ErrOpen) {
		t.Fatal("record opens in another epoch")
	}
	c := testIdentity(t, "carol")
	cb, _ := DerivePair(c, testIdentity(t, "bob").Card())
	if _, err := cb.OpenRecord(42, s); !errors.Is(err, ErrOpen) {
		t.Fatal("stranger opens the record")
	}
	flipEach(s, func(i int, m []byte) {
		if _, err := ba.OpenRecord(42, m); err == nil {
			t.Errorf("flipped byte %d opens", i)
		}
	})
	empty, _ := ab.SealRecord(detRand("e"), 1, nil)
	if len(empty) != SealedRecordSize {
		t.Fatal("record size leaks length")
	}
	if _, err := ab.SealRecord(detRand("x"), 1, make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatal("oversized record sealed")
	}
	if _, err := ab.SealRecord(detRand("x"), 1, make([]byte, MaxRecordSize)); err != nil {
		t.Fatal(err)
	}
}

func FuzzOpenRecord(f *testing.F) {
	_, _, ab, ba := testPair(f)
	s, _ := ab.SealRecord(detRand("r"), 7, []byte("addr"))
	f.Add(uint64(7), s)
	for _, v := range loadVectors[pairVector](f, "pairs.json") {
		f.Add(v.RecordEpoch, []byte(v.SealedRec))
	}
	f.Fuzz(func(t *testing.T, epoch uint64, b []byte) {
		if _, err := ba.OpenRecord(epoch, b); err != nil {
			checkSentinel(t, err)
		}
	})
}

func TestSharedRecord(t *testing.T) {
	_, _, ab, ba := testPair(t)
	rec := []byte("/ip4/192.0.2.1/udp/4001/quic-v1/p2p/12D3KooW...")
	seed, err := NewRecordSeed(detRand("seed"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := SealSharedRecord(detRand("r"), seed, 42, rec)
	if err != nil || len(s) != SealedRecordSize {
		t.Fatalf("%d bytes, %v", len(s), err)
	}
	share := ab.RecordShare(42, seed)
	if bytes.Equal(share[:], seed[:]) {
		t.Fatal("share is the seed")
	}
	got, err := ba.OpenSharedRecord(42, share[:], s)
	if err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("friend cannot open: %v", err)
	}
	// The share is per epoch and per direction: B's own share for A, or
	// A's share for another epoch, does not open it.
	if _, err := ba.OpenSharedRecord(43, share[:], s); !errors.Is(err, ErrOpen) {
		t.Fatal("shared record opens in another epoch")
	}
	if _, err := ab.OpenSharedRecord(42, share[:], s); !errors.Is(err, ErrOpen) {
		t.Fatal("the sender's own share opens it from the wrong direction")
	}
	// Another friend of A gets its own share of the same seed and opens
	// the same record; a stranger's pair keys do not.
	c := testIdentity(t, "carol")
	a := testIdentity(t, "alice")
	ac, _ := DerivePair(a, c.Card())
	ca, _ := DerivePair(c, a.Card())
	cs := ac.RecordShare(42, seed)
	if got, err := ca.OpenSharedRecord(42, cs[:], s); err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("second friend cannot open: %v", err)
	}
	if bytes.Equal(cs[:], share[:]) {
		t.Fatal("two friends got the same share")
	}
	cb, _ := DerivePair(c, testIdentity(t, "bob").Card())
	if _, err := cb.OpenSharedRecord(42, share[:], s); !errors.Is(err, ErrOpen) {
		t.Fatal("stranger opens the shared record")
	}
	for i := range share {
		m := share
		m[i] ^= 1
		if _, err := ba.OpenSharedRecord(42, m[:], s); err == nil {
			t.Errorf("flipped share byte %d opens", i)
		}
	}
	if _, err := ba.OpenSharedRecord(42, share[:15], s); !errors.Is(err, ErrMalformed) {
		t.Fatal("short share accepted")
	}
}

func FuzzOpenSharedRecord(f *testing.F) {
	_, _, ab, ba := testPair(f)
	seed, _ := NewRecordSeed(detRand("seed"))
	s, _ := SealSharedRecord(detRand("r"), seed, 7, []byte("addr"))
	share := ab.RecordShare(7, seed)
	f.Add(uint64(7), share[:], s)
	for _, v := range loadVectors[pairVector](f, "pairs.json") {
		f.Add(v.RecordEpoch, []byte(v.Share), []byte(v.SharedSealed))
	}
	f.Fuzz(func(t *testing.T, epoch uint64, share, b []byte) {
		if _, err := ba.OpenSharedRecord(epoch, share, b); err != nil {
			checkSentinel(t, err)
		}
	})
}
