//go:build !linux

package node

import "os"

// startWriteback is a no-op where sync_file_range does not exist: the
// final sync then writes the whole file.
func startWriteback(f *os.File, off, n int64) {}

// syncData makes f durable (fsync; F_FULLFSYNC on Darwin through os).
func syncData(f *os.File) error { return f.Sync() }
