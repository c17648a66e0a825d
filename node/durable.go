package node

import (
	"os"
	"path/filepath"
	"runtime"
)

// writebackStep is how many bytes a transfer writes before it asks the
// kernel to start writing them to the disk: 1 MiB. The fsync that must
// precede a receipt then waits only for the last step instead of the
// whole item (on an 8 MiB item that was about a third of the transfer).
const writebackStep = 1 << 20

// writeback starts disk writes of a file while later data is still being
// written (see startWriteback): it tracks the span written since the last
// start and hands each span of writebackStep bytes to start (which may
// run it on another goroutine). Writes mostly arrive in order, so the
// span stays tight.
type writeback struct {
	skip   bool // Config.NoSync
	start  func(off, n int64)
	lo, hi int64
}

func (w *writeback) wrote(off, n int64) {
	if w.skip {
		return
	}
	if w.hi == w.lo {
		w.lo, w.hi = off, off+n
	} else {
		w.lo, w.hi = min(w.lo, off), max(w.hi, off+n)
	}
	if w.hi-w.lo >= writebackStep {
		w.start(w.lo, w.hi-w.lo)
		w.lo = w.hi
	}
}

// progress rate-limits progress events to one per progressStep bytes
// (and the last).
type progress struct{ last int64 }

func (p *progress) step(done int64, final bool) bool {
	if final || done-p.last >= progressStep {
		p.last = done
		return true
	}
	return false
}

// syncDir makes a rename in dir durable (the new name survives a crash).
// Windows cannot open a directory for sync; there it is best effort.
func (n *Node) syncDir(dir string) error {
	if n.cfg.NoSync {
		return nil
	}
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}
