package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds each wait of a Proc (30 s). Generous: the machine
// is shared and a wait only ends early on success.
const DefaultTimeout = 30 * time.Second

// Proc is one started child process. Its stdout is kept as lines (for
// "peer_id …"/"listen …" announcements); its stderr (the logs) is written
// to LogPath so tests can search it.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string

	mu      sync.Mutex // guards lines and changed
	lines   []string
	changed chan struct{} // closed and replaced whenever lines grows or output ends

	outDone  chan struct{} // stdout reader finished
	waitDone chan struct{} // Cmd.Wait returned
	waitErr  error         // valid after waitDone
}

// Start runs bin with args and registers a cleanup that kills it (if still
// running) and waits for it. Each Start gets its own log file in a fresh
// temp dir.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p, err := StartLog(filepath.Join(t.TempDir(), "stderr.log"), bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	return p
}

// StartLog is Start without testing.TB: logs go to (are appended to)
// logPath. The caller must Kill or Wait.
func StartLog(logPath, bin string, args ...string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("e2e: log file: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	// Own process group: a signal to the test's terminal group does not
	// reach the child twice.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("e2e: stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("e2e: start %s: %w", bin, err)
	}
	p := &Proc{
		Cmd:      cmd,
		LogPath:  logPath,
		changed:  make(chan struct{}),
		outDone:  make(chan struct{}),
		waitDone: make(chan struct{}),
	}
	go p.readStdout(stdout)
	go func() {
		<-p.outDone // Wait closes the pipe: read it to the end first
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.waitDone)
	}()
	return p, nil
}

func (p *Proc) readStdout(r io.Reader) {
	defer close(p.outDone)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Pid is the child's process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Lines returns a copy of the stdout lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// WaitStdout waits until done(lines) is true, the process's stdout ends or
// timeout passes, and returns the lines.
func (p *Proc) WaitStdout(timeout time.Duration, done func(lines []string) bool) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		lines := append([]string(nil), p.lines...)
		ch := p.changed
		p.mu.Unlock()
		if done(lines) {
			return lines, nil
		}
		select {
		case <-p.outDone:
			if lines := p.Lines(); done(lines) {
				return lines, nil
			}
			return lines, fmt.Errorf("e2e: process exited before expected output; log:\n%s", p.LogTail(4096))
		case <-deadline.C:
			return lines, fmt.Errorf("e2e: timed out waiting for output; log:\n%s", p.LogTail(4096))
		case <-ch:
		}
	}
}

// Announced waits for the relay-style announcement (a "peer_id" line and,
// if wantAdmin, an "admin" line after the "listen" lines) and returns the
// values by key: "peer_id", "listen" (possibly several), "admin".
func (p *Proc) Announced(wantAdmin bool) (map[string][]string, error) {
	lines, err := p.WaitStdout(DefaultTimeout, func(ls []string) bool {
		kv := ParseKV(ls)
		if len(kv["peer_id"]) == 0 || len(kv["listen"]) == 0 {
			return false
		}
		return !wantAdmin || len(kv["admin"]) > 0
	})
	if err != nil {
		return nil, err
	}
	return ParseKV(lines), nil
}

// ParseKV splits announcement lines ("key value") into values by key.
func ParseKV(lines []string) map[string][]string {
	kv := map[string][]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, " ")
		if ok {
			kv[k] = append(kv[k], strings.TrimSpace(v))
		}
	}
	return kv
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 if it was killed by a signal).
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.waitDone:
	case <-time.After(timeout):
		return 0, fmt.Errorf("e2e: process %d still running after %v; log:\n%s", p.Pid(), timeout, p.LogTail(4096))
	}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0, nil
	case errors.As(p.waitErr, &ee):
		return ee.ExitCode(), nil
	default:
		return 0, p.waitErr
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.waitDone:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL (if the process is still running) and waits for it.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.waitDone
}

// Log returns the whole log file.
func (p *Proc) Log() []byte {
	b, _ := os.ReadFile(p.LogPath)
	return b
}

// LogTail returns at most the last n bytes of the log.
func (p *Proc) LogTail(n int) string {
	b := p.Log()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Prefer port 0 where the program reports what it bound; this is for the
// cases (a restart that must reuse an address) where it cannot.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitHTTP polls url until it answers status or timeout passes.
func WaitHTTP(url string, status int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for {
		code, err := HTTPStatus(ctx, url)
		if err == nil && code == status {
			return nil
		}
		last = fmt.Sprint(code, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("e2e: %s did not answer %d within %v (last: %s)", url, status, timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// HTTPStatus GETs url and returns the status code.
func HTTPStatus(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// HTTPGet GETs url and returns the body (at most 16 MiB).
func HTTPGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("e2e: GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}
