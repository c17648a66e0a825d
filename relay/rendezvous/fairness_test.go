package rendezvous

import (
	"errors"
	"testing"
)

// TestOneEpochLength: with EpochSeconds set, other lengths are refused, so
// a client cannot spread announcements over 244 lengths to get 244 token
// budgets (the old engine counted the budget per length).
func TestOneEpochLength(t *testing.T) {
	e, c, ep := newEngine(t, Config{EpochSeconds: 600})
	s := e.NewSession(nil, NewGroup())
	if _, _, _, err := e.Announce(s, 600, ep, []Announcement{{Tokens: []Token{tok(1, true)}, Record: []byte{1}}}); err != nil {
		t.Fatal(err)
	}
	other := uint64(c.now().Unix()) / 660
	if _, _, _, err := e.Announce(s, 660, other, []Announcement{{Tokens: []Token{tok(2, true)}, Record: []byte{1}}}); !errors.Is(err, ErrBadEpoch) {
		t.Fatalf("other length: %v, want ErrBadEpoch", err)
	}
}

// TestGroupAndSourceCaps: live entries are capped per group across all
// epochs and epoch lengths, and per parent (source) across its groups; a
// refused announce adds nothing and the counts return to zero after
// withdrawing.
func TestGroupAndSourceCaps(t *testing.T) {
	e, c, _ := newEngine(t, Config{TokenBudget: 100})
	src := NewLimitedGroup(15, nil)
	g1, g2 := NewLimitedGroup(10, src), NewLimitedGroup(10, src)
	s1, s2 := e.NewSession(nil, g1), e.NewSession(nil, g2)
	anns := func(from, n int) []Announcement {
		ts := make([]Token, n)
		for i := range ts {
			ts[i] = Token{Value: [TokenSize]byte{byte(from + i), 0xaa}}
		}
		return []Announcement{{Tokens: ts, Record: []byte{1}}}
	}
	// Two epoch lengths, one group: 6 + 4 fit, one more does not.
	now := uint64(c.now().Unix())
	if _, _, _, err := e.Announce(s1, 60, now/60, anns(0, 6)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.Announce(s1, 120, now/120, anns(10, 4)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.Announce(s1, 180, now/180, anns(20, 1)); !errors.Is(err, ErrBudget) {
		t.Fatalf("11th entry of a group: %v", err)
	}
	// The source has 5 left for the second group.
	if _, _, _, err := e.Announce(s2, 60, now/60, anns(30, 6)); !errors.Is(err, ErrBudget) {
		t.Fatalf("16th entry of a source: %v", err)
	}
	if _, _, _, err := e.Announce(s2, 60, now/60, anns(30, 5)); err != nil {
		t.Fatal(err)
	}
	if e.Held(g1) != 10 || e.Held(g2) != 5 || e.Held(src) != 15 {
		t.Fatalf("held %d %d %d", e.Held(g1), e.Held(g2), e.Held(src))
	}
	e.Close(s1)
	e.Close(s2)
	if e.Held(g1) != 0 || e.Held(g2) != 0 || e.Held(src) != 0 {
		t.Fatalf("after close held %d %d %d", e.Held(g1), e.Held(g2), e.Held(src))
	}
}
