//go:build linux

package node

import (
	"os"

	"golang.org/x/sys/unix"
)

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
