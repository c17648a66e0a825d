package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// searchChunk is how much of a file or memory region is read at a time.
const searchChunk = 1 << 20

// SearchFile reports whether needle occurs anywhere in the file at path.
func SearchFile(path string, needle []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return searchReaderAt(f, 0, -1, needle)
}

// searchReaderAt scans [off, end) of r (end < 0: to EOF) in chunks that
// overlap by len(needle)-1 so a match across a chunk border is found.
func searchReaderAt(r io.ReaderAt, off, end int64, needle []byte) (bool, error) {
	if len(needle) == 0 {
		return false, fmt.Errorf("e2e: empty needle")
	}
	buf := make([]byte, searchChunk+len(needle)-1)
	keep := 0
	for end < 0 || off < end {
		want := int64(searchChunk)
		if end >= 0 && end-off < want {
			want = end - off
		}
		n, err := r.ReadAt(buf[keep:keep+int(want)], off)
		if n > 0 {
			if bytes.Contains(buf[:keep+n], needle) {
				return true, nil
			}
			off += int64(n)
			tail := len(needle) - 1
			if keep+n < tail {
				tail = keep + n
			}
			copy(buf, buf[keep+n-tail:keep+n])
			keep = tail
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// MemRegion is one readable mapping of a process.
type MemRegion struct {
	Start, End uint64
	Perms      string
	Name       string
}

// ReadableRegions parses /proc/PID/maps and returns the readable mappings
// other than the kernel's special ones (vvar, vsyscall), which cannot be
// read through /proc/PID/mem.
func ReadableRegions(pid int) ([]MemRegion, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []MemRegion
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		r := MemRegion{Start: start, End: end, Perms: fields[1]}
		if len(fields) >= 6 {
			r.Name = fields[5]
		}
		if !strings.HasPrefix(r.Perms, "r") || strings.HasPrefix(r.Name, "[vvar") || r.Name == "[vsyscall]" {
			continue
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// MemSearch is the result of SearchProcessMemory.
type MemSearch struct {
	Found       bool
	Regions     int    // readable regions scanned
	BytesRead   uint64 // total bytes read
	Unreadable  int    // regions the kernel refused (EIO), skipped
	FoundRegion MemRegion
}

// SearchProcessMemory reads every readable mapping of the live process pid
// through /proc/PID/mem and reports whether needle occurs in any of them:
// heap (including freed, not yet reused memory), stacks, the binary's data
// and any mmapped file such as a bbolt database. The process keeps
// running; its memory may change during the scan, which is why callers
// assert quiescence first (no requests in flight).
func SearchProcessMemory(pid int, needle []byte) (MemSearch, error) {
	var res MemSearch
	regions, err := ReadableRegions(pid)
	if err != nil {
		return res, err
	}
	mem, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
	if err != nil {
		return res, err
	}
	defer mem.Close()
	for _, r := range regions {
		found, err := searchReaderAt(mem, int64(r.Start), int64(r.End), needle)
		if err != nil {
			res.Unreadable++
			continue
		}
		res.Regions++
		res.BytesRead += r.End - r.Start
		if found {
			res.Found, res.FoundRegion = true, r
			return res, nil
		}
	}
	return res, nil
}

// RequireProcMem skips t unless /proc/self/mem is readable (Linux).
func RequireProcMem(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process memory search needs Linux /proc")
	}
	if _, err := os.Stat("/proc/self/mem"); err != nil {
		t.Skip("no /proc/self/mem")
	}
}

// ProcStatusKB reads one "kB" field of /proc/PID/status (VmRSS, VmHWM,
// RssAnon, ...), in KiB.
func ProcStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("e2e: proc status: %w", err)
	}
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("e2e: no %s in /proc/%d/status", field, pid)
}
