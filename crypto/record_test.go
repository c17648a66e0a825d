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
