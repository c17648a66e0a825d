package node

import (
	"fmt"
	"os"

	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// partWriter is the receiving worker of one transfer: it opens chunks,
// writes their plaintext into the part file in runs of up to writeRun
// bytes (one write call per run instead of one per chunk), starts the
// disk writes of finished ranges while later chunks are in flight
// (writeback), reports progress, and persists the resume point every
// persistEvery chunks after a data sync. It owns r while it runs.
type partWriter struct {
	n     *Node
	r     *inRec
	f     *os.File
	key   *crypto.StreamKey
	total int64

	plain []byte // the current run of contiguous plaintext
	start int64  // offset of plain in the file
	next  int64  // chunk index that would extend the run
	wb    writeback
	prog  progress
	dirty int // chunks since the last persisted resume point
}

// writeRun is the largest run of chunks written with one call: 1 MiB.
const writeRun = 1 << 20

func newPartWriter(n *Node, r *inRec, f *os.File, key *crypto.StreamKey) *partWriter {
	return &partWriter{n: n, r: r, f: f, key: key, total: key.ChunkCount(r.Meta.Size),
		plain: make([]byte, 0, max(writeRun, int(key.ChunkSize))), next: -1,
		wb: writeback{f: f, skip: n.cfg.NoSync}, prog: progress{last: r.Count * int64(key.ChunkSize)}}
}

// chunk opens sealed chunk i and adds it to the part file.
func (w *partWriter) chunk(i int64, sealed []byte) error {
	cs := int64(w.key.ChunkSize)
	if i != w.next || len(w.plain)+int(cs) > cap(w.plain) {
		if err := w.flush(); err != nil {
			return err
		}
		w.start = i * cs
	}
	p, last, err := w.key.OpenChunk(w.plain, uint32(i), sealed)
	if err != nil || last != (i == w.total-1) {
		return fmt.Errorf("node: chunk does not open: %w", ErrPeer)
	}
	w.plain, w.next = p, i+1
	r := w.r
	r.set(i)
	if w.prog.step(r.Count*cs, r.Count == w.total) {
		w.n.emit(&Event{Kind: EventReceiveProgress, FriendID: r.From, ItemID: r.ID, Type: r.Meta.Type,
			Done: min(r.Count*cs, r.Meta.Size), Total: r.Meta.Size})
	}
	if w.dirty++; w.dirty >= persistEvery && r.Count < w.total {
		if err := w.persist(); err != nil {
			return err
		}
		if r.State == StateRejected {
			return &proto.Error{Code: pb.ErrorCode_REJECTED, Detail: "rejected"}
		}
	}
	return nil
}

// flush writes the current run.
func (w *partWriter) flush() error {
	if len(w.plain) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.plain, w.start); err != nil {
		return fmt.Errorf("node: part file: %w", err)
	}
	w.wb.wrote(w.start, int64(len(w.plain)))
	w.plain, w.next = w.plain[:0], -1
	return nil
}

// persist makes the chunks written so far durable, then records them.
func (w *partWriter) persist() error {
	w.dirty = 0
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.n.syncPart(w.f); err != nil {
		return err
	}
	return w.n.mergeIn(w.r)
}

// finish ends the transfer: when whole, the file is made durable (the
// receipt may follow); when cut short, the resume point is kept.
func (w *partWriter) finish(failed error) error {
	if failed == nil && w.r.Count == w.total {
		if err := w.flush(); err != nil {
			return err
		}
		return w.n.syncPart(w.f)
	}
	if w.dirty > 0 {
		_ = w.persist() // keep the resume point of a broken transfer
	}
	return failed
}
