// Package keyfile writes and erases the small secret files that the
// relay's at-rest encryption keeps outside its bbolt files (relay/store's
// day keys, relay/history's epoch keys): a key is written whole or not at
// all and is durable before anything sealed under it commits; erasing it
// overwrites it with zeros, syncs and removes it, so the data sealed under
// it becomes unreadable (crypto-shredding). On flash storage the
// overwritten block may survive in the device's remapping; that bound is
// documented where the keys are used.
package keyfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Write stores raw as dir/name atomically: a temporary file, synced,
// renamed into place, then the directory synced (noSync skips both syncs,
// for tests and benchmarks).
func Write(dir, name string, raw []byte, noSync bool) error {
	tmp, err := os.CreateTemp(dir, "new-*.tmp")
	if err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: a no-op
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("keyfile: %w", err)
	}
	if !noSync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return fmt.Errorf("keyfile: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	return SyncDir(dir, noSync)
}

// SyncDir makes the directory's entries durable (a rename or a removal).
func SyncDir(dir string, noSync bool) error {
	if noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyfile: dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keyfile: dir: %w", err)
	}
	return nil
}

// ZeroRemove overwrites the file at path with zeros, syncs it and removes
// it; a missing file is not an error. The caller syncs the directory.
func ZeroRemove(path string, noSync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		if fi, err := f.Stat(); err == nil {
			zero := make([]byte, min(fi.Size(), 1<<20))
			for off := int64(0); off < fi.Size(); off += int64(len(zero)) {
				n := min(int64(len(zero)), fi.Size()-off)
				if _, err := f.WriteAt(zero[:n], off); err != nil {
					break
				}
			}
		}
		if !noSync {
			_ = f.Sync()
		}
		f.Close()
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("keyfile: erase: %w", err)
	}
	return nil
}
