package node

// The device's own history (issue 10): for every epoch in which the device
// announced, or would have announced had a relay been reachable, the cells
// token derivation needs (per precision level: the here cell and the near
// cells), never coordinates. It lives in the encrypted local store (bucket
// localstore.History) for Config.History.Window (default 7 days, at most
// 30), is pruned once a day and wiped by Forget. Late announcements
// (late.go) are made from it, and a friend's claim of a late meeting is
// checked against it.
//
// Past tokens also need past proximity day keys: once a day the node
// advances every friend's pair keys to the first day of the window, so
// the forward secrecy of proximity tokens is the history window (and
// nothing older can be recomputed, even by a thief of the device).

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/node/relayclient"
	proto "github.com/imigee/imigee/protocol"
)

// maxCellSetsPerEpoch caps the positions kept for one epoch (the device
// moved within it): 4.
const maxCellSetsPerEpoch = 4

// historyLevels are the cell levels of the precisions that announce, in
// the order of proxState.cells.
var historyLevels = []int{PrecisionClose.level(), PrecisionCasual.level()}

// cellSet is one position's cells at one level.
type cellSet struct {
	L int      // level
	H uint64   // here cell
	N []uint64 `json:",omitempty"` // near cells
}

// historyRec is one epoch of the device's own history.
type historyRec struct {
	E    uint64      // epoch
	S    [][]cellSet // positions, each with its cells at every level
	Live bool        `json:",omitempty"` // a relay acknowledged the live announcement
	Late bool        `json:",omitempty"` // announced late (or given up on)
}

func historyKey(epoch uint64) string { return "e" + strconv.FormatUint(epoch, 10) }

// historyOn reports whether the device keeps a history.
func (n *Node) historyOn() bool { return n.cfg.History.window() > 0 }

// cellsAt returns the cells of a position at every history level.
func (n *Node) cellsAt(lat, lng float64) []cellSet {
	cells := geo.Cells
	if n.cfg.CellRule != nil {
		cells = n.cfg.CellRule
	}
	out := make([]cellSet, 0, len(historyLevels))
	for _, l := range historyLevels {
		h, near := cells(lat, lng, l)
		out = append(out, cellSet{L: l, H: h, N: near})
	}
	return out
}

// recordHistory adds the position loc to epoch's history (nothing if it is
// already there, or the epoch holds maxCellSetsPerEpoch positions).
func (n *Node) recordHistory(epoch uint64, loc *location) {
	if !n.historyOn() || loc == nil {
		return
	}
	n.recordCells(epoch, n.cellsAt(loc.lat, loc.lng))
}

// recordCells is recordHistory with the position's cells (cellsAt)
// already computed.
func (n *Node) recordCells(epoch uint64, set []cellSet) {
	if !n.historyOn() || epoch < n.historyCutEpoch() {
		return // (a tick computed before the clock moved on)
	}
	key := [2]uint64{epoch, set[0].H}
	n.mu.Lock()
	known := n.histLast == key
	n.mu.Unlock()
	if known {
		return
	}
	n.histMu.Lock()
	defer n.histMu.Unlock()
	if c := n.histCur; c == nil || c.E != epoch || canAddCellSet(c, set) {
		// Not known to change nothing (the position kept, or the epoch
		// full): read (unless cached), add, store.
		var r historyRec
		err := n.store.Update(func(tx *localstore.Tx) error {
			if c := n.histCur; c != nil && c.E == epoch {
				r = *c
			} else {
				r = historyRec{E: epoch}
				if b, err := tx.Get(localstore.History, historyKey(epoch)); err == nil {
					if err := json.Unmarshal(b, &r); err != nil {
						return err
					}
				}
			}
			if !canAddCellSet(&r, set) {
				return nil
			}
			r.S = append(r.S, set)
			b, _ := json.Marshal(r)
			return tx.Put(localstore.History, historyKey(epoch), b)
		})
		if err != nil {
			n.histCur = nil
			n.log.Warn("history not recorded", "err", err)
			return
		}
		n.histCur = &r
	}
	// Only once it is stored: a caller racing this one must not skip
	// before the commit. A record of the current epoch cannot be due for a
	// late announcement (lateDue takes past epochs only) and the next
	// epoch makes lateTick read the history anyway, so only a record of a
	// past epoch (a tick computed before the clock moved on) marks it
	// dirty. Marking every new cell set dirty made a moving phone decode
	// its whole history (up to a week of epochs) at every cell change.
	past := epoch < n.epochNow()
	n.mu.Lock()
	n.histLast = key
	n.noteHistory(map[uint64]bool{epoch: false})
	n.lateDirty = n.lateDirty || past
	n.mu.Unlock()
}

// canAddCellSet reports whether recordCells would add set to r: no
// position of r has its here cell, and r holds fewer than
// maxCellSetsPerEpoch.
func canAddCellSet(r *historyRec, set []cellSet) bool {
	if len(r.S) >= maxCellSetsPerEpoch {
		return false
	}
	for _, s := range r.S {
		if len(s) > 0 && s[0].H == set[0].H {
			return false
		}
	}
	return true
}

// updateHistory changes the records of epochs with fn (absent ones are
// skipped) in one commit.
func (n *Node) updateHistory(epochs []uint64, fn func(r *historyRec)) error {
	n.histMu.Lock()
	defer n.histMu.Unlock()
	n.histCur = nil
	settled := map[uint64]bool{}
	err := n.store.Update(func(tx *localstore.Tx) error {
		clear(settled) // a retried transaction starts over
		for _, e := range epochs {
			b, err := tx.Get(localstore.History, historyKey(e))
			if err != nil {
				continue
			}
			var r historyRec
			if err := json.Unmarshal(b, &r); err != nil {
				continue
			}
			fn(&r)
			nb, _ := json.Marshal(r)
			if err := tx.Put(localstore.History, historyKey(e), nb); err != nil {
				return err
			}
			settled[e] = r.Live || r.Late
		}
		return nil
	})
	if err == nil {
		n.mu.Lock()
		n.noteHistory(settled)
		n.mu.Unlock()
	}
	return err
}

// historyRecs returns the whole history, oldest epoch first.
func (n *Node) historyRecs() []historyRec {
	var out []historyRec
	_ = n.store.ForEach(localstore.History, func(v []byte) error {
		var r historyRec
		if json.Unmarshal(v, &r) == nil {
			out = append(out, r)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b historyRec) int { return cmp.Compare(a.E, b.E) })
	return out
}

func (n *Node) historyAt(epoch uint64) (historyRec, bool) {
	var r historyRec
	b, err := n.store.Get(localstore.History, historyKey(epoch))
	if err != nil || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

// historyCutEpoch is the first epoch inside the history window.
func (n *Node) historyCutEpoch() uint64 {
	cut := n.cfg.Now().Add(-n.cfg.History.window()).Unix()
	if cut < 0 {
		return 0
	}
	return uint64(cut) / uint64(n.cfg.EpochSeconds)
}

// historyDay is the day every friend's pair keys are advanced to: the
// first day of the history window (less the clock-skew margin).
func (n *Node) historyDay() uint32 {
	return uint32(n.cfg.Now().Add(-n.cfg.History.window()-clockSkew).Unix() / 86400)
}

// pruneHistory drops history records older than the window, meetings
// likewise, and advances every friend's pair keys to the window's first
// day (erasing older proximity keys). Called once a day from the loop.
func (n *Node) pruneHistory() {
	cut := n.historyCutEpoch()
	var drop []uint64
	for _, r := range n.historyRecs() {
		if r.E < cut || !n.historyOn() {
			drop = append(drop, r.E)
		}
	}
	if len(drop) > 0 {
		n.histMu.Lock()
		n.histCur = nil
		err := n.store.Update(func(tx *localstore.Tx) error {
			for _, e := range drop {
				if err := tx.Delete(localstore.History, historyKey(e)); err != nil {
					return err
				}
			}
			return nil
		})
		n.histMu.Unlock()
		n.mu.Lock()
		if err == nil {
			n.dropHistory(drop)
		} else {
			n.histIdx = nil // some may be gone: read again
			n.histGen++
		}
		n.mu.Unlock()
	}
	n.pruneMeetings()
	n.pruneClaims(cut)
	day := n.historyDay()
	for _, f := range n.friendList() {
		if f.keys.ProximityDay() >= day {
			continue
		}
		if err := f.keys.Advance(day); err != nil {
			continue
		}
		if err := n.saveFriend(f); err != nil {
			n.log.Warn("advanced pair keys not saved", "err", err)
		}
	}
}

// maybePruneHistory runs pruneHistory once per UTC day.
func (n *Node) maybePruneHistory() {
	day := n.today()
	n.mu.Lock()
	due := n.histPruned != day
	n.histPruned = day
	n.mu.Unlock()
	if due {
		n.pruneHistory()
	}
}

// forgetKey returns the device's history forget key, making it on first
// use. Forget sends its per-epoch secrets to the relays, then the wipe
// takes it.
func (n *Node) forgetKey() (*[32]byte, error) {
	const name = "history-forget-key"
	var k [32]byte
	b, err := n.store.Get(localstore.Settings, name)
	if err == nil && len(b) == 32 {
		copy(k[:], b)
		return &k, nil
	}
	n.histKeyMu.Lock()
	defer n.histKeyMu.Unlock()
	if b, err := n.store.Get(localstore.Settings, name); err == nil && len(b) == 32 {
		copy(k[:], b)
		return &k, nil
	}
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	if err := n.store.Put(localstore.Settings, name, k[:]); err != nil {
		return nil, fmt.Errorf("node: store forget key: %w", err)
	}
	return &k, nil
}

// forgetTag is the tag sent with epoch's announcements (live and late).
func (n *Node) forgetTag(epoch uint64) []byte {
	k, err := n.forgetKey()
	if err != nil {
		return nil
	}
	s := crypto.HistoryForgetSecret(k, epoch)
	t := crypto.HistoryForgetTag(s[:])
	return t[:]
}

// offlineRecorder records history at every epoch boundary while the
// device has no network (NetworkNone), since the loop that normally does
// it is stopped with networking. It ends when stop is closed.
func (n *Node) offlineRecorder(stop <-chan struct{}) {
	for {
		if loc := n.announcing(); loc != nil {
			n.recordHistory(n.epochNow(), loc)
		}
		t := time.NewTimer(n.untilNextEpoch())
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// forgetHistory erases this device's announcements from relay c's history
// (and, by the relay's gossip, its network's): the forget secret of every
// epoch in the device's history, in batches. It reveals that those
// epochs' tags were one device's, which no longer matters once it leaves.
func (n *Node) forgetHistory(ctx context.Context, c *relayclient.Client) error {
	k, err := n.forgetKey()
	if err != nil {
		return err
	}
	var secrets []relayclient.ForgetSecret
	for _, r := range n.historyRecs() {
		if r.Live || r.Late {
			secrets = append(secrets, relayclient.ForgetSecret{Epoch: r.E, Secret: crypto.HistoryForgetSecret(k, r.E)})
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	rv, err := c.Rendezvous(ctx, nil)
	if err != nil {
		return err
	}
	defer rv.Close()
	for len(secrets) > 0 {
		batch := secrets[:min(len(secrets), proto.MaxForgetSecrets)]
		secrets = secrets[len(batch):]
		if _, err := rv.HistoryForget(ctx, batch); err != nil {
			if errors.Is(err, proto.ErrUnsupported) {
				return nil // the relay keeps no history
			}
			return err
		}
	}
	return nil
}
