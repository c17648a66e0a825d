package node

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
)

// TestPartWriterDirectAndBuffered: both write paths of partWriter (direct
// runs where the file system takes O_DIRECT, the page cache otherwise)
// leave the same bytes for chunks that arrive in order, with a gap filled
// later (a resume), and a last chunk that ends off the 4 KiB alignment;
// the resume point stored midway names only chunks on disk. On a file
// system without direct writes the direct case checks the fallback.
func TestPartWriterDirectAndBuffered(t *testing.T) {
	key, err := crypto.NewStreamKey(rand.Reader, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := key.MarshalBinary()
	size := int64(3*directRun + 5*64<<10 + 1000) // 54 chunks, the last 1000 bytes
	plain := make([]byte, size)
	_, _ = rand.Read(plain)
	total := key.ChunkCount(size)
	seal := func(i int64) []byte {
		end := min((i+1)*64<<10, size)
		c, err := key.SealChunk(nil, uint32(i), i == total-1, plain[i*64<<10:end])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// In order up to 20, a gap to 30, the rest, then the gap.
	var order []int64
	for i := int64(0); i < total; i++ {
		if i < 20 || i >= 30 {
			order = append(order, i)
		}
	}
	for i := int64(20); i < 30; i++ {
		order = append(order, i)
	}
	for _, direct := range []bool{true, false} {
		name := map[bool]string{true: "direct", false: "buffered"}[direct]
		t.Run(name, func(t *testing.T) {
			rig := newFuzzRig(t)
			n := rig.n
			n.noDirect = !direct
			if err := os.MkdirAll(n.media, 0o700); err != nil {
				t.Fatal(err)
			}
			id := "0123456789abcdef0123456789abcdef"
			r := &inRec{ID: id, From: rig.f.id, State: StateReceiving, Meta: offerMeta{Key: kb, Size: size},
				Have: make([]byte, (total+7)/8), Part: filepath.Join(n.media, id+".part")}
			if err := n.putIn(r); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(r.Part, os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := newPartWriter(n, r, f, key)
			if direct && w.df == nil {
				if df, err := openDirect(r.Part); err == nil {
					df.Close()
					t.Fatal("the part file takes O_DIRECT but the writer went through the page cache")
				}
				t.Logf("no direct writes on %s: checking the fallback", n.media)
			}
			if !direct && w.df != nil {
				t.Fatal("direct writes although disabled")
			}
			for k, i := range order {
				if err := w.chunk(i, seal(i)); err != nil {
					t.Fatal(err)
				}
				if k == 40 {
					// A resume point midway, as persistEvery makes one:
					// every chunk it names must be on disk with the sync.
					if err := w.flush(); err != nil {
						t.Fatal(err)
					}
					w.fl.persist(r)
					var stored *inRec
					waitFor(t, 10*time.Second, func() bool {
						stored, err = n.getIn(id)
						return err == nil && stored.Count == 41
					})
					onDisk, _ := os.ReadFile(r.Part)
					for i := int64(0); i < total; i++ {
						lo, hi := i*64<<10, min((i+1)*64<<10, size)
						if stored.has(i) && (int64(len(onDisk)) < hi || !bytes.Equal(onDisk[lo:hi], plain[lo:hi])) {
							t.Fatalf("the stored resume point names chunk %d, not on disk yet", i)
						}
					}
				}
			}
			if err := w.finish(nil); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(r.Part)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("part file differs from the plaintext (%d bytes against %d)", len(got), len(plain))
			}
		})
	}
}

// TestDirectRunFallsBack: a direct write the file system refuses (EINVAL,
// here an unaligned buffer) is written through the page cache instead, and
// so is every later run.
func TestDirectRunFallsBack(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.part")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df, err := openDirect(p)
	if err != nil {
		t.Skipf("no direct writes here: %v", err)
	}
	defer df.Close()
	fl := &flusher{f: f, df: df}
	buf := alignedBuf(2 * directAlign)
	_, _ = rand.Read(buf)
	if _, err := df.WriteAt(buf[1:1+directAlign], 0); err == nil {
		t.Skip("this file system takes unaligned direct writes: no EINVAL to fall back from")
	}
	if err := fl.writeRun(buf[1:1+directAlign], 0); err != nil {
		t.Fatal(err)
	}
	if fl.df != nil {
		t.Fatal("direct descriptor kept after EINVAL")
	}
	if err := fl.writeRun(buf[:directAlign], directAlign); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := append(append([]byte(nil), buf[1:1+directAlign]...), buf[:directAlign]...)
	if !bytes.Equal(got, want) {
		t.Fatal("fallback wrote other bytes")
	}
}
