package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/imigee/imigee/test/testnet"
	"github.com/imigee/imigee/test/testnet/procs"
)

// Client time-outs: each bounds one request, reading its answer included.
const (
	// CallTimeout bounds hello, stop and control requests: 1 min.
	CallTimeout = time.Minute
	// StatsCallTimeout bounds a relay stats request, which the runner
	// makes every sample: 15 s.
	StatsCallTimeout = 15 * time.Second
	// StartCallTimeout bounds creating or starting a relay or node: 2 min.
	StartCallTimeout = 2 * time.Minute
	// CloseTimeout bounds close, which stops every process of the run:
	// 10 min.
	CloseTimeout = 10 * time.Minute
	// EventIdleTimeout ends an event stream that sent nothing, not even a
	// heartbeat, for this long: 3 heartbeats (30 s). The client then
	// reconnects; the worker kept the events.
	EventIdleTimeout = 3 * HeartbeatInterval
	// reconnectDelay is the pause before reconnecting the event stream: 1 s.
	reconnectDelay = time.Second
)

// Client is a procs.Worker served by "imigee-testnet worker" at Addr.
type Client struct {
	// Addr is the worker's host:port.
	Addr string
	// Token is the shared secret; empty for a worker without one.
	Token string
	// Log receives the client's logs; nil discards them.
	Log *slog.Logger

	mu       sync.Mutex // guards capacity
	capacity int
}

var _ procs.Worker = (*Client)(nil)

// Name implements procs.Worker.
func (c *Client) Name() string { return c.Addr }

// Capacity implements procs.Worker: what the worker's hello said, or 1.
func (c *Client) Capacity() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.capacity, 1)
}

// Hello asks the worker its protocol version and capacity.
func (c *Client) Hello(ctx context.Context) (HelloResult, error) {
	r := c.remote(nil)
	defer r.http.CloseIdleConnections()
	var h HelloResult
	if err := r.call(ctx, OpHello, &Request{}, &h, CallTimeout); err != nil {
		return h, err
	}
	if h.Version != Version {
		return h, fmt.Errorf("%w: worker %d, controller %d", ErrVersion, h.Version, Version)
	}
	c.mu.Lock()
	c.capacity = h.Capacity
	c.mu.Unlock()
	return h, nil
}

// Open implements procs.Worker: hello, open a run and follow its events.
func (c *Client) Open(ctx context.Context, emit func(procs.NodeEvent)) (procs.Machine, error) {
	if _, err := c.Hello(ctx); err != nil {
		return nil, err
	}
	r := c.remote(emit)
	var o OpenResult
	if err := r.call(ctx, OpOpen, &Request{}, &o, CallTimeout); err != nil {
		r.http.CloseIdleConnections()
		return nil, err
	}
	r.run = o.Run
	ectx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.followEvents(ectx)
	return r, nil
}

func (c *Client) remote(emit func(procs.NodeEvent)) *remote {
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &remote{c: c, log: log, emit: emit, base: "http://" + c.Addr + PathPrefix,
		http: &http.Client{Transport: &http.Transport{MaxResponseHeaderBytes: MaxHeaderBytes, MaxIdleConnsPerHost: 8}},
		done: make(chan struct{})}
}

// remote is the procs.Machine of one run on a worker.
type remote struct {
	c    *Client
	log  *slog.Logger
	emit func(procs.NodeEvent)
	base string
	http *http.Client
	run  string

	cancel    context.CancelFunc // ends followEvents
	done      chan struct{}      // closed when followEvents returned
	closeOnce sync.Once
	closeErr  error
}

var _ procs.Machine = (*remote)(nil)

// call POSTs req to op and decodes the answer into out.
func (r *remote) call(ctx context.Context, op string, req *Request, out any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req.Run = r.run
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("worker %s %s: %w", r.c.Addr, op, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+op, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("worker %s %s: %w", r.c.Addr, op, err)
	}
	r.authorize(hr)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(hr)
	if err != nil {
		return fmt.Errorf("worker %s %s: %w", r.c.Addr, op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return fmt.Errorf("worker %s %s: %w", r.c.Addr, op, err)
	}
	if err := DecodeResponse(resp.StatusCode, b, out); err != nil {
		return fmt.Errorf("worker %s %s: %w", r.c.Addr, op, err)
	}
	return nil
}

func (r *remote) authorize(hr *http.Request) {
	if r.c.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.c.Token)
	}
}

func (r *remote) CreateRelay(ctx context.Context, i int) ([]string, error) {
	var a AddrsResult
	err := r.call(ctx, OpRelayCreate, &Request{I: i}, &a, StartCallTimeout)
	return a.Addrs, err
}

func (r *remote) StartRelay(ctx context.Context, i int, spec procs.RelaySpec) error {
	return r.call(ctx, OpRelayStart, &Request{I: i, Relay: &spec}, nil, StartCallTimeout)
}

func (r *remote) StopRelay(ctx context.Context, i int) error {
	return r.call(ctx, OpRelayStop, &Request{I: i}, nil, CallTimeout)
}

func (r *remote) RelayStats(ctx context.Context, i int) (testnet.RelayStats, error) {
	var st testnet.RelayStats
	err := r.call(ctx, OpRelayStats, &Request{I: i}, &st, StatsCallTimeout)
	return st, err
}

func (r *remote) CreateNode(ctx context.Context, i int, spec procs.NodeSpec) (string, error) {
	var id IDResult
	err := r.call(ctx, OpNodeCreate, &Request{I: i, Node: &spec}, &id, StartCallTimeout)
	return id.ID, err
}

func (r *remote) StartNode(ctx context.Context, i int) error {
	return r.call(ctx, OpNodeStart, &Request{I: i}, nil, StartCallTimeout)
}

func (r *remote) StopNode(ctx context.Context, i int) error {
	return r.call(ctx, OpNodeStop, &Request{I: i}, nil, CallTimeout)
}

func (r *remote) Control(ctx context.Context, i int, c procs.Command) (json.RawMessage, error) {
	var res ControlResult
	err := r.call(ctx, OpNodeControl, &Request{I: i, Command: &c}, &res, CallTimeout)
	return res.Result, err
}

func (r *remote) SharePhoto(ctx context.Context, i int, size int, to []string) (string, error) {
	var id IDResult
	err := r.call(ctx, OpNodeShare, &Request{I: i, Size: size, To: to}, &id, CallTimeout)
	return id.ID, err
}

// Close closes the run on the worker (stopping its processes), then ends
// the event stream. Events the worker had to drop make it an error.
func (r *remote) Close() error {
	r.closeOnce.Do(func() {
		var res CloseResult
		err := r.call(context.Background(), OpClose, &Request{}, &res, CloseTimeout)
		r.cancel()
		<-r.done
		r.http.CloseIdleConnections()
		if err == nil && res.DroppedEvents > 0 {
			err = fmt.Errorf("worker %s: dropped %d node events (the controller read too slowly)", r.c.Addr, res.DroppedEvents)
		}
		r.closeErr = err
	})
	return r.closeErr
}

// followEvents reads the run's event stream until ctx ends, reconnecting
// when it breaks. It is owned by the remote: Close stops it.
func (r *remote) followEvents(ctx context.Context) {
	defer close(r.done)
	for {
		err := r.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrNoRun) || errors.Is(err, ErrUnauthorized) {
			r.log.Warn("worker event stream ended", "worker", r.c.Addr, "err", err)
			return
		}
		r.log.Debug("worker event stream broke; reconnecting", "worker", r.c.Addr, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(reconnectDelay):
		}
	}
}

// stream reads one connection of the event stream.
func (r *remote) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(EventIdleTimeout, cancel)
	defer idle.Stop()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+OpEvents+"?run="+url.QueryEscape(r.run), nil)
	if err != nil {
		return fmt.Errorf("worker %s events: %w", r.c.Addr, err)
	}
	r.authorize(hr)
	resp, err := r.http.Do(hr)
	if err != nil {
		return fmt.Errorf("worker %s events: %w", r.c.Addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
		return fmt.Errorf("worker %s events: %w", r.c.Addr, DecodeResponse(resp.StatusCode, b, nil))
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := readLine(br, MaxEventLine)
		if err != nil {
			return fmt.Errorf("worker %s events: %w", r.c.Addr, err)
		}
		idle.Reset(EventIdleTimeout)
		e, err := DecodeEvent(line)
		if err != nil {
			return fmt.Errorf("worker %s events: %w", r.c.Addr, err)
		}
		if e != nil && r.emit != nil {
			r.emit(*e)
		}
	}
}

// readLine reads one line of at most max bytes (newline excluded).
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max+1 {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrBadResponse, max)
		}
		line = append(line, frag...)
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}
