package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Control-socket limits. The socket is reachable only by this user (0600
// in a 0700 directory), but a confused or hostile local program should
// still not be able to make the node allocate or wait without bound.
const (
	// MaxRequestSize caps one request line: 128 KiB. An invite is at most
	// 4 KiB and a message 16 KiB, but JSON escapes a control character as
	// six bytes (\u0001), so the longest message takes up to 96 KiB on the
	// line.
	MaxRequestSize = 128 << 10
	// maxResponseSize caps a response the client reads: 16 MiB.
	maxResponseSize = 16 << 20
	// requestReadTimeout bounds reading one request: 10 s.
	requestReadTimeout = 10 * time.Second
	// responseWriteTimeout bounds writing one response or event: 10 s.
	responseWriteTimeout = 10 * time.Second
	// maxControlConns caps concurrent control connections: 32.
	maxControlConns = 32
	// eventBuffer is how many events a slow "events" subscriber may lag
	// before it is disconnected: 1024.
	eventBuffer = 1024
	// clientCallTimeout bounds a client's whole call (link and forget talk
	// to the network): 90 s.
	clientCallTimeout = 90 * time.Second
)

// request is one control request (one JSON object on one line). Only the
// fields a command needs are set.
type request struct {
	Cmd      string   `json:"cmd"`
	Friend   string   `json:"friend,omitempty"`
	Item     string   `json:"item,omitempty"`
	Text     string   `json:"text,omitempty"`
	Path     string   `json:"path,omitempty"`
	To       []string `json:"to,omitempty"`
	Video    bool     `json:"video,omitempty"`
	Lat      float64  `json:"lat,omitempty"`
	Lng      float64  `json:"lng,omitempty"`
	Accuracy float64  `json:"accuracy,omitempty"`
	Radius   float64  `json:"radius,omitempty"`
	Value    string   `json:"value,omitempty"`
	Taken    int64    `json:"taken,omitempty"` // share-together: capture time, unix seconds
	Since    int64    `json:"since,omitempty"` // meetings: unix seconds
}

// response is the reply to a request (one JSON object on one line).
type response struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// eventJSON is one event as "run -json" prints it and the "events"
// request streams it. It carries no location, cell, distance, key or
// token: node.Event has none to give.
type eventJSON struct {
	Time   string `json:"time"`
	Event  string `json:"event"`
	ID     string `json:"id,omitempty"` // "started": this device's friend ID
	Friend string `json:"friend,omitempty"`
	Item   string `json:"item,omitempty"`
	Type   string `json:"type,omitempty"`
	Text   string `json:"text,omitempty"`
	Path   string `json:"path,omitempty"`
	Done   int64  `json:"done,omitempty"`
	Total  int64  `json:"total,omitempty"`
	Err    string `json:"err,omitempty"`
	Via    string `json:"via,omitempty"` // direct, circuit or mailbox
	// Handle: contact_match, the contact's handle as the local address
	// book has it (this device's own data, shown to its user only).
	Handle string `json:"handle,omitempty"`
	// From and To: friend_was_nearby and share_proposed, the meeting in
	// unix seconds (times only).
	From int64 `json:"from,omitempty"`
	To   int64 `json:"to,omitempty"`
}

// handlerFunc answers one request. A nil result is sent as no result.
type handlerFunc func(ctx context.Context, req *request) (any, error)

// server serves the control socket. Each connection carries one request
// and its response, except "events", which then streams eventJSON lines
// until either side closes.
type server struct {
	ln     net.Listener
	handle handlerFunc
	hub    *hub
	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection

	mu     sync.Mutex        // guards conns and closed
	conns  map[net.Conn]bool // true once its request is being handled
	closed bool
}

// listenControl creates the socket at path with mode 0600, removing a stale
// socket left by a crashed node. It fails if a node answers there.
func listenControl(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, errors.New("another imigee node is already running on this data directory")
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// The umask makes the socket 0600 from the start; chmod for certainty.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func newServer(ln net.Listener, h *hub, handle handlerFunc) *server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{ln: ln, handle: handle, hub: h, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

func (s *server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed || len(s.conns) >= maxControlConns {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = false
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// close stops accepting, cancels running requests (event streams end, and
// link or forget give up), closes connections still sending their request,
// and waits for every connection goroutine. A request being handled still
// gets its response (forget relies on that). It is idempotent.
func (s *server) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c, busy := range s.conns {
		if !busy {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.ln.Close()
	s.wg.Wait()
}

func (s *server) serveConn(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(requestReadTimeout))
	req, err := readRequest(c)
	if err != nil {
		writeResponse(c, nil, err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns[c] = true
	s.mu.Unlock()
	if req.Cmd == "events" {
		s.streamEvents(c)
		return
	}
	res, err := s.handle(s.ctx, req)
	writeResponse(c, res, err)
}

// readRequest reads one newline-terminated JSON request of at most
// MaxRequestSize bytes; unknown fields are an error.
func readRequest(r io.Reader) (*request, error) {
	// readLine copies each fragment before reading the next: ReadSlice's
	// result is only valid until the following read (a request longer than
	// the 4 KiB buffer used to be corrupted by reusing it).
	br := bufio.NewReaderSize(io.LimitReader(r, MaxRequestSize+1), 4096)
	line, err := readLine(br, MaxRequestSize)
	if errors.Is(err, errLineTooLong) {
		return nil, fmt.Errorf("request larger than %d bytes", MaxRequestSize)
	}
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var req request
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	if req.Cmd == "" {
		return nil, errors.New("bad request: no cmd")
	}
	return &req, nil
}

func writeResponse(c net.Conn, res any, err error) {
	var r response
	if err != nil {
		r.Error = err.Error()
	} else {
		r.OK = true
		if res != nil {
			b, merr := json.Marshal(res)
			if merr != nil {
				r = response{Error: merr.Error()}
			} else {
				r.Result = b
			}
		}
	}
	b, _ := json.Marshal(r)
	_ = c.SetWriteDeadline(time.Now().Add(responseWriteTimeout))
	_, _ = c.Write(append(b, '\n'))
}

// streamEvents answers OK, then copies events until the client goes away,
// falls eventBuffer events behind, or the server closes.
func (s *server) streamEvents(c net.Conn) {
	ch, cancel := s.hub.subscribe()
	defer cancel()
	writeResponse(c, nil, nil)
	gone := make(chan struct{})
	go func() { // owned by this connection: ends when c closes
		var b [1]byte
		_, _ = c.Read(b[:])
		close(gone)
	}()
	defer func() { c.Close(); <-gone }()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(ev)
			_ = c.SetWriteDeadline(time.Now().Add(responseWriteTimeout))
			if _, err := c.Write(append(b, '\n')); err != nil {
				return
			}
		case <-gone:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// hub fans events out to "events" subscribers without ever blocking the
// node's event goroutine: a subscriber that falls eventBuffer behind is
// dropped (its channel closed).
type hub struct {
	mu   sync.Mutex // guards subs and next
	subs map[int]chan eventJSON
	next int
}

func newHub() *hub { return &hub{subs: map[int]chan eventJSON{}} }

func (h *hub) subscribe() (<-chan eventJSON, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.next
	h.next++
	ch := make(chan eventJSON, eventBuffer)
	h.subs[id] = ch
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if c, ok := h.subs[id]; ok {
			delete(h.subs, id)
			close(c)
		}
	}
}

func (h *hub) publish(ev eventJSON) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, ch := range h.subs {
		select {
		case ch <- ev:
		default:
			delete(h.subs, id)
			close(ch)
		}
	}
}

// errNotRunning explains what to do when no node answers.
type errNotRunning struct{ dataDir string }

func (e errNotRunning) Error() string {
	return fmt.Sprintf("no imigee node is running for %s; start one with: imigee run -data-dir %s", e.dataDir, e.dataDir)
}

// dialControl connects to the node of dataDir.
func dialControl(dataDir string) (net.Conn, error) {
	p, err := socketPath(dataDir)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("unix", p, 5*time.Second)
	if err != nil {
		if _, kerr := os.Stat(filepath.Join(dataDir, keyFile)); kerr != nil {
			return nil, errNotInitialised
		}
		return nil, errNotRunning{dataDir}
	}
	return c, nil
}

// call sends req to the node of dataDir and decodes the result into out
// (which may be nil).
func call(dataDir string, req *request, out any) error {
	c, err := dialControl(dataDir)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(clientCallTimeout))
	resp, _, err := roundTrip(c, req)
	if err != nil {
		return err
	}
	if out != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}

// roundTrip writes req and reads the response line; the returned reader
// continues after it (for "events").
func roundTrip(c net.Conn, req *request) (*response, *bufio.Reader, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	if len(b) >= MaxRequestSize {
		return nil, nil, fmt.Errorf("request larger than %d bytes", MaxRequestSize)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	line, err := readLine(br, maxResponseSize)
	if err != nil {
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, nil, fmt.Errorf("control socket: bad response: %w", err)
	}
	if !resp.OK {
		return nil, nil, errors.New(resp.Error)
	}
	return &resp, br, nil
}

// errLineTooLong: a line passed readLine's limit.
var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes (the newline counted; a
// last line may end at EOF instead).
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > max {
			return nil, fmt.Errorf("%w: more than %d bytes", errLineTooLong, max)
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}

// subscribeEvents opens an "events" stream; events arrive on the channel
// until the returned close function is called or the node stops.
func subscribeEvents(dataDir string) (<-chan eventJSON, func(), error) {
	c, err := dialControl(dataDir)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(clientCallTimeout))
	_, br, err := roundTrip(c, &request{Cmd: "events"})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	ch := make(chan eventJSON, 64)
	done := make(chan struct{})
	go func() { // owned by the returned close function
		defer close(done)
		defer close(ch)
		for {
			line, err := readLine(br, maxResponseSize)
			if err != nil {
				return
			}
			var ev eventJSON
			if json.Unmarshal(line, &ev) == nil {
				ch <- ev
			}
		}
	}()
	return ch, func() {
		c.Close()
		for range ch { // drain so the reader can finish
		}
		<-done
	}, nil
}
