//go:build !linux

package node

import "os"

// syncData makes f durable (fsync; F_FULLFSYNC on Darwin through os).
func syncData(f *os.File) error { return f.Sync() }
