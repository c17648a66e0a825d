package procs

import (
	"context"
	"encoding/json"

	"github.com/imigee/imigee/test/testnet"
)

// Machine runs the relay and node processes of one run on one computer:
// a Host in this process, or a worker on another machine (package
// test/testnet/procs/worker). Relays and nodes are named by their index
// in the scenario. Methods are safe for concurrent use; a method on an
// index that was not created returns ErrUnknown.
type Machine interface {
	// CreateRelay writes relay i's identity key, picks its ports and
	// returns its multiaddrs (ending in /p2p/ID) as other machines reach
	// it. It does not start the relay.
	CreateRelay(ctx context.Context, i int) ([]string, error)
	// StartRelay writes relay i's config with the scenario's epoch and
	// the other relays as gossip peers, starts the process and waits
	// until it is ready. Starting a running relay does nothing.
	StartRelay(ctx context.Context, i int, spec RelaySpec) error
	// StopRelay stops relay i (SIGTERM, then SIGKILL after StopTimeout).
	StopRelay(ctx context.Context, i int) error
	// RelayStats scrapes relay i's metrics; zero values when it is down.
	RelayStats(ctx context.Context, i int) (testnet.RelayStats, error)
	// CreateNode runs "imigee init" for node i with its relays, starts
	// "imigee run" and returns the node's friend ID.
	CreateNode(ctx context.Context, i int, spec NodeSpec) (string, error)
	// StartNode starts stopped node i again on its data directory.
	StartNode(ctx context.Context, i int) error
	// StopNode stops node i; its data stays.
	StopNode(ctx context.Context, i int) error
	// Control sends one command to node i's control socket and returns
	// the result object (nil when there is none).
	Control(ctx context.Context, i int, c Command) (json.RawMessage, error)
	// SharePhoto makes a random file of size bytes on the machine and
	// shares it from node i to friends to; it returns the item ID.
	SharePhoto(ctx context.Context, i int, size int, to []string) (string, error)
	// Close stops every process of the run and waits for them.
	Close() error
}

// Worker opens Machines: one per run.
type Worker interface {
	// Open starts a run on the machine. Events of the run's nodes are
	// passed to emit (from any goroutine) until the Machine is closed.
	Open(ctx context.Context, emit func(NodeEvent)) (Machine, error)
	// Capacity is how many processes the machine should get relative to
	// others (its CPUs unless configured); at least 1.
	Capacity() int
	// Name labels the machine in logs and errors.
	Name() string
}

// RelaySpec is what a relay's config needs from the scenario.
type RelaySpec struct {
	// EpochSeconds is the rendezvous epoch.
	EpochSeconds int `json:"epoch_seconds"`
	// Peers are the other relays' multiaddrs (gossip peers).
	Peers []string `json:"peers"`
}

// NodeSpec is what "imigee init" and "imigee run" need from the scenario.
type NodeSpec struct {
	// EpochSeconds is the proximity epoch.
	EpochSeconds int `json:"epoch_seconds"`
	// Relays are the node's relay multiaddrs.
	Relays []string `json:"relays"`
}

// Control commands a Machine passes to a node: the subset of the control
// protocol (cmd/imigee's package doc) the backend uses. Others are
// refused, so a worker cannot be made to read or share arbitrary files.
const (
	CmdInvite     = "invite"
	CmdLink       = "link"
	CmdAutoAccept = "auto-accept"
	CmdLocate     = "locate"
	CmdMessage    = "message"
)

// Command is one control request; only the fields its Cmd needs are set.
// It marshals to the node's own request format.
type Command struct {
	Cmd      string  `json:"cmd"`
	Friend   string  `json:"friend,omitempty"`
	Text     string  `json:"text,omitempty"`
	Value    string  `json:"value,omitempty"`
	Lat      float64 `json:"lat,omitempty"`
	Lng      float64 `json:"lng,omitempty"`
	Accuracy float64 `json:"accuracy,omitempty"`
}

// NodeEvent is one event line of a node's "imigee run -json" stream,
// tagged with the node's index. Node keeps the fields the backend reads.
type NodeEvent struct {
	Node   int    `json:"node"`
	Event  string `json:"event"`
	Friend string `json:"friend,omitempty"`
	Item   string `json:"item,omitempty"`
	Total  int64  `json:"total,omitempty"`
	Via    string `json:"via,omitempty"`
	Err    string `json:"err,omitempty"`
}
