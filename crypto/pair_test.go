package crypto

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func TestPairSymmetric(t *testing.T) {
	_, _, ab, ba := testPair(t)
	if *ab.RecordKey() != *ba.RecordKey() || *ab.MessageKey() != *ba.MessageKey() {
		t.Fatal("record or message keys differ between the ends")
	}
	if *ab.RecordKey() == *ab.MessageKey() {
		t.Fatal("purposes share a key")
	}
	for _, e := range []uint64{20600 * 144, 20600*144 + 1, 20601 * 144} {
		k1, err1 := ab.EpochTokenKey(e, DefaultEpochSeconds)
		k2, err2 := ba.EpochTokenKey(e, DefaultEpochSeconds)
		if err1 != nil || err2 != nil || k1 != k2 {
			t.Fatalf("epoch %d: keys differ (%v, %v)", e, err1, err2)
		}
		if ab.Hint(e) != ba.Hint(e) {
			t.Fatalf("epoch %d: hints differ", e)
		}
	}
	if ab.Hint(1) == ab.Hint(2) {
		t.Fatal("hint does not change with the epoch")
	}
}

func TestMailboxDirections(t *testing.T) {
	_, _, ab, ba := testPair(t)
	const day = 20600
	aToB, bToA := ab.MailboxID(day, true), ab.MailboxID(day, false)
	if aToB == bToA {
		t.Fatal("both directions share a mailbox")
	}
	if ba.MailboxID(day, false) != aToB || ba.MailboxID(day, true) != bToA {
		t.Fatal("the ends disagree on a direction's mailbox")
	}
	if ab.MailboxID(day+1, true) == aToB {
		t.Fatal("mailbox does not change daily")
	}
	c := testIdentity(t, "carol")
	ac, err := DerivePair(testIdentity(t, "alice"), c.Card())
	if err != nil {
		t.Fatal(err)
	}
	if ac.MailboxID(day, false) == bToA {
		t.Fatal("two friends share the recipient's mailbox")
	}
	// The key signs for its own mailbox ID.
	id, sig := SignMailboxAuth(ba.MailboxKey(day, false), OpFetch, []byte("challenge"))
	if id != aToB {
		t.Fatal("signing key does not match the mailbox ID")
	}
	if err := VerifyMailboxAuth(OpFetch, []byte("challenge"), id, ab.MailboxKey(day, true)[32:], sig); err != nil {
		t.Fatal(err)
	}
}

func TestProof(t *testing.T) {
	_, _, ab, ba := testPair(t)
	tr := []byte("transcript")
	p := ab.Proof(7, tr)
	if !ba.VerifyProof(7, tr, p[:]) {
		t.Fatal("friend rejects a good proof")
	}
	if ab.VerifyProof(7, tr, p[:]) {
		t.Fatal("a reflected proof verifies")
	}
	if ba.VerifyProof(8, tr, p[:]) || ba.VerifyProof(7, []byte("other"), p[:]) || ba.VerifyProof(7, tr, p[:31]) {
		t.Fatal("proof verifies for another epoch, transcript or length")
	}
	c := testIdentity(t, "carol")
	cb, err := DerivePair(c, testIdentity(t, "bob").Card())
	if err != nil {
		t.Fatal(err)
	}
	q := cb.Proof(7, tr)
	if ba.VerifyProof(7, tr, q[:]) {
		t.Fatal("a stranger's proof verifies")
	}
}

func TestRatchetErases(t *testing.T) {
	_, _, ab, ba := testPair(t)
	const today = 20600
	old, err := ab.DayKey(today - 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ab.DayKey(today)
	ab.Advance(today)
	if got, err := ab.DayKey(today); err != nil || got != want {
		t.Fatalf("today's key changed by Advance: %v", err)
	}
	if _, err := ab.DayKey(today - 1); !errors.Is(err, ErrKeyErased) {
		t.Fatalf("yesterday: %v, want ErrKeyErased", err)
	}
	if _, err := ab.EpochTokenKey(uint64(today-1)*144, DefaultEpochSeconds); !errors.Is(err, ErrKeyErased) {
		t.Fatalf("yesterday's epoch: %v", err)
	}
	if _, err := ab.DayKey(today + MaxRatchetDays + 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("absurd future day: %v", err)
	}
	if EpochDay(^uint64(0), 600) != ^uint32(0) || EpochDay(144*20600+143, 600) != 20600 {
		t.Fatal("EpochDay")
	}
	if _, err := ab.EpochTokenKey(^uint64(0)/600, DefaultEpochSeconds); err == nil {
		t.Fatal("absurd epoch accepted")
	}
	if err := ab.Advance(today + MaxRatchetDays + 1); !errors.Is(err, ErrMalformed) || ab.ProximityDay() != today {
		t.Fatalf("absurd advance: %v", err)
	}
	ab.Advance(today - 5) // never moves back
	if ab.ProximityDay() != today {
		t.Fatal("Advance moved backwards")
	}
	stored := mustMarshal(t, ab)
	if bytes.Contains(stored, old[:]) {
		t.Fatal("marshalled pair keys contain an erased day key")
	}
	base, _ := ba.DayKey(ProximityBaseDay)
	if bytes.Contains(stored, base[:]) {
		t.Fatal("marshalled pair keys contain the base key")
	}
	re, err := UnmarshalPairKeys(stored)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := re.DayKey(today + 3); got != mustDay(t, ba, today+3) {
		t.Fatal("restored keys ratchet differently")
	}
	if _, err := re.DayKey(today - 1); !errors.Is(err, ErrKeyErased) {
		t.Fatal("restored keys regained an erased day")
	}
	if !bytes.Equal(mustMarshal(t, re), stored) {
		t.Fatal("pair keys do not round-trip")
	}
}

func mustDay(t *testing.T, pk *PairKeys, d uint32) [32]byte {
	k, err := pk.DayKey(d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLinkSecret(t *testing.T) {
	a, b := testIdentity(t, "alice"), testIdentity(t, "bob")
	plain, _ := DerivePair(a, b.Card())
	s1, err := DerivePairWithSecret(a, b.Card(), []byte("link secret"))
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := DerivePairWithSecret(b, a.Card(), []byte("link secret"))
	if mustDay(t, s1, 20600) == mustDay(t, plain, 20600) {
		t.Fatal("link secret not mixed into the proximity key")
	}
	if mustDay(t, s1, 20600) != mustDay(t, s2, 20600) {
		t.Fatal("ends disagree with a link secret")
	}
	if s1.MailboxID(20600, true) != plain.MailboxID(20600, true) {
		t.Fatal("link secret changed mailbox IDs (it should only touch proximity)")
	}
}

func TestLinkKeys(t *testing.T) {
	pa, pubA, err := NewLinkKey(detRand("la"))
	if err != nil {
		t.Fatal(err)
	}
	pb, pubB, _ := NewLinkKey(detRand("lb"))
	sa, err1 := LinkSecret(pa, pubB)
	sb, err2 := LinkSecret(pb, pubA)
	if err1 != nil || err2 != nil || !bytes.Equal(sa, sb) {
		t.Fatal("ends disagree on the link secret")
	}
	if _, err := LinkSecret(pa, [32]byte{}); !errors.Is(err, ErrWeakKey) {
		t.Fatalf("zero peer key: %v", err)
	}
}

func TestDerivePairRejects(t *testing.T) {
	a, b := testIdentity(t, "alice"), testIdentity(t, "bob")
	bad := b.Card()
	bad.BoxPub[0] ^= 1
	if _, err := DerivePair(a, bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered card: %v", err)
	}
	if _, err := DerivePair(a, a.Card()); err == nil {
		t.Fatal("pair with self")
	}
	for _, n := range []int{0, PairKeysSize - 1} {
		if _, err := UnmarshalPairKeys(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("length %d: %v", n, err)
		}
	}
	if _, err := ab0(t).EpochTokenKey(1, 0); !errors.Is(err, ErrMalformed) {
		t.Fatal("zero epoch length accepted")
	}
}

func ab0(t *testing.T) *PairKeys { _, _, ab, _ := testPair(t); return ab }

func TestPairConcurrent(t *testing.T) {
	_, _, ab, _ := testPair(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := uint32(20590); d < 20610; d++ {
				if g == 0 {
					ab.Advance(d)
				}
				_, _ = ab.EpochTokenKey(uint64(d)*144, DefaultEpochSeconds)
				_, _ = ab.MarshalBinary()
			}
		}()
	}
	wg.Wait()
}
