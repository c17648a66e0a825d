package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
)

// crashChildEnv switches the test binary into the crash child: it opens the
// store at the path in the variable and writes until it is killed.
const crashChildEnv = "IMIGEE_STORE_CRASH_CHILD"

const (
	crashWriters = 64
	crashCycles  = 4
	// crashAcksPerCycle: the parent kills the child once this many puts
	// were acknowledged, so every cycle kills it mid-stream.
	crashAcksPerCycle = 1500
)

// crashChild runs crashWriters goroutines that Put random blobs into 8
// mailboxes and print "mailbox id sha256" for every acknowledged put, one
// write(2) per line (atomic on a pipe), so a line on stdout means "durable".
func crashChild(path string) {
	cfg := DefaultConfig(path)
	s, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	var mboxes [8]crypto.MailboxID
	for i := range mboxes {
		mboxes[i] = randMailbox()
	}
	var mu sync.Mutex
	for range crashWriters {
		go func() {
			for {
				m := mboxes[rand.IntN(len(mboxes))]
				data := randData(1 + rand.IntN(4096))
				id, _, err := s.Put(context.Background(), m, data)
				if err != nil {
					fmt.Fprintln(os.Stderr, "crash child: put:", err)
					os.Exit(3)
				}
				sum := sha256.Sum256(data)
				line := fmt.Sprintf("%x %x %x\n", m[:], id[:], sum[:])
				mu.Lock()
				os.Stdout.WriteString(line)
				mu.Unlock()
			}
		}()
	}
	select {} // until SIGKILL
}

type ackedBlob struct {
	mbox crypto.MailboxID
	id   BlobID
	sum  [32]byte
}

func parseAcked(line string) (ackedBlob, bool) {
	var a ackedBlob
	f := strings.Fields(line)
	if len(f) != 3 {
		return a, false
	}
	for i, dst := range [][]byte{a.mbox[:], a.id[:], a.sum[:]} {
		b, err := hex.DecodeString(f[i])
		if err != nil || len(b) != len(dst) {
			return a, false
		}
		copy(dst, b)
	}
	return a, true
}

// TestCrashKill9 kills a real writer process with SIGKILL while 64
// goroutines are putting, reopens the file and checks that every put the
// child acknowledged is present and intact; several cycles on one file.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	var all []ackedBlob
	for cycle := range crashCycles {
		acked := runCrashChild(t, path)
		if len(acked) == 0 {
			t.Fatalf("cycle %d: child acknowledged nothing", cycle)
		}
		all = append(all, acked...)

		cfg := DefaultConfig(path)
		cfg.SweepInterval = -1
		s, err := Open(cfg)
		if err != nil {
			t.Fatalf("cycle %d: reopen after kill -9: %v", cycle, err)
		}
		for _, a := range all {
			b, ok, err := s.Get(a.mbox, a.id)
			if err != nil || !ok {
				t.Fatalf("cycle %d: acknowledged blob %x missing (%v)", cycle, a.id, err)
			}
			if sha256.Sum256(b.Data) != a.sum {
				t.Fatalf("cycle %d: acknowledged blob %x corrupted", cycle, a.id)
			}
		}
		if err := s.Check(); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		st := s.Stats()
		t.Logf("cycle %d: %d acknowledged this cycle, %d in file (%d acknowledged in all)",
			cycle, len(acked), st.Blobs, len(all))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runCrashChild starts the child on path, kills it with SIGKILL once it has
// acknowledged crashAcksPerCycle puts, and returns what it acknowledged.
func runCrashChild(t *testing.T, path string) []ackedBlob {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []ackedBlob
	enough := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := parseAcked(sc.Text()); ok {
				acked = append(acked, a)
				if len(acked) == crashAcksPerCycle {
					close(enough)
				}
			}
		}
	}()
	select {
	case <-enough:
	case <-readDone:
	case <-time.After(2 * time.Minute): // a hang guard, not a timing assertion
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-readDone // every line written before the kill is in the pipe
	cmd.Wait()
	if cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("child exited by itself (%v): %s", cmd.ProcessState, stderr.String())
	}
	return acked
}
