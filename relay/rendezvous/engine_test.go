package rendezvous

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const secs = 600

func newEngine(t testing.TB, cfg Config) (*Engine, *clock, uint64) {
	t.Helper()
	c := &clock{t: time.Unix(1_800_000_000, 0)} // an epoch boundary is not needed
	cfg.Now = c.now
	epoch := uint64(c.t.Unix()) / secs
	return New(cfg), c, epoch
}

func tok(b byte, here bool) Token { return Token{Value: [TokenSize]byte{b}, Here: here} }

func TestMatchKinds(t *testing.T) {
	cases := []struct {
		name      string
		a, b      bool // Here of each side
		wantMatch bool
	}{
		{"here=here", true, true, true},
		{"here=near", true, false, true},
		{"near=here", false, true, true},
		{"near=near", false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, _, ep := newEngine(t, Config{})
			a, b := e.NewSession("a", nil), e.NewSession("b", nil)
			if _, mine, _, err := e.Announce(a, secs, ep, []Announcement{{Tokens: []Token{tok(1, tc.a)}, Record: []byte("ra")}}); err != nil || len(mine) != 0 {
				t.Fatalf("first announce: %v, %d matches", err, len(mine))
			}
			_, mine, others, err := e.Announce(b, secs, ep, []Announcement{{Tokens: []Token{tok(1, tc.b)}, Record: []byte("rb")}})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(mine) == 1; got != tc.wantMatch {
				t.Fatalf("match = %v, want %v", got, tc.wantMatch)
			}
			if !tc.wantMatch {
				return
			}
			if string(mine[0].Record) != "ra" || others[0].To != a || string(others[0].Match.Record) != "rb" {
				t.Fatalf("each side must get the other's record: %+v %+v", mine[0], others[0])
			}
		})
	}
}

func TestOwnTokensDoNotMatch(t *testing.T) {
	e, _, ep := newEngine(t, Config{})
	a := e.NewSession(nil, nil)
	_, mine, _, err := e.Announce(a, secs, ep, []Announcement{{Tokens: []Token{tok(1, true), tok(1, true)}}, {Tokens: []Token{tok(1, true)}}})
	if err != nil || len(mine) != 0 {
		t.Fatalf("%v %d", err, len(mine))
	}
	if n := e.Entries(a); n != 1 {
		t.Fatalf("entries %d, want 1 (repeats are idempotent)", n)
	}
}

func TestEpochWindowAndRetention(t *testing.T) {
	e, c, ep := newEngine(t, Config{})
	// Two epochs ahead and one epoch behind the window are stale.
	for _, bad := range []uint64{ep + 2, ep - 2} {
		if _, _, _, err := e.Announce(e.NewSession(nil, nil), secs, bad, []Announcement{{Tokens: []Token{tok(1, true)}}}); !errors.Is(err, ErrStale) {
			t.Fatalf("epoch %d: err %v, want ErrStale", bad, err)
		}
	}
	if _, _, _, err := e.Announce(e.NewSession(nil, nil), 30, ep, nil); !errors.Is(err, ErrBadEpoch) {
		t.Fatalf("short epoch: %v", err)
	}
	a := e.NewSession(nil, nil)
	if _, _, _, err := e.Announce(a, secs, ep, []Announcement{{Tokens: []Token{tok(1, true)}, Record: make([]byte, 100)}}); err != nil {
		t.Fatal(err)
	}
	end := time.Unix(int64(ep+1)*secs, 0)
	c.add(end.Sub(c.now()) + DefaultSkew - time.Second)
	if e.Sweep() != 0 || e.Stats().Entries != 1 {
		t.Fatal("entry dropped inside the skew window")
	}
	c.add(time.Second)
	if n := e.Sweep(); n != 1 {
		t.Fatalf("swept %d, want 1", n)
	}
	st := e.Stats()
	if st.Entries != 0 || st.RecordBytes != 0 || st.Sessions != 0 || st.Epochs != 0 || e.Entries(a) != 0 {
		t.Fatalf("state left after the window: %+v", st)
	}
	// A late announcement for the dead epoch is refused.
	if _, _, _, err := e.Announce(a, secs, ep, []Announcement{{Tokens: []Token{tok(2, true)}}}); !errors.Is(err, ErrStale) {
		t.Fatalf("late announce: %v", err)
	}
}

func TestBudgetAndCapAreAllOrNothing(t *testing.T) {
	e, _, ep := newEngine(t, Config{TokenBudget: 3, MaxEntries: 5})
	a := e.NewSession(nil, nil)
	four := []Announcement{{Tokens: []Token{tok(1, true), tok(2, true), tok(3, true), tok(4, true)}}}
	if _, _, _, err := e.Announce(a, secs, ep, four); !errors.Is(err, ErrBudget) {
		t.Fatalf("err %v, want ErrBudget", err)
	}
	if e.Stats().Entries != 0 {
		t.Fatal("a refused announce left entries")
	}
	three := []Announcement{{Tokens: []Token{tok(1, true), tok(2, true), tok(3, true)}}}
	if n, _, _, err := e.Announce(a, secs, ep, three); err != nil || n != 3 {
		t.Fatalf("%d %v", n, err)
	}
	// Re-announcing what is held costs nothing.
	if n, _, _, err := e.Announce(a, secs, ep, three); err != nil || n != 0 {
		t.Fatalf("re-announce: %d %v", n, err)
	}
	b := e.NewSession(nil, nil)
	if _, _, _, err := e.Announce(b, secs, ep, three); !errors.Is(err, ErrFull) {
		t.Fatalf("err %v, want ErrFull", err)
	}
	if e.Stats().Entries != 3 {
		t.Fatal("refused announce changed state")
	}
}

func TestWithdrawAndClose(t *testing.T) {
	e, _, ep := newEngine(t, Config{})
	a, b := e.NewSession(nil, nil), e.NewSession(nil, nil)
	e.Announce(a, secs, ep, []Announcement{{Tokens: []Token{tok(1, true), tok(2, false)}, Record: []byte("x")}})
	if n := e.Withdraw(a); n != 2 {
		t.Fatalf("withdrew %d", n)
	}
	if _, mine, _, _ := e.Announce(b, secs, ep, []Announcement{{Tokens: []Token{tok(1, true)}}}); len(mine) != 0 {
		t.Fatal("matched a withdrawn entry")
	}
	e.Close(b)
	if _, _, _, err := e.Announce(b, secs, ep, []Announcement{{Tokens: []Token{tok(1, true)}}}); !errors.Is(err, ErrClosedSession) {
		t.Fatalf("closed session announced: %v", err)
	}
	if st := e.Stats(); st.Entries != 0 || st.RecordBytes != 0 {
		t.Fatalf("%+v", st)
	}
}

// TestGroupBudget: sessions of one group share one budget per epoch, and
// withdrawing or expiring returns it.
func TestGroupBudget(t *testing.T) {
	e, c, ep := newEngine(t, Config{TokenBudget: 3})
	g := NewGroup()
	a, b := e.NewSession(nil, g), e.NewSession(nil, g)
	if _, _, _, err := e.Announce(a, secs, ep, []Announcement{{Tokens: []Token{tok(1, true), tok(2, true)}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.Announce(b, secs, ep, []Announcement{{Tokens: []Token{tok(3, true), tok(4, true)}}}); !errors.Is(err, ErrBudget) {
		t.Fatalf("second session of the group: %v, want ErrBudget", err)
	}
	if _, _, _, err := e.Announce(e.NewSession(nil, nil), secs, ep, []Announcement{{Tokens: []Token{tok(3, true), tok(4, true)}}}); err != nil {
		t.Fatalf("a session outside the group: %v", err)
	}
	e.Withdraw(a)
	if _, _, _, err := e.Announce(b, secs, ep, []Announcement{{Tokens: []Token{tok(3, true), tok(4, true), tok(5, true)}}}); err != nil {
		t.Fatalf("after withdraw: %v", err)
	}
	c.add(time.Duration(secs+2*60) * time.Second)
	e.Sweep()
	if len(g.counts) != 0 {
		t.Fatalf("group still charged after expiry: %v", g.counts)
	}
}

// TestSharedRecord: a shared record travels with every match of its
// Announce, is held once however many announcements use it, and is freed
// with the last of them (by withdraw and by expiry).
func TestSharedRecord(t *testing.T) {
	e, clk, ep := newEngine(t, Config{})
	a, b := e.NewSession("a", nil), e.NewSession("b", nil)
	shared := []byte("one record for every friend")
	anns := []Announcement{
		{Tokens: []Token{tok(1, true), tok(2, false)}, Record: []byte("share-1")},
		{Tokens: []Token{tok(3, true)}, Record: []byte("share-3")},
	}
	if _, _, _, err := e.AnnounceShared(a, secs, ep, shared, anns); err != nil {
		t.Fatal(err)
	}
	want := int64(len(shared) + len("share-1") + len("share-3"))
	if st := e.Stats(); st.RecordBytes != want {
		t.Fatalf("record bytes %d, want %d (the shared record once)", st.RecordBytes, want)
	}
	_, mine, others, err := e.AnnounceShared(b, secs, ep, []byte("b's"), []Announcement{{Tokens: []Token{tok(3, true)}, Record: []byte("b-share")}})
	if err != nil || len(mine) != 1 || len(others) != 1 {
		t.Fatalf("%v, %d/%d matches", err, len(mine), len(others))
	}
	if string(mine[0].Record) != "share-3" || string(mine[0].Shared) != string(shared) {
		t.Fatalf("b got %+v", mine[0])
	}
	if string(others[0].Match.Record) != "b-share" || string(others[0].Match.Shared) != "b's" {
		t.Fatalf("a is owed %+v", others[0].Match)
	}
	// A plain Announce still matches: it gets a's shared record, and a is
	// owed the plain record with no shared one.
	_, mine, others, _ = e.Announce(b, secs, ep, []Announcement{{Tokens: []Token{tok(1, true)}, Record: []byte("plain")}})
	if len(mine) != 1 || string(mine[0].Shared) != string(shared) {
		t.Fatalf("match against a's shared announcement: %+v", mine)
	}
	if len(others) != 1 || string(others[0].Match.Record) != "plain" || others[0].Match.Shared != nil {
		t.Fatalf("a is owed %+v", others)
	}
	e.Withdraw(a)
	if st := e.Stats(); st.RecordBytes != int64(len("b's")+len("b-share")+len("plain")) {
		t.Fatalf("after withdraw: %+v", st)
	}
	clk.add(3 * secs * time.Second)
	e.Sweep()
	if st := e.Stats(); st.RecordBytes != 0 || st.Entries != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}

// TestNearBecomesHere: a token a session holds as near and announces again
// as here becomes here and matches other sessions' near entries — whether
// the re-announce carries the same record or another, both kinds arrive in
// one call, or the other side's near token comes later. The entry takes the
// record of the announcement that made it here. Before, the engine kept the
// entry near and reported no match in every one of these cases.
func TestNearBecomesHere(t *testing.T) {
	ann := func(rec string, toks ...Token) []Announcement {
		return []Announcement{{Tokens: toks, Record: []byte(rec)}}
	}
	cases := []struct {
		name  string
		first []Announcement // a's first call (nil: none)
		again []Announcement // a's second call
	}{
		{"same record", ann("ra", tok(1, false)), ann("ra", tok(1, true))},
		{"other record", ann("old", tok(1, false)), ann("ra", tok(1, true))},
		{"both kinds in one call", nil, ann("ra", tok(1, false), tok(1, true))},
		{"both kinds, here first", nil, ann("ra", tok(1, true), tok(1, false))},
		{"near then here in two announcements of one call", nil, append(ann("ra", tok(1, false)), ann("ra", tok(1, true))...)},
		// The here occurrence's announcement gives the record.
		{"near and here with other records in one call", nil, append(ann("wrong", tok(1, false)), ann("ra", tok(1, true))...)},
		{"held near, then near and here with other records", ann("old", tok(1, false)), append(ann("wrong", tok(1, false)), ann("ra", tok(1, true))...)},
		{"held near, then here twice in one call", ann("old", tok(1, false)), append(ann("ra", tok(1, true)), ann("second", tok(1, true))...)},
	}
	for _, tc := range cases {
		for _, bFirst := range []bool{true, false} {
			name := tc.name + "/other side first"
			if !bFirst {
				name = tc.name + "/other side later"
			}
			t.Run(name, func(t *testing.T) {
				e, _, ep := newEngine(t, Config{})
				// Accounted sessions: every byte an upgrade reserves or
				// frees must balance (the accounts are zero at the end).
				accA, accB := &limitAccount{limit: 1 << 20}, &limitAccount{limit: 1 << 20}
				a, b := e.NewAccountedSession("a", nil, accA), e.NewAccountedSession("b", nil, accB)
				bNear := ann("rb", tok(1, false))
				if bFirst {
					if _, mine, _, err := e.Announce(b, secs, ep, bNear); err != nil || len(mine) != 0 {
						t.Fatalf("b: %v %d", err, len(mine))
					}
				}
				if tc.first != nil {
					if _, mine, _, err := e.Announce(a, secs, ep, tc.first); err != nil || len(mine) != 0 {
						t.Fatalf("a near: %v %d", err, len(mine))
					}
				}
				n, mine, others, err := e.Announce(a, secs, ep, tc.again)
				if err != nil || n != 1 {
					t.Fatalf("a here: n=%d %v", n, err)
				}
				if bFirst {
					if len(mine) != 1 || string(mine[0].Record) != "rb" || len(others) != 1 || others[0].To != b || string(others[0].Match.Record) != "ra" {
						t.Fatalf("no match on upgrade: %+v %+v", mine, others)
					}
				} else {
					_, mine, others, err = e.Announce(b, secs, ep, bNear)
					if err != nil || len(mine) != 1 || string(mine[0].Record) != "ra" || len(others) != 1 || others[0].To != a {
						t.Fatalf("a later near does not match the upgraded token: %v %+v %+v", err, mine, others)
					}
				}
				if e.Entries(a) != 1 {
					t.Fatalf("a holds %d entries, want 1", e.Entries(a))
				}
				// Idempotent from now on: here again, or near again, changes nothing.
				for _, again := range [][]Announcement{ann("ra", tok(1, true)), ann("ra", tok(1, false))} {
					if n, mine, others, err := e.Announce(a, secs, ep, again); err != nil || n != 0 || len(mine)+len(others) != 0 {
						t.Fatalf("repeat: n=%d %v %d %d", n, err, len(mine), len(others))
					}
				}
				// The replaced record's bytes are released: after withdrawing
				// both, nothing is held.
				e.Withdraw(a)
				e.Withdraw(b)
				if st := e.Stats(); st.Entries != 0 || st.RecordBytes != 0 || accA.used != 0 || accB.used != 0 {
					t.Fatalf("left behind: %+v, accounts %d %d", st, accA.used, accB.used)
				}
			})
		}
	}
}
