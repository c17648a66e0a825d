package node

import (
	"os"
	"path/filepath"
	"runtime"
)

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
