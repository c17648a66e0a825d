package testnet

import (
	"context"
	"log/slog"
	"time"
)

// Backend builds the network a run drives. Backends are the in-process
// one (package testnet/inproc: real node.Node and relay.Relay in one
// process) and, later, real processes through the imigee CLI.
type Backend interface {
	// Open creates the relays and nodes of env.Scenario, starts the relays,
	// starts every node and makes every pair of env.Graph friends (linking
	// is part of set-up, before virtual time 0 counts). Nodes get the
	// clock env.Now and report their events to env.Emit.
	Open(ctx context.Context, env *Env) (Network, error)
}

// Env is what a backend gets from the runner.
type Env struct {
	Scenario *Scenario
	Graph    *Graph
	// Now is the virtual clock shared by every node and relay.
	Now func() time.Time
	// Emit records an event; safe for concurrent use. The backend fills
	// Kind, Node, Peer, Item (and Size for received items); the runner
	// stamps the virtual time unless T is already set.
	Emit func(Event)
	// Dir is a scratch directory for node and relay data.
	Dir string
	Log *slog.Logger
}

// Network is a running set of nodes and relays.
type Network interface {
	Node(i int) NodeDriver
	Relay(i int) RelayDriver
	// Close stops everything and waits for it.
	Close() error
}

// Settler is a Network that can wait for quiet: Settle returns once
// everything else of the run has nothing left to do at this virtual
// instant (the simulated network under testing/synctest implements it).
// The runner settles before it acts on a step and before it samples, so
// what it sees and does does not depend on goroutine scheduling.
// NetStater is a Network that counts what its links did to packets (the
// simulated network); the runner puts the counts in the summary.
type NetStater interface {
	NetStats() NetworkSummary
}

type Settler interface {
	Settle()
}

// NodeDriver is what the simulator does to one phone.
type NodeDriver interface {
	// Start brings a stopped node back online (same identity and data).
	Start(ctx context.Context) error
	// Stop takes the node offline (the process dies; data stays).
	Stop() error
	// SetLocation feeds the platform position; NaN clears it.
	SetLocation(lat, lng float64) error
	// SetAppOpen tells the node whether the app is in the foreground.
	SetAppOpen(open bool)
	// SetNetwork gives the phone reception (up) or takes it away: the
	// node keeps running and recording its history but has no network
	// (reception.go). The state holds across Stop and Start.
	SetNetwork(up bool) error
	// Share sends one item and returns the node's item ID, which the
	// recipients' "received" events carry too.
	Share(ctx context.Context, spec ShareSpec) (string, error)
	// Stats are the node's cumulative transport counters.
	Stats() NodeStats
}

// ShareSpec is one workload item.
type ShareSpec struct {
	// Size in bytes of the message text or the photo file.
	Size int
	// Message sends a text message (one recipient) instead of a photo.
	Message bool
	// To are recipients (node indices); empty with Nearby means the node's
	// nearby policy picks them.
	To     []int
	Nearby bool
	// Together: a photo taken now, shared by the node's taken-while-together
	// policy (workload policy together); the returned ID is "" when no
	// friend is known to be nearby yet (the photo waits for late meetings).
	Together bool
}

// NodeStats are cumulative bytes on the wire (0 when the backend cannot
// count them).
type NodeStats struct {
	BytesIn, BytesOut int64
}

// RelayDriver is what the simulator does to one relay.
type RelayDriver interface {
	Start(ctx context.Context) error
	Stop() error
	Stats() RelayStats
}

// RelayStats is a relay's state at one time.
type RelayStats struct {
	StoredBytes       int64 `json:"stored_bytes"`
	StoredBlobs       int64 `json:"stored_blobs"`
	FileBytes         int64 `json:"file_bytes"`
	RendezvousEntries int64 `json:"rendezvous_entries"`
	RecordBytes       int64 `json:"record_bytes"`
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	// MemoryBytes is the relay process's resident memory, where the relay
	// is a process of its own (procs mode); 0 where relays share the
	// simulator's process (sim, simnet: see run.json's peak RSS and the
	// samples' heap instead).
	MemoryBytes int64 `json:"memory_bytes"`
}

// SetMetric records one of the relay's Prometheus gauges (a full metric
// name such as imigee_relay_store_bytes) and reports whether it was one
// RelayStats holds; backends read them from a registry or a scrape.
func (st *RelayStats) SetMetric(name string, v float64) bool {
	switch name {
	case "imigee_relay_store_bytes":
		st.StoredBytes = int64(v)
	case "imigee_relay_store_blobs":
		st.StoredBlobs = int64(v)
	case "imigee_relay_store_file_bytes":
		st.FileBytes = int64(v)
	case "imigee_relay_rendezvous_entries":
		st.RendezvousEntries = int64(v)
	case "imigee_relay_rendezvous_record_bytes":
		st.RecordBytes = int64(v)
	default:
		return false
	}
	return true
}

// Event kinds written to events.jsonl. Node events mirror node.Event
// kinds; the rest are the runner's own.
const (
	KindNearby     = "friend_nearby"   // Node saw Peer nearby
	KindGone       = "friend_gone"     // Node's nearby state for Peer ended
	KindShared     = "shared"          // Node shared Item (Size) to To
	KindReceived   = "received"        // Node received Item from Peer
	KindDelivered  = "delivered"       // Node learnt Peer has Item
	KindFailed     = "delivery_failed" // Item to Peer expired undelivered
	KindOffline    = "offline"         // Node went offline
	KindOnline     = "online"          // Node came back
	KindRelayDown  = "relay_down"      // relay Node stopped
	KindRelayUp    = "relay_up"        // relay Node started
	KindShareError = "share_error"     // Share failed (Err)
	// KindWasNearby: Node learned after the fact that Peer was nearby
	// during [SpanFrom, SpanTo) (node's friend_was_nearby).
	KindWasNearby = "friend_was_nearby"
	KindNoNetwork = "reception_lost" // Node lost reception (outage or dead zone)
	KindNetwork   = "reception_back" // Node has reception again
)

// Event is one line of events.jsonl. T is virtual time since the start in
// milliseconds. Peer is -1 when there is none.
type Event struct {
	T    int64  `json:"t_ms"`
	Kind string `json:"kind"`
	Node int    `json:"node"`
	Peer int    `json:"peer"`
	Item string `json:"item,omitempty"`
	Size int64  `json:"size,omitempty"`
	To   []int  `json:"to,omitempty"`
	// Via is the path an item took when the backend knows it: node's
	// Event.Via, "direct", "circuit" or "mailbox".
	Via string `json:"via,omitempty"`
	Err string `json:"err,omitempty"`
	// SpanFrom and SpanTo bound the meeting of a friend_was_nearby event,
	// virtual ms since the start (node's From and To, which are unix
	// seconds, less the scenario start).
	SpanFrom int64 `json:"span_from_ms,omitempty"`
	SpanTo   int64 `json:"span_to_ms,omitempty"`
}
