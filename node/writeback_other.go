//go:build !linux

package node

import "os"

// startWriteback is a no-op where sync_file_range does not exist; the fsync
// at the end of a transfer does all the work.
func startWriteback(*os.File) {}
