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

// openDirect opens path for writes that bypass the page cache (O_DIRECT):
// buffers, offsets and lengths must be multiples of directAlign.
func openDirect(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
}
