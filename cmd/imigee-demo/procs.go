package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Time-outs of the demo's waits. Generous: a shared machine can be slow,
// and a wait ends as soon as its condition holds.
const (
	startTimeout = 20 * time.Second
	eventTimeout = 30 * time.Second
	cliTimeout   = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// event is one line of "imigee run -json".
type event struct {
	Time   string `json:"time"`
	Event  string `json:"event"`
	ID     string `json:"id"`
	Friend string `json:"friend"`
	Item   string `json:"item"`
	Type   string `json:"type"`
	Text   string `json:"text"`
	Path   string `json:"path"`
	Done   int64  `json:"done"`
	Total  int64  `json:"total"`
	Err    string `json:"err"`
	From   int64  `json:"from"` // friend_was_nearby: the meeting, unix seconds
	To     int64  `json:"to"`
}

// proc is one child process: stdout is read line by line (JSON events for
// nodes, "key value" lines for the relay); stderr goes to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string

	mu      sync.Mutex // guards lines and changed
	lines   []string
	changed chan struct{} // closed and replaced when lines grow or output ends

	done chan struct{} // closed when the process has exited and output is read
}

// startProc starts bin in its own process group (so a Ctrl-C at the
// terminal reaches only the demo, which then stops its children in order).
func startProc(name, logPath, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, changed: make(chan struct{}), done: make(chan struct{})}
	go func() { // owned by p: ends when the child's stdout closes
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		_ = cmd.Wait()
		logf.Close()
		p.mu.Lock()
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// waitLine waits until some stdout line satisfies ok and returns it.
func (p *proc) waitLine(ctx context.Context, timeout time.Duration, what string, ok func(string) bool) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		lines := p.lines[seen:]
		ch := p.changed
		p.mu.Unlock()
		for _, l := range lines {
			if ok(l) {
				return l, nil
			}
		}
		seen += len(lines)
		select {
		case <-ch:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n == seen {
				return "", fmt.Errorf("%s exited while waiting for %s; log %s:\n%s", p.name, what, p.logPath, p.logTail())
			}
		case <-deadline.C:
			return "", fmt.Errorf("%s: no %s within %v; log %s:\n%s", p.name, what, timeout, p.logPath, p.logTail())
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// waitEvent waits for a JSON event of kind with match (nil: any) among
// all events so far, including ones before the call.
func (p *proc) waitEvent(ctx context.Context, kind string, match func(event) bool) (event, error) {
	var got event
	_, err := p.waitLine(ctx, eventTimeout, kind, func(l string) bool {
		var ev event
		if json.Unmarshal([]byte(l), &ev) != nil || ev.Event != kind {
			return false
		}
		if match != nil && !match(ev) {
			return false
		}
		got = ev
		return true
	})
	return got, err
}

// snapshot returns a copy of the stdout lines so far.
func (p *proc) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}

// stop sends SIGTERM, then SIGKILL after stopTimeout, and waits.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exitedOK reports whether the process exited with status 0.
func (p *proc) exitedOK() bool {
	<-p.done
	return p.cmd.ProcessState != nil && p.cmd.ProcessState.Success()
}

// runCLI runs "imigee ARGS" to completion and returns its stdout.
func runCLI(ctx context.Context, bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("imigee %s: %w: %s", strings.Join(args[:1], " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// storeBlobs reads the relay's imigee_relay_store_blobs gauge.
func storeBlobs(ctx context.Context, admin string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "imigee_relay_store_blobs "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, errors.New("relay metrics have no imigee_relay_store_blobs")
}

// waitBlobs polls the relay until cond(blobs) holds.
func waitBlobs(ctx context.Context, admin string, what string, cond func(int) bool) (int, error) {
	deadline := time.Now().Add(eventTimeout)
	for {
		n, err := storeBlobs(ctx, admin)
		if err == nil && cond(n) {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, fmt.Errorf("relay: %s not reached within %v (blobs %d, err %v)", what, eventTimeout, n, err)
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settledBlobs returns the relay's blob count once it has not changed for
// half a second (an item is posted as several blobs).
func settledBlobs(ctx context.Context, admin string) (int, error) {
	last, since := -1, time.Now()
	deadline := time.Now().Add(eventTimeout)
	for time.Now().Before(deadline) {
		n, err := storeBlobs(ctx, admin)
		if err != nil {
			return 0, err
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= 500*time.Millisecond {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last, nil
}

// findBin returns dir/name if it is an executable file.
func findBin(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s not found in %s (run \"make build\" first, or pass -bin-dir)", name, dir)
	}
	return p, nil
}
