package procs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// hostNode is one "imigee run" process on its data directory.
type hostNode struct {
	h    *Host
	i    int
	dir  string
	args []string

	mu sync.Mutex // guards p and id
	p  *proc
	id string
}

// CreateNode implements Machine.
func (h *Host) CreateNode(ctx context.Context, i int, spec NodeSpec) (id string, err error) {
	if err := h.reserve(false, i); err != nil {
		return "", err
	}
	n := &hostNode{h: h, i: i}
	defer func() { h.settle(false, i, n, err) }()
	dir := filepath.Join(h.cfg.Dir, fmt.Sprintf("node-%05d", i))
	args := []string{"init", "-data-dir", dir}
	for _, a := range spec.Relays {
		args = append(args, "-relay", a)
	}
	cmd := exec.CommandContext(ctx, h.imigee, args...)
	cmd.Stderr = h.cfg.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("procs: imigee init node %d: %w", i, err)
	}
	n.dir, n.args = dir, []string{"run", "-data-dir", dir, "-json", "-auto-accept",
		"-epoch", strconv.Itoa(spec.EpochSeconds),
		"-listen", fmt.Sprintf("/%s/%s/udp/0/quic-v1", h.ipProto, h.listenIP),
		"-listen", fmt.Sprintf("/%s/%s/tcp/0", h.ipProto, h.listenIP)}
	if err := n.start(ctx); err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id, nil
}

// StartNode implements Machine.
func (h *Host) StartNode(ctx context.Context, i int) error {
	n, err := h.node(i)
	if err != nil {
		return err
	}
	return n.start(ctx)
}

// StopNode implements Machine.
func (h *Host) StopNode(_ context.Context, i int) error {
	n, err := h.node(i)
	if err != nil {
		return err
	}
	return n.Stop()
}

func (n *hostNode) start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p != nil {
		return nil
	}
	if n.h.isClosed() {
		return ErrClosed
	}
	started := make(chan string, 1)
	p, err := start(n.h.imigee, n.args, func(r io.Reader) { n.readEvents(r, started) }, n.h.cfg.Stderr)
	if err != nil {
		return err
	}
	select {
	case id := <-started:
		if n.id == "" {
			n.id = id
		}
	case <-p.done:
		return fmt.Errorf("procs: node %d exited at start (see its stderr)", n.i)
	case <-time.After(StartTimeout):
		_ = p.stop()
		return fmt.Errorf("procs: node %d not started within %v", n.i, StartTimeout)
	case <-ctx.Done():
		_ = p.stop()
		return fmt.Errorf("procs: node %d start: %w", n.i, ctx.Err())
	}
	n.p = p
	n.h.cfg.Log.Debug("node started", "node", n.i)
	return nil
}

// eventLine is one line of "imigee run -json".
type eventLine struct {
	Event  string `json:"event"`
	ID     string `json:"id"`
	Friend string `json:"friend"`
	Item   string `json:"item"`
	Total  int64  `json:"total"`
	Via    string `json:"via"`
	Err    string `json:"err"`
}

// readEvents passes the node's events on until its stdout closes; the
// first "started" event gives its friend ID.
func (n *hostNode) readEvents(r io.Reader, started chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	for sc.Scan() {
		var e eventLine
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Event == "started" {
			select {
			case started <- e.ID:
			default:
			}
			continue
		}
		n.h.cfg.Emit(NodeEvent{Node: n.i, Event: e.Event, Friend: e.Friend, Item: e.Item, Total: e.Total, Via: e.Via, Err: e.Err})
	}
	_, _ = io.Copy(io.Discard, r)
}

// Stop stops the node process; its data stays.
func (n *hostNode) Stop() error {
	n.mu.Lock()
	p := n.p
	n.p = nil
	n.mu.Unlock()
	return p.stop()
}

// Control implements Machine.
func (h *Host) Control(ctx context.Context, i int, c Command) (json.RawMessage, error) {
	switch c.Cmd {
	case CmdInvite, CmdLink, CmdAutoAccept, CmdLocate, CmdMessage:
	default:
		return nil, fmt.Errorf("%w: %q", ErrCommand, c.Cmd)
	}
	n, err := h.node(i)
	if err != nil {
		return nil, err
	}
	return n.control(ctx, c)
}

// SharePhoto implements Machine.
func (h *Host) SharePhoto(ctx context.Context, i int, size int, to []string) (string, error) {
	if size < 0 || size > MaxShareSize {
		return "", fmt.Errorf("procs: node %d share: size %d not in [0, %d]", i, size, MaxShareSize)
	}
	n, err := h.node(i)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(h.cfg.Dir, "item-*.jpg")
	if err != nil {
		return "", fmt.Errorf("procs: node %d share: %w", i, err)
	}
	path := f.Name() // kept until the run's directory goes: the node seals it in the background
	_, err = io.CopyN(f, rand.Reader, int64(size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("procs: node %d share: %w", i, err)
	}
	res, err := n.control(ctx, struct {
		Cmd  string   `json:"cmd"`
		Path string   `json:"path"`
		To   []string `json:"to"`
	}{"share", path, to})
	if err != nil {
		return "", err
	}
	var item struct {
		Item string `json:"item"`
	}
	if err := json.Unmarshal(res, &item); err != nil {
		return "", fmt.Errorf("procs: node %d share: %w", i, err)
	}
	return item.Item, nil
}

// control sends one request over the node's control socket.
func (n *hostNode) control(ctx context.Context, req any) (json.RawMessage, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", filepath.Join(n.dir, "control.sock"))
	if err != nil {
		return nil, fmt.Errorf("procs: node %d control: %w", n.i, err)
	}
	defer c.Close()
	deadline := time.Now().Add(CommandTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetDeadline(deadline)
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("procs: node %d control: %w", n.i, err)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("procs: node %d control: %w", n.i, err)
	}
	line, err := bufio.NewReader(io.LimitReader(c, maxControlResponse)).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("procs: node %d control: %w", n.i, err)
	}
	var resp struct {
		OK     bool            `json:"ok"`
		Error  string          `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("procs: node %d control: %w", n.i, err)
	}
	if !resp.OK {
		return nil, fmt.Errorf("procs: node %d: %w", n.i, &CommandError{Msg: resp.Error})
	}
	return resp.Result, nil
}

// CommandError is a node's answer refusing a control command; a worker
// passes it on as is.
type CommandError struct{ Msg string }

func (e *CommandError) Error() string { return "node refused: " + e.Msg }
