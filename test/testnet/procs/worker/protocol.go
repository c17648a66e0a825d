package worker

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/imigee/imigee/test/testnet"
	"github.com/imigee/imigee/test/testnet/procs"
)

// Version is the controller-worker protocol version; hello answers it and
// a client refuses a worker with another.
const Version = 1

// Operations: each is POST PathPrefix+op with a JSON Request body, except
// OpEvents, a GET that streams events.
const (
	PathPrefix    = "/v1/"
	OpHello       = "hello"
	OpOpen        = "open"
	OpClose       = "close"
	OpRelayCreate = "relay/create"
	OpRelayStart  = "relay/start"
	OpRelayStop   = "relay/stop"
	OpRelayStats  = "relay/stats"
	OpNodeCreate  = "node/create"
	OpNodeStart   = "node/start"
	OpNodeStop    = "node/stop"
	OpNodeControl = "node/control"
	OpNodeShare   = "node/share"
	OpEvents      = "events"
)

// Limits of the protocol. Both sides enforce them on what they read.
const (
	// MaxRequestBody caps a request body: 1 MiB (relay/start with 1,000
	// relays' peers is about 220 KB).
	MaxRequestBody = 1 << 20
	// MaxResponseBody caps a response body: 1 MiB.
	MaxResponseBody = 1 << 20
	// MaxEventLine caps one line of the event stream: 64 KiB.
	MaxEventLine = 64 << 10
	// MaxIndex bounds relay and node indices: 100,000 (the scenario's
	// node limit).
	MaxIndex = 100_000
	// MaxAddrLen caps one multiaddr: 512 bytes.
	MaxAddrLen = 512
	// MaxPeers caps a relay's gossip peers: 4,096 multiaddrs.
	MaxPeers = 4096
	// MaxNodeRelays caps a node's relays: 16.
	MaxNodeRelays = 16
	// MaxIDLen caps a friend or item ID: 256 bytes.
	MaxIDLen = 256
	// MaxText caps a message text: 16 KiB (the node's own limit).
	MaxText = 16 << 10
	// MaxValue caps a command's value: 64 bytes.
	MaxValue = 64
	// MaxRecipients caps a share's recipients: 1,024.
	MaxRecipients = 1024
	// MaxErrorLen caps an error text in an event or response: 4 KiB.
	MaxErrorLen = 4 << 10
	// runIDLen is the length of a run ID: 32 hex digits.
	runIDLen = 32
	// minEpoch and maxEpoch bound an epoch: 1 min to 24 h, the
	// scenario's and the relay's range.
	minEpoch = 60
	maxEpoch = 86400
	// HeartbeatInterval is how often an idle event stream sends an empty
	// line: 10 s.
	HeartbeatInterval = 10 * time.Second
)

// Request is the body of every POST. Only the fields its op needs are
// set; Run names the run (from open) for every op but hello and open.
type Request struct {
	Run     string           `json:"run,omitempty"`
	I       int              `json:"i"`
	Relay   *procs.RelaySpec `json:"relay,omitempty"`
	Node    *procs.NodeSpec  `json:"node,omitempty"`
	Command *procs.Command   `json:"command,omitempty"`
	Size    int              `json:"size,omitempty"`
	To      []string         `json:"to,omitempty"`
}

// HelloResult answers hello.
type HelloResult struct {
	Version  int `json:"version"`
	Capacity int `json:"capacity"`
}

// OpenResult answers open.
type OpenResult struct {
	Run string `json:"run"`
}

// CloseResult answers close.
type CloseResult struct {
	// DroppedEvents counts node events lost because the controller did
	// not read them fast enough (EventBuffer).
	DroppedEvents int64 `json:"dropped_events"`
}

// AddrsResult answers relay/create.
type AddrsResult struct {
	Addrs []string `json:"addrs"`
}

// IDResult answers node/create (the node's friend ID) and node/share
// (the item ID).
type IDResult struct {
	ID string `json:"id"`
}

// ControlResult answers node/control with the node's result object.
type ControlResult struct {
	Result json.RawMessage `json:"result,omitempty"`
}

// errorBody is the body of every non-200 answer.
type errorBody struct {
	Error string `json:"error"`
}

// Errors of the protocol.
var (
	// ErrBadRequest is a request that does not decode or validate.
	ErrBadRequest = errors.New("worker: bad request")
	// ErrBadResponse is an answer or event that does not decode or
	// validate.
	ErrBadResponse = errors.New("worker: bad response")
	// ErrUnauthorized is a missing or wrong token.
	ErrUnauthorized = errors.New("worker: unauthorized")
	// ErrNoRun is a request for a run that is not the worker's current
	// one (never opened, closed, or replaced by another open).
	ErrNoRun = errors.New("worker: no such run")
	// ErrVersion is a worker speaking another protocol version.
	ErrVersion = errors.New("worker: protocol version mismatch")
	// ErrNoToken refuses to serve without a token on a non-loopback
	// address: a worker starts processes for whoever asks.
	ErrNoToken = errors.New("worker: a token is required unless listening on loopback")
)

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// DecodeRequest decodes and checks the body of op. Unknown fields,
// trailing data and values out of their limits are errors.
func DecodeRequest(op string, body []byte) (*Request, error) {
	if len(body) > MaxRequestBody {
		return nil, badRequest("body larger than %d bytes", MaxRequestBody)
	}
	var r Request
	if err := decodeStrict(body, &r); err != nil {
		return nil, badRequest("%v", err)
	}
	if err := r.validate(op); err != nil {
		return nil, err
	}
	return &r, nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

func (r *Request) validate(op string) error {
	switch op {
	case OpHello, OpOpen:
		return nil
	case OpClose, OpRelayCreate, OpRelayStart, OpRelayStop, OpRelayStats,
		OpNodeCreate, OpNodeStart, OpNodeStop, OpNodeControl, OpNodeShare:
	default:
		return badRequest("unknown op %q", op)
	}
	if err := checkRunID(r.Run); err != nil {
		return err
	}
	if r.I < 0 || r.I >= MaxIndex {
		return badRequest("index %d not in [0, %d)", r.I, MaxIndex)
	}
	switch op {
	case OpRelayStart:
		if r.Relay == nil {
			return badRequest("relay/start without relay")
		}
		if err := checkEpoch(r.Relay.EpochSeconds); err != nil {
			return err
		}
		return checkStrings("peer", r.Relay.Peers, 0, MaxPeers, MaxAddrLen)
	case OpNodeCreate:
		if r.Node == nil {
			return badRequest("node/create without node")
		}
		if err := checkEpoch(r.Node.EpochSeconds); err != nil {
			return err
		}
		return checkStrings("relay", r.Node.Relays, 1, MaxNodeRelays, MaxAddrLen)
	case OpNodeControl:
		return checkCommand(r.Command)
	case OpNodeShare:
		if r.Size < 0 || r.Size > procs.MaxShareSize {
			return badRequest("size %d not in [0, %d]", r.Size, procs.MaxShareSize)
		}
		return checkStrings("recipient", r.To, 1, MaxRecipients, MaxIDLen)
	}
	return nil
}

func checkRunID(id string) error {
	if len(id) != runIDLen {
		return badRequest("run ID of %d characters, want %d", len(id), runIDLen)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return badRequest("run ID not hex")
	}
	return nil
}

func checkEpoch(s int) error {
	if s < minEpoch || s > maxEpoch {
		return badRequest("epoch %d s not in [%d, %d]", s, minEpoch, maxEpoch)
	}
	return nil
}

func checkStrings(what string, xs []string, lo, hi, maxLen int) error {
	if len(xs) < lo || len(xs) > hi {
		return badRequest("%d %ss, want %d to %d", len(xs), what, lo, hi)
	}
	for _, x := range xs {
		if x == "" || len(x) > maxLen {
			return badRequest("%s of %d bytes, want 1 to %d", what, len(x), maxLen)
		}
	}
	return nil
}

func checkCommand(c *procs.Command) error {
	if c == nil {
		return badRequest("node/control without command")
	}
	switch c.Cmd {
	case procs.CmdInvite, procs.CmdLink, procs.CmdAutoAccept, procs.CmdLocate, procs.CmdMessage:
	default:
		return badRequest("command %q not allowed", c.Cmd)
	}
	switch {
	case len(c.Friend) > MaxIDLen:
		return badRequest("friend of %d bytes", len(c.Friend))
	case len(c.Text) > MaxText:
		return badRequest("text of %d bytes", len(c.Text))
	case len(c.Value) > MaxValue:
		return badRequest("value of %d bytes", len(c.Value))
	case !finite(c.Lat, c.Lng, c.Accuracy) || math.Abs(c.Lat) > 90 || math.Abs(c.Lng) > 180 || c.Accuracy < 0:
		return badRequest("position out of range")
	}
	return nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// DecodeResponse decodes an answer of status with body into out (nil to
// ignore the body of a 200). A non-200 answer gives an error wrapping the
// sentinel its status stands for.
func DecodeResponse(status int, body []byte, out any) error {
	if len(body) > MaxResponseBody {
		return fmt.Errorf("%w: body larger than %d bytes", ErrBadResponse, MaxResponseBody)
	}
	if status != 200 {
		var e errorBody
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			e.Error = fmt.Sprintf("status %d", status)
		}
		msg := truncate(e.Error, MaxErrorLen)
		switch status {
		case 400:
			return fmt.Errorf("%w: %s", ErrBadRequest, msg)
		case 401:
			return ErrUnauthorized
		case 409:
			return fmt.Errorf("%w: %s", ErrNoRun, msg)
		}
		return fmt.Errorf("worker: %s", msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	return checkResult(out)
}

// checkResult applies the limits to a decoded result.
func checkResult(out any) error {
	var err error
	switch r := out.(type) {
	case *HelloResult:
		if r.Capacity < 0 {
			err = fmt.Errorf("capacity %d", r.Capacity)
		}
	case *OpenResult:
		err = checkRunID(r.Run)
	case *AddrsResult:
		err = checkStrings("addr", r.Addrs, 1, MaxNodeRelays, MaxAddrLen)
	case *IDResult:
		err = checkStrings("id", []string{r.ID}, 1, 1, MaxIDLen)
	case *CloseResult:
		if r.DroppedEvents < 0 {
			err = fmt.Errorf("dropped %d", r.DroppedEvents)
		}
	case *testnet.RelayStats, *ControlResult:
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	return nil
}

// DecodeEvent decodes one line of the event stream; an empty line is a
// heartbeat (nil, nil).
func DecodeEvent(line []byte) (*procs.NodeEvent, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, nil
	}
	if len(line) > MaxEventLine {
		return nil, fmt.Errorf("%w: event line larger than %d bytes", ErrBadResponse, MaxEventLine)
	}
	var e procs.NodeEvent
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, fmt.Errorf("%w: event: %v", ErrBadResponse, err)
	}
	if e.Node < 0 || e.Node >= MaxIndex || e.Event == "" || len(e.Event) > MaxValue ||
		len(e.Friend) > MaxIDLen || len(e.Item) > MaxIDLen || len(e.Via) > MaxValue || len(e.Err) > MaxErrorLen || e.Total < 0 {
		return nil, fmt.Errorf("%w: event out of range", ErrBadResponse)
	}
	return &e, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
