package node

// The in-memory index of the device's history: which epochs have a record
// and whether each is settled (acknowledged live, or announced late or
// given up on). This file owns it; the records themselves are history.go's.
//
// lateDue runs at every epoch turn and used to decrypt and decode every
// record of the history to find the few unsettled ones: with the default
// 7-day window up to about a thousand records every 10 minutes on a phone,
// quadratic over a day in the simulated network. Settled is final (Live and
// Late are only ever set), so once the index is read, lateDue opens only
// the records of epochs not yet known settled, and a repeated live
// announcement in an epoch already settled writes nothing.

import "slices"

// historyIndex returns the index, reading the whole history once per run
// of the node. The caller must not modify the map it gets (a copy).
func (n *Node) historyIndex() map[uint64]bool {
	n.mu.Lock()
	if n.histIdx != nil {
		idx := make(map[uint64]bool, len(n.histIdx))
		for e, s := range n.histIdx {
			idx[e] = s
		}
		n.mu.Unlock()
		return idx
	}
	gen := n.histGen
	n.mu.Unlock()
	idx := map[uint64]bool{}
	for _, r := range n.historyRecs() {
		idx[r.E] = r.Live || r.Late
	}
	n.mu.Lock()
	// A write that committed while the scan ran may be missing from it:
	// keep the index unset, so the next call reads again.
	if n.histGen == gen && n.histIdx == nil {
		n.histIdx = make(map[uint64]bool, len(idx))
		for e, s := range idx {
			n.histIdx[e] = s
		}
	}
	n.mu.Unlock()
	return idx
}

// historySettled reports whether the index, once read, knows epoch as
// settled (false when it does not, or is not read yet).
func (n *Node) historySettled(epoch uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.histIdx[epoch]
}

// noteHistory records in the index that epochs were written, with whether
// each is now settled (a settled epoch stays settled). Called with n.mu
// held, after the write committed.
func (n *Node) noteHistory(settled map[uint64]bool) {
	n.histGen++
	if n.histIdx == nil {
		return
	}
	for e, s := range settled {
		n.histIdx[e] = n.histIdx[e] || s
	}
}

// dropHistory removes epochs from the index. Called with n.mu held, after
// the delete committed.
func (n *Node) dropHistory(epochs []uint64) {
	n.histGen++
	for _, e := range epochs {
		delete(n.histIdx, e)
	}
}

// unsettledEpochs are the index's epochs in [from, to) not known settled,
// in order.
func unsettledEpochs(idx map[uint64]bool, from, to uint64) []uint64 {
	var out []uint64
	for e, settled := range idx {
		if !settled && e >= from && e < to {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}
