package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imigee/imigee/test/testnet"
)

// Limits of process handling.
const (
	// StartTimeout bounds a process becoming ready: 30 s.
	StartTimeout = 30 * time.Second
	// CommandTimeout bounds one control request: 30 s.
	CommandTimeout = 30 * time.Second
	// StopTimeout is how long a process gets after SIGTERM before SIGKILL: 15 s.
	StopTimeout = 15 * time.Second
	// maxEventLine caps one line of a node's -json stream: 1 MiB.
	maxEventLine = 1 << 20
	// maxControlResponse caps a control-socket response: 16 MiB.
	maxControlResponse = 16 << 20
	// maxMetricsBody caps a relay's /metrics page: 16 MiB.
	maxMetricsBody = 16 << 20
	// metricsTimeout bounds one /metrics scrape: 5 s.
	metricsTimeout = 5 * time.Second
)

// newLocalClient is the HTTP client for relays' admin endpoints: no
// keep-alive, so no connection (and no goroutine) outlives a request.
func newLocalClient() *http.Client {
	return &http.Client{Timeout: metricsTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// binary resolves a binary path, or name from PATH when path is empty.
func binary(path, name string) (string, error) {
	if path == "" {
		path = name
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("procs: %s binary: %w", name, err)
	}
	return filepath.Abs(p)
}

// freePort returns a port free on host now ("udp" or "tcp").
func freePort(network, host string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("procs: free udp port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("procs: free tcp port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proc is one running child process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited and its stdout was read
}

// start runs bin; stdout, when set, reads the process's standard output
// on the goroutine that then waits for the process (owned by proc: it
// ends when the process exits).
func start(bin string, args []string, stdout func(io.Reader), stderr io.Writer) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = stderr
	var out io.ReadCloser
	if stdout != nil {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, fmt.Errorf("procs: stdout of %s: %w", filepath.Base(bin), err)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("procs: start %s: %w", filepath.Base(bin), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		if out != nil {
			stdout(out)
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits, then SIGKILL. A nil proc is stopped.
func (p *proc) stop() error {
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("procs: process ignored SIGTERM; killed")
	}
}

// waitReady polls url until it answers 200, the process exits, ctx ends
// or StartTimeout passes.
func waitReady(ctx context.Context, c *http.Client, p *proc, url, what string) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("procs: %s: %w", what, err)
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("procs: %s exited at start (see its stderr)", what)
		case <-ctx.Done():
			return fmt.Errorf("procs: %s start: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("procs: %s not ready within %v", what, StartTimeout)
		}
	}
}

// scrapeRelay reads a relay's Prometheus text endpoint.
func scrapeRelay(ctx context.Context, c *http.Client, url string) (testnet.RelayStats, error) {
	var st testnet.RelayStats
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, fmt.Errorf("procs: relay metrics: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return st, fmt.Errorf("procs: relay metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxMetricsBody))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		if !st.SetMetric(f[0], v) && f[0] == "process_resident_memory_bytes" {
			st.MemoryBytes = int64(v) // the relay is a process of its own
		}
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("procs: relay metrics: %w", err)
	}
	return st, nil
}
