package node

import (
	"errors"
	"unsafe"
)

// Direct writes of received chunks. On Linux a transfer writes its
// plaintext to the part file with O_DIRECT, in aligned runs of directRun
// bytes that its flusher goroutine writes while later chunks arrive, so
// the data reaches the disk during the transfer instead of in one
// fdatasync of the whole file after the last chunk (≈ 5 ms of an 8 MiB
// share's 26 ms here, with the receipt waiting on it). The final
// fdatasync still runs (block allocation and the device's cache) and the
// receipt still follows it. Writing through the page cache and syncing
// finished ranges early (sync_file_range, or fdatasync every few MiB) was
// tried before and lost as much in the data phase as it saved at the end
// (partwriter.go): the kernel's writeback copies ran on the same two
// cores; a direct write copies nothing into the page cache at all.
//
// Runs of whole chunks start at chunk boundaries, so offsets are aligned
// whenever the chunk size is; only the item's last chunk can end off the
// alignment, and that remainder goes through the ordinary descriptor.

// directAlign is the alignment O_DIRECT needs of buffers, offsets and
// lengths: 4 KiB covers 512-byte and 4 KiB logical blocks.
const directAlign = 4096

// directRun is the size of one direct write: 1 MiB.
const directRun = 1 << 20

// directBufsPerTransfer is how many runs a transfer has at once: one
// being filled, one being written, one spare (3 MiB).
const directBufsPerTransfer = 3

// directSem lets one direct write run at a time in the process. A
// direct write blocks its thread for the disk's time (about 1 ms per MiB
// here) and Go hands the thread's P to other goroutines only when sysmon
// notices, so with two Ps two transfers writing at once left the QUIC
// goroutines one P or none (8 MiB to five friends: 0.84–0.86× the raw
// fsynced streams against 0.91× through the page cache). The disk takes
// the writes one after the other anyway. It is held across that one
// disk write on purpose; a disk that stops answering stalls every
// transfer's direct writes, as it would stall their final fdatasync.
var directSem = make(chan struct{}, 1)

// errNoDirect: this platform or file system has no direct writes.
var errNoDirect = errors.New("node: no direct writes here")

// directFree keeps idle run buffers for the next transfer: a sync.Pool
// lost them at every collection, and allocating and zeroing 3 MiB per
// transfer showed up as CPU in the transfers after it. At most
// directIdle (one transfer's worth, 3 MiB: a phone receives one item at
// a time most of the time) stay; more are dropped.
var directFree = make(chan *[]byte, directIdle)

const directIdle = directBufsPerTransfer

func getDirectBuf() *[]byte {
	select {
	case b := <-directFree:
		return b
	default:
		b := alignedBuf(directRun)
		return &b
	}
}

func putDirectBuf(b *[]byte) {
	select {
	case directFree <- b:
	default:
	}
}

// alignedBuf returns n bytes starting at a multiple of directAlign.
func alignedBuf(n int) []byte {
	raw := make([]byte, n+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) & (directAlign - 1)); r != 0 {
		off = directAlign - r
	}
	return raw[off : off+n : off+n]
}

// directOK says whether chunks of size cs can be written directly.
func directOK(cs int64) bool {
	return cs > 0 && cs%directAlign == 0 && (directRun/4)%cs == 0
}
