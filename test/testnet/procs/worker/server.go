package worker

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imigee/imigee/test/testnet/procs"
)

// Limits of the server.
const (
	// EventBuffer is how many node events a worker keeps for a controller
	// that is not reading: 65,536. Past it events are dropped and counted
	// (CloseResult.DroppedEvents).
	EventBuffer = 65536
	// MaxConcurrentRequests caps requests handled at once: 64; more get
	// 503.
	MaxConcurrentRequests = 64
	// ReadHeaderTimeout bounds reading a request's headers: 10 s.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request: 30 s.
	ReadTimeout = 30 * time.Second
	// IdleTimeout closes idle keep-alive connections: 2 min.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes caps request headers: 16 KiB.
	MaxHeaderBytes = 16 << 10
	// writeTimeout bounds writing an answer once it is ready: 30 s.
	writeTimeout = 30 * time.Second
	// opTimeout bounds handling one request: 2 min (a node start is at
	// most procs.StartTimeout, "imigee init" included).
	opTimeout = 2 * time.Minute
)

// Config configures a Server.
type Config struct {
	// Token is the shared secret a controller must send (Authorization:
	// Bearer). Empty means none, allowed only on a loopback listener.
	Token string
	// Host is the template of each run's procs.Host: its Dir is the
	// worker's data root (each run gets a fresh subdirectory, removed at
	// close); Emit is set by the server.
	Host procs.HostConfig
	// Capacity is what hello reports (procs.Assign weighs nodes by it);
	// 0 means the number of CPUs.
	Capacity int
	// Log receives the worker's logs; nil discards them.
	Log *slog.Logger
}

// Server serves one machine's processes to a controller. One run at a
// time: an open replaces the current run, stopping its processes.
type Server struct {
	cfg       Config
	tokenHash [32]byte
	srv       *http.Server
	ctx       context.Context // canceled by Shutdown: ends event streams
	cancel    context.CancelFunc
	sem       chan struct{}

	mu  sync.Mutex // guards run
	run *run
}

// run is one controller's run.
type run struct {
	id        string
	dir       string
	host      *procs.Host
	events    chan procs.NodeEvent
	dropped   atomic.Int64
	streaming atomic.Bool       // an events request is being served
	pending   []procs.NodeEvent // taken by a stream that broke before flushing them; owned by the streaming request
	done      chan struct{}     // closed when the run is closed
	log       *slog.Logger
}

// NewServer checks cfg.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Host.Dir == "" {
		return nil, errors.New("worker: no data directory")
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = runtime.NumCPU()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.Token)), ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, MaxConcurrentRequests)}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve accepts controllers on ln until Shutdown; it returns
// http.ErrServerClosed then. Without a token ln must be loopback.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.Token == "" {
		if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
			ln.Close()
			return ErrNoToken
		}
	}
	return s.srv.Serve(ln)
}

// Shutdown stops accepting, ends event streams, waits for requests (until
// ctx ends) and stops the current run's processes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	err := s.srv.Shutdown(ctx)
	s.mu.Lock()
	r := s.run
	s.run = nil
	s.mu.Unlock()
	return errors.Join(err, r.close())
}

func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	h := sha256.Sum256([]byte(tok))
	return ok && subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"worker: encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, procs.ErrCommand), errors.Is(err, procs.ErrExists), errors.Is(err, procs.ErrUnknown):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNoRun), errors.Is(err, procs.ErrClosed):
		status = http.StatusConflict
	}
	writeJSON(w, status, errorBody{Error: truncate(err.Error(), MaxErrorLen)})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: ErrUnauthorized.Error()})
		return
	}
	op, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "worker: no such path"})
		return
	}
	if op == OpEvents && r.Method == http.MethodGet {
		s.serveEvents(w, r)
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "worker: POST only"})
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "worker: busy"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		writeError(w, badRequest("read body: %v", err))
		return
	}
	req, err := DecodeRequest(op, body)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(opTimeout + writeTimeout))
	res, err := s.handle(ctx, op, req)
	if err != nil {
		s.cfg.Log.Debug("worker request failed", "op", op, "err", err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// current returns the run named id.
func (s *Server) current(id string) (*run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil || s.run.id != id {
		return nil, ErrNoRun
	}
	return s.run, nil
}

func (s *Server) handle(ctx context.Context, op string, req *Request) (any, error) {
	switch op {
	case OpHello:
		return HelloResult{Version: Version, Capacity: s.cfg.Capacity}, nil
	case OpOpen:
		return s.open()
	case OpClose:
		s.mu.Lock()
		r := s.run
		if r == nil || r.id != req.Run {
			s.mu.Unlock()
			return nil, ErrNoRun
		}
		s.run = nil
		s.mu.Unlock()
		err := r.close()
		return CloseResult{DroppedEvents: r.dropped.Load()}, err
	}
	r, err := s.current(req.Run)
	if err != nil {
		return nil, err
	}
	h := r.host
	switch op {
	case OpRelayCreate:
		addrs, err := h.CreateRelay(ctx, req.I)
		return AddrsResult{Addrs: addrs}, err
	case OpRelayStart:
		return struct{}{}, h.StartRelay(ctx, req.I, *req.Relay)
	case OpRelayStop:
		return struct{}{}, h.StopRelay(ctx, req.I)
	case OpRelayStats:
		return h.RelayStats(ctx, req.I)
	case OpNodeCreate:
		id, err := h.CreateNode(ctx, req.I, *req.Node)
		return IDResult{ID: id}, err
	case OpNodeStart:
		return struct{}{}, h.StartNode(ctx, req.I)
	case OpNodeStop:
		return struct{}{}, h.StopNode(ctx, req.I)
	case OpNodeControl:
		res, err := h.Control(ctx, req.I, *req.Command)
		return ControlResult{Result: res}, err
	case OpNodeShare:
		id, err := h.SharePhoto(ctx, req.I, req.Size, req.To)
		return IDResult{ID: id}, err
	}
	return nil, badRequest("unknown op %q", op)
}

// open replaces the current run with a new one.
func (s *Server) open() (any, error) {
	var b [runIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("worker: run ID: %w", err)
	}
	r := &run{id: hex.EncodeToString(b[:]), events: make(chan procs.NodeEvent, EventBuffer),
		done: make(chan struct{}), log: s.cfg.Log}
	r.dir = filepath.Join(s.cfg.Host.Dir, "run-"+r.id[:8])
	hc := s.cfg.Host
	hc.Dir, hc.Emit, hc.Log = r.dir, r.emit, s.cfg.Log
	h, err := procs.NewHost(hc)
	if err != nil {
		return nil, fmt.Errorf("worker: open: %w", err)
	}
	r.host = h
	s.mu.Lock()
	old := s.run
	s.run = r
	s.mu.Unlock()
	if old != nil {
		s.cfg.Log.Warn("worker: a new run replaces the current one")
		if err := old.close(); err != nil {
			s.cfg.Log.Warn("worker: closing the replaced run", "err", err)
		}
	}
	s.cfg.Log.Info("worker: run opened")
	return OpenResult{Run: r.id}, nil
}

// emit queues an event without ever blocking a node's reader.
func (r *run) emit(e procs.NodeEvent) {
	e.Err = truncate(e.Err, MaxErrorLen)
	select {
	case r.events <- e:
	default:
		if r.dropped.Add(1) == 1 {
			r.log.Warn("worker: event buffer full: dropping events", "buffer", EventBuffer)
		}
	}
}

// close stops the run's processes and removes its data. A nil run is
// closed.
func (r *run) close() error {
	if r == nil {
		return nil
	}
	err := r.host.Close()
	close(r.done)
	if rerr := os.RemoveAll(r.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("worker: remove run data: %w", rerr))
	}
	r.log.Info("worker: run closed", "dropped_events", r.dropped.Load())
	return err
}

// serveEvents streams the run's events, one JSON line each and an empty
// line every HeartbeatInterval, until the client goes, the run closes or
// the server shuts down. One stream per run at a time.
func (s *Server) serveEvents(w http.ResponseWriter, req *http.Request) {
	id := req.URL.Query().Get("run")
	if err := checkRunID(id); err != nil {
		writeError(w, err)
		return
	}
	r, err := s.current(id)
	if err != nil {
		writeError(w, err)
		return
	}
	if !r.streaming.CompareAndSwap(false, true) {
		writeJSON(w, http.StatusConflict, errorBody{Error: "worker: events already streaming"})
		return
	}
	defer r.streaming.Store(false)
	rc := http.NewResponseController(w)
	// ReadTimeout's deadline would otherwise end the stream: net/http's
	// background read fails at it and cancels the request.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/jsonl")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	// Events written but not flushed go back to r.pending if the flush
	// fails, for the next stream.
	batch := r.pending
	r.pending = nil
	flush := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(HeartbeatInterval))
		if bw.Flush() != nil || rc.Flush() != nil {
			r.pending = batch
			return false
		}
		batch = nil
		return true
	}
	for _, e := range batch {
		b, _ := json.Marshal(e)
		bw.Write(append(b, '\n'))
	}
	if !flush() {
		return
	}
	tick := time.NewTicker(HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case e := <-r.events:
			batch = append(batch, e)
			b, _ := json.Marshal(e)
			bw.Write(append(b, '\n'))
			if len(r.events) > 0 && len(batch) < 256 {
				continue // batch what is queued
			}
			if !flush() {
				return
			}
		case <-tick.C:
			bw.WriteByte('\n')
			if !flush() {
				return
			}
		case <-r.done:
			return
		case <-req.Context().Done():
			return
		}
	}
}
