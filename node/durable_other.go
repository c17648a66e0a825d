//go:build !linux

package node

import "os"

// syncData makes f durable (fsync; F_FULLFSYNC on Darwin through os).
func syncData(f *os.File) error { return f.Sync() }

// openDirect: direct writes are a Linux path here; elsewhere received
// chunks go through the page cache (partWriter falls back).
func openDirect(string) (*os.File, error) { return nil, errNoDirect }
