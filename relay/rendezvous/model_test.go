package rendezvous

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// modelEntry is a session's token in the reference model.
type modelEntry struct {
	here        bool
	rec, shared string
}

// model is the engine's documented behaviour written as plainly as
// possible: per epoch, per token, per session, one entry. TestEngineModel
// runs random announces, withdraws, closes and sweeps against both and
// compares every result, so a change to the engine's data structures
// cannot change what it does.
type model struct {
	epochs map[uint64]map[[TokenSize]byte]map[int]modelEntry
	closed map[int]bool
}

// announce applies one call: near occurrences of a token that is also
// here in the call are ignored; a token the session holds is skipped
// unless it is held near and this is its first here occurrence, which
// upgrades it (new record) and matches the near entries of others; a new
// token matches others unless both are near.
func (m *model) announce(s int, ep uint64, shared string, anns []Announcement) (n int, mine, others []string, err error) {
	if m.closed[s] {
		return 0, nil, nil, ErrClosedSession
	}
	hereIn := map[[TokenSize]byte]bool{}
	for _, a := range anns {
		for _, t := range a.Tokens {
			if t.Here {
				hereIn[t.Value] = true
			}
		}
	}
	toks := m.epochs[ep]
	if toks == nil {
		toks = map[[TokenSize]byte]map[int]modelEntry{}
		m.epochs[ep] = toks
	}
	upgraded := map[[TokenSize]byte]bool{}
	for _, a := range anns {
		for _, t := range a.Tokens {
			if !t.Here && hereIn[t.Value] {
				continue
			}
			b := toks[t.Value]
			if b == nil {
				b = map[int]modelEntry{}
				toks[t.Value] = b
			}
			mine1 := modelEntry{here: t.Here, rec: string(a.Record), shared: shared}
			if old, ok := b[s]; ok {
				if old.here || !t.Here || upgraded[t.Value] {
					continue
				}
				upgraded[t.Value] = true
				b[s] = mine1
				for o, e := range b {
					if o != s && !e.here {
						mine = append(mine, fmt.Sprintf("%x %s %s", t.Value, e.rec, e.shared))
						others = append(others, fmt.Sprintf("%d %x %s %s", o, t.Value, mine1.rec, mine1.shared))
					}
				}
				n++
				continue
			}
			for o, e := range b {
				if o != s && (t.Here || e.here) {
					mine = append(mine, fmt.Sprintf("%x %s %s", t.Value, e.rec, e.shared))
					others = append(others, fmt.Sprintf("%d %x %s %s", o, t.Value, mine1.rec, mine1.shared))
				}
			}
			b[s] = mine1
			upgraded[t.Value] = true // a later here occurrence in this call is a repeat
			n++
		}
	}
	return n, mine, others, nil
}

func (m *model) withdraw(s int) int {
	n := 0
	for _, toks := range m.epochs {
		for _, b := range toks {
			if _, ok := b[s]; ok {
				delete(b, s)
				n++
			}
		}
	}
	return n
}

func (m *model) held(s int) (n int) {
	for _, toks := range m.epochs {
		for _, b := range toks {
			if _, ok := b[s]; ok {
				n++
			}
		}
	}
	return n
}

// stats returns entries, live epochs and sessions holding entries.
func (m *model) stats() (entries, epochs, sessions int) {
	holders := map[int]bool{}
	for _, toks := range m.epochs {
		live := false
		for _, b := range toks {
			for s := range b {
				entries++
				holders[s] = true
				live = true
			}
		}
		if live {
			epochs++
		}
	}
	return entries, epochs, len(holders)
}

func TestEngineModel(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	e, clk, ep := newEngine(t, Config{MaxEntries: 1 << 20, MaxRecordBytes: 1 << 30, TokenBudget: 1 << 20})
	m := &model{epochs: map[uint64]map[[TokenSize]byte]map[int]modelEntry{}, closed: map[int]bool{}}
	const nsess = 6
	sess := make([]*Session, nsess)
	accts := make([]*countAccount, nsess)
	index := map[*Session]int{}
	for i := range sess {
		accts[i] = &countAccount{}
		sess[i] = e.NewAccountedSession(i, nil, accts[i])
		index[sess[i]] = i
	}
	epochs := []uint64{ep - 1, ep}
	swept := false
	for step := range 400 {
		what := fmt.Sprintf("seed %d step %d", seed, step)
		s := rng.IntN(nsess)
		switch r := rng.IntN(20); {
		case r < 15: // announce
			anns := make([]Announcement, 1+rng.IntN(3))
			for i := range anns {
				toks := make([]Token, 1+rng.IntN(4))
				for j := range toks {
					toks[j] = Token{Value: [TokenSize]byte{byte(rng.IntN(8))}, Here: rng.IntN(2) == 0}
				}
				anns[i] = Announcement{Tokens: toks, Record: fmt.Appendf(nil, "r%d.%d", step, i)}
			}
			var shared []byte
			if rng.IntN(2) == 0 {
				shared = fmt.Appendf(nil, "s%d", step)
			}
			k := epochs[rng.IntN(len(epochs))]
			wn, wmine, wothers, werr := m.announce(s, k, string(shared), anns)
			n, mine, others, err := e.AnnounceShared(sess[s], secs, k, shared, anns)
			if swept && k == ep-1 {
				if !errors.Is(err, ErrStale) {
					t.Fatalf("%s: announce for a swept epoch: %v", what, err)
				}
				m.withdrawEpoch(k)
				continue
			}
			if !errors.Is(err, werr) || n != wn {
				t.Fatalf("%s: announce returned %d, %v; model %d, %v", what, n, err, wn, werr)
			}
			var gm, go_ []string
			for _, x := range mine {
				gm = append(gm, fmt.Sprintf("%x %s %s", x.Token, x.Record, x.Shared))
			}
			for _, d := range others {
				go_ = append(go_, fmt.Sprintf("%d %x %s %s", index[d.To], d.Match.Token, d.Match.Record, d.Match.Shared))
			}
			slices.Sort(gm)
			slices.Sort(go_)
			slices.Sort(wmine)
			slices.Sort(wothers)
			if !slices.Equal(gm, wmine) || !slices.Equal(go_, wothers) {
				t.Fatalf("%s: matches\n got %q / %q\nwant %q / %q", what, gm, go_, wmine, wothers)
			}
		case r < 17:
			if got, want := e.Withdraw(sess[s]), m.withdraw(s); got != want {
				t.Fatalf("%s: withdraw %d, model %d", what, got, want)
			}
		case r < 19:
			if got, want := e.Close(sess[s]), m.withdraw(s); got != want {
				t.Fatalf("%s: close %d, model %d", what, got, want)
			}
			m.closed[s] = true
		default:
			if swept {
				continue
			}
			// The older epoch's window passes.
			clk.add(DefaultSkew + time.Second)
			want := m.withdrawEpoch(ep - 1)
			if got := e.Sweep(); got != want {
				t.Fatalf("%s: sweep dropped %d, model %d", what, got, want)
			}
			swept = true
		}
		for i, s := range sess {
			if got, want := e.Entries(s), m.held(i); got != want {
				t.Fatalf("%s: session %d holds %d, model %d", what, i, got, want)
			}
		}
		st := e.Stats()
		we, wep, ws := m.stats()
		if st.Entries != we || st.Epochs != wep || st.Sessions != ws {
			t.Fatalf("%s: stats %d entries, %d epochs, %d sessions; model %d, %d, %d", what, st.Entries, st.Epochs, st.Sessions, we, wep, ws)
		}
		for i, a := range accts {
			if a.used < e.Entries(sess[i])*EntryBytes {
				t.Fatalf("%s: session %d charged %d bytes for %d entries", what, i, a.used, e.Entries(sess[i]))
			}
		}
	}
	// Everything withdrawn: every byte charged is released, nothing held.
	for _, s := range sess {
		e.Close(s)
	}
	for i, a := range accts {
		if a.used != 0 {
			t.Fatalf("seed %d: session %d still charged %d bytes after its close", seed, i, a.used)
		}
	}
	if st := e.Stats(); st.Entries != 0 || st.RecordBytes != 0 || st.Epochs != 0 || st.Sessions != 0 {
		t.Fatalf("seed %d: after every close: %+v", seed, st)
	}
}

// countAccount counts the bytes a session has reserved and not released.
type countAccount struct{ used int }

func (a *countAccount) Reserve(n int) error { a.used += n; return nil }
func (a *countAccount) Release(n int)       { a.used -= n }

// withdrawEpoch drops an epoch and returns its entries.
func (m *model) withdrawEpoch(k uint64) int {
	n := 0
	for _, b := range m.epochs[k] {
		n += len(b)
	}
	delete(m.epochs, k)
	return n
}
