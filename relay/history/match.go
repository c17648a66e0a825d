package history

// Late matching: a late announcement against the stored entries of its
// epoch, by one walk over the epoch's values (no index keyed by token:
// see layout.go for why).

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// match finds the stored entries equal to a's tokens (kinds permitting)
// from other origins: one pass over the epoch's values collects, per
// token hash of a, the announcements listing it; only those are opened.
func (w *writer) match(tx *bolt.Tx, a *Announce, max int) ([]Match, int, error) {
	ep, err := w.epoch(tx, epochID{a.EpochSeconds, a.Epoch}, false)
	if err != nil || ep == nil {
		return nil, 0, err
	}
	// The walk compares every stored hash of the epoch: a flat
	// open-addressing table (hashes are uniform, their low bits index it)
	// keeps that to a few ns each, several times below a Go map.
	n := 0
	for _, an := range a.Announcements {
		n += len(an.Tokens)
	}
	hashOf := make(map[[TokenSize]byte]int32, n) // token → slot in cands
	hashes := make([]uint64, 0, n)
	for _, an := range a.Announcements {
		for _, t := range an.Tokens {
			if _, ok := hashOf[t.Value]; !ok {
				hashOf[t.Value] = int32(len(hashes))
				hashes = append(hashes, ep.hash(t.Value))
			}
		}
	}
	oh := ep.key.idHash(idOrigin, a.Origin[:])
	set := newHashSet(hashes)
	cands := make([][]cand, len(hashes)) // announcements listing each hash, ascending
	c := ep.a.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return nil, 0, fmt.Errorf("%w: announcement key of %d bytes", ErrCorrupt, len(k))
		}
		st, err := decodeStored(v)
		if err != nil {
			return nil, 0, err
		}
		aid := binary.BigEndian.Uint64(k)
		for p := 0; p < len(st.hashes); p += 8 {
			e := binary.BigEndian.Uint64(st.hashes[p:])
			if i := set.find(e &^ 1); i >= 0 {
				l := cands[i]
				if len(l) == 0 || l[len(l)-1].aid != aid {
					l = append(l, cand{aid: aid, own: bytes.Equal(st.origin, oh)})
				}
				if e&1 == kindHere {
					l[len(l)-1].here++
				} else {
					l[len(l)-1].near++
				}
				cands[i] = l
			}
		}
	}
	var ms []Match
	dropped := 0
	seen := make(map[[TokenSize]byte]bool)
	for _, an := range a.Announcements {
		for _, t := range an.Tokens {
			wasHere, again := seen[t.Value]
			if again && (wasHere || !t.Here) {
				continue
			}
			seen[t.Value] = t.Here
			// again: near before, here now; the stored here entries
			// matched then, only the stored near ones are new.
			for _, cd := range cands[hashOf[t.Value]] {
				aid := cd.aid
				if len(ms) >= max && !cd.own {
					// Only counted, from the scan's counts: nothing
					// opened (an announcement under the late session's
					// own origin hash is opened, to tell it apart).
					if !again {
						dropped += int(cd.here)
					}
					if t.Here {
						dropped += int(cd.near)
					}
					continue
				}
				o, err := ep.load(aid)
				if err != nil {
					return nil, 0, err
				}
				if o.body.origin == a.Origin {
					continue
				}
				for _, r := range o.body.recs {
					found, here := false, false
					for _, st := range r.tokens {
						if st.Value == t.Value {
							found = true
							here = here || st.Here
						}
					}
					if !found || (!here && !t.Here) || (here && again) {
						continue // near=near does not match; here matched already
					}
					if len(ms) >= max {
						dropped++
						continue
					}
					ms = append(ms, Match{Epoch: a.Epoch, Token: t.Value, Record: bytes.Clone(r.sealed), Shared: bytes.Clone(o.body.shared)})
				}
			}
		}
	}
	return ms, dropped, nil
}

// cand is an announcement listing a late token's hash: its aid, whether
// it is under the late session's origin hash, and its entries of that
// hash by kind.
type cand struct {
	aid        uint64
	own        bool
	here, near int32
}

// hashSet maps a few token hashes to their positions; find is a probe or
// two in a table at most half full.
type hashSet struct {
	keys []uint64
	pos  []int32 // -1: empty
	mask uint64
}

func newHashSet(hs []uint64) *hashSet {
	n := 8
	for n < 2*len(hs) {
		n <<= 1
	}
	s := &hashSet{keys: make([]uint64, n), pos: make([]int32, n), mask: uint64(n - 1)}
	for i := range s.pos {
		s.pos[i] = -1
	}
	for i, h := range hs {
		j := h & s.mask
		for s.pos[j] >= 0 {
			j = (j + 1) & s.mask
		}
		s.keys[j], s.pos[j] = h, int32(i)
	}
	return s
}

// find returns h's position, -1 if absent.
func (s *hashSet) find(h uint64) int32 {
	for j := h & s.mask; ; j = (j + 1) & s.mask {
		p := s.pos[j]
		if p < 0 || s.keys[j] == h {
			return p
		}
	}
}
