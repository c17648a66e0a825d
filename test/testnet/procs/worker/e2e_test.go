package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imigee/imigee/test/testnet"
)

// syncBuffer is a bytes.Buffer for a process's stderr read by the test.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWorker runs "imigee-testnet worker" on 127.0.0.1, port 0, and
// returns its address once it prints it.
func startWorker(t *testing.T, bin, token string) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(filepath.Join(bin, "imigee-testnet"), "worker", "--listen", "127.0.0.1:0",
		"--token-file", token, "--advertise", "127.0.0.1", "--dir", t.TempDir(), "-v",
		"--imigee", filepath.Join(bin, "imigee"), "--imigee-relay", filepath.Join(bin, "imigee-relay"))
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("worker exit: %v\n%s", err, logs)
			}
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("worker ignored SIGTERM")
		}
	})
	addr := make(chan string, 1)
	go func() { // ends when the worker's stdout closes (it exits)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "imigee-testnet worker: listening on "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, out)
		exited <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		return a, logs
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not start:\n%s", logs)
		return "", nil
	}
}

// TestTwoWorkers runs the controller and two workers as processes of the
// real binaries on 127.0.0.1: relays and nodes are split over the
// workers, the friends 49 m apart on different workers and relays are
// detected by both, nothing false, every item arrives (node 3's after it
// returns from offline), and relay metrics come back through the workers.
func TestTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes for 25 s")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "github.com/imigee/imigee/cmd/imigee",
		"github.com/imigee/imigee/cmd/imigee-relay", "github.com/imigee/imigee/cmd/imigee-testnet")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("e2e-shared-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, logsA := startWorker(t, bin, token)
	b, logsB := startWorker(t, bin, token)

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctl := exec.CommandContext(ctx, filepath.Join(bin, "imigee-testnet"), "run", filepath.Join("testdata", "two.toml"),
		"--mode", "procs", "--workers", a+","+b, "--token-file", token, "--out", out, "--quiet", "--no-plots")
	var ctlOut syncBuffer
	ctl.Stdout, ctl.Stderr = &ctlOut, &ctlOut
	if err := ctl.Run(); err != nil {
		t.Fatalf("controller: %v\n%s\nworker A:\n%s\nworker B:\n%s", err, ctlOut.String(), logsA, logsB)
	}
	t.Logf("controller:\n%s", ctlOut.String())

	// Placement: relay 0 and nodes 0, 2 on A; relay 1 and nodes 1, 3 on B.
	for w, logs := range map[string]*syncBuffer{"A": logsA, "B": logsB} {
		want := map[string][]int{"A": {0, 2}, "B": {1, 3}}[w]
		for i := range 4 {
			re := regexp.MustCompile(fmt.Sprintf(`msg="node started" node=%d\b`, i))
			if got, should := re.MatchString(logs.String()), i == want[0] || i == want[1]; got != should {
				t.Errorf("worker %s: node %d started here: %v, want %v", w, i, got, should)
			}
		}
	}

	raw, err := os.ReadFile(filepath.Join(out, testnet.FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	var sum testnet.Summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	testnet.CheckTwoFriends(t, &sum, "two workers")
}
