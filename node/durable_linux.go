//go:build linux

package node

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing the n bytes at off of f
// to the disk without waiting for it (sync_file_range WRITE), so the
// fdatasync at the end of a transfer finds most pages already clean. It
// gives no durability by itself; errors are ignored (the final sync
// reports them).
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// syncData makes f's data and the metadata needed to read it (its size)
// durable: fdatasync, which skips the timestamps fsync would also write.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
