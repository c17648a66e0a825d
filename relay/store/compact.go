package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Compact copies the store file src into a new file dst, which holds only
// live pages and is therefore as small as the data allows. It is offline
// maintenance (`imigee-relay compact`): no Store may have src open (Compact
// waits up to openLockTimeout for the file lock, then fails). dst must not
// exist; the operator swaps the files afterwards. The copy is checked
// before Compact returns, with the day keys in DefaultKeyDir(src) (the
// copy holds the same sealed values, so the key directory stays as it is
// when the files are swapped).
func Compact(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("store: compact: %s already exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: compact: %w", err)
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	in, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: openLockTimeout})
	if err != nil {
		return fmt.Errorf("store: compact: open %s: %w", src, err)
	}
	defer in.Close()
	out, err := bolt.Open(dst, 0o600, boltOptions(false))
	if err != nil {
		return fmt.Errorf("store: compact: create %s: %w", dst, err)
	}
	if err := bolt.Compact(out, in, compactTxMaxSize); err != nil {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("store: compact %s → %s: %w", src, dst, err)
	}
	keys, err := openKeyring(DefaultKeyDir(src), false)
	if err != nil {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := out.View(func(tx *bolt.Tx) error { return checkFile(tx, keys) }); err != nil {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("store: compact: copy fails check: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("store: compact: close %s: %w", dst, err)
	}
	return nil
}
