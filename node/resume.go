package node

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/imigee/imigee/node/localstore"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Receiving side of resume: one transfer per item at a time, a pull of
// every unfinished accepted item when its sender is seen again (a restart
// of either side, including a kill in the middle of a transfer), and a
// sweep of part files nothing refers to.

// claimRecv reserves item id for one receiving stream; false if another
// stream (an offer, a resume pull) is receiving it now.
func (n *Node) claimRecv(id string) bool {
	n.xf.mu.Lock()
	defer n.xf.mu.Unlock()
	if n.xf.receiving[id] {
		return false
	}
	if n.xf.receiving == nil {
		n.xf.receiving = map[string]bool{}
	}
	n.xf.receiving[id] = true
	return true
}

func (n *Node) releaseRecv(id string) {
	n.xf.mu.Lock()
	delete(n.xf.receiving, id)
	n.xf.mu.Unlock()
}

// errBusy answers a second stream for an item already being received.
var errBusy = &proto.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "transfer in progress"}

// resumeFrom pulls every accepted, unfinished item from friend f that no
// stream is receiving now (pull skips the others): f was just seen (a Hello on a new transport
// ID), so its sender side can serve a Resume.
func (n *Node) resumeFrom(f *friend) {
	var ids []string
	_ = n.store.ForEach(localstore.Incoming, func(v []byte) error {
		var r inRec
		if json.Unmarshal(v, &r) == nil && r.From == f.id && r.State == StateReceiving {
			ids = append(ids, r.ID)
		}
		return nil
	})
	for _, id := range ids {
		// pull claims the item (claimRecv) and returns at once if a
		// stream is receiving it.
		n.spawn(func(ctx context.Context) { n.pull(ctx, id) })
	}
}

// sweepParts deletes part files in the media directory that no incoming
// record names: an auto-accepted transfer cut before its first resume
// point (its record was never stored) leaves one.
//
// The order makes a transfer ending meanwhile safe: a part file listed
// first was made after its transfer claimed the item (claimRecv), so the
// transfer is either still claimed when the claims are read, or it
// released the item after its last resume point was stored (or after
// delivery renamed the file), which the store read after that sees.
func (n *Node) sweepParts() {
	ents, err := os.ReadDir(n.media)
	if err != nil {
		return
	}
	known := map[string]bool{}
	n.xf.mu.Lock()
	for id := range n.xf.receiving {
		known[id+".part"] = true
	}
	n.xf.mu.Unlock()
	_ = n.store.ForEach(localstore.Incoming, func(v []byte) error {
		var r inRec
		if json.Unmarshal(v, &r) == nil {
			known[filepath.Base(r.Part)] = true
		}
		return nil
	})
	removeUnknown(n.media, ents, ".part", known)
}

// removeUnknown deletes the files of dir (listed in ents) whose names end
// in suffix and are not in known.
func removeUnknown(dir string, ents []os.DirEntry, suffix string, known map[string]bool) {
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) && !known[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// sweepSealed deletes pending sealed copies (DataDir/outbox/*.sealed) that
// no outbox record names: a finished item's copy is removed after its
// record is committed (updateRecip), so a crash in between
// leaves one, which would keep sealed content of a delivered item on the
// phone. The directory is listed before the store is read, and a record
// is committed before its copy is made (shareSource), so a copy listed
// here of a live item always finds its record.
func (n *Node) sweepSealed() {
	ents, err := os.ReadDir(n.outdir)
	if err != nil {
		return
	}
	live := map[string]bool{}
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		if it, err := decodeOut(v); err == nil && it.Sealed != "" {
			live[filepath.Base(it.Sealed)] = true
		}
		return nil
	})
	removeUnknown(n.outdir, ents, ".sealed", live)
}

// recoverPlaced finishes deliveries a crash cut after the part file's
// rename and before the delivery record's commit. The rename follows the
// data sync and is the transfer's commit point (placeIncoming); the
// receipt may have gone out after it and the sender dropped its copy, so
// the file under its final name is the item. Without this a resume pull
// would recreate an empty part file, fill only the chunks the stored
// resume point lacks and rename it over the whole file.
func (n *Node) recoverPlaced() {
	var done []*inRec
	_ = n.store.ForEach(localstore.Incoming, func(v []byte) error {
		var r inRec
		if json.Unmarshal(v, &r) != nil || r.State != StateReceiving || r.Part == "" {
			return nil
		}
		if _, err := os.Lstat(r.Part); !errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if st, err := os.Lstat(n.finalPath(&r)); err == nil && st.Mode().IsRegular() && st.Size() == r.Meta.Size {
			done = append(done, &r)
		}
		return nil
	})
	for _, r := range done {
		via := r.Via
		if via == "" {
			via = ViaDirect
		}
		if err := n.deliverIncoming(r, n.finalPath(r), via); err != nil {
			n.log.Warn("finishing a received item at start", "err", err)
		}
	}
}
