package node

import (
	"log/slog"
	"time"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
)

// Defaults of Config fields left zero.
const (
	// DefaultEpochSeconds is the proximity epoch: 600 s (10 minutes).
	DefaultEpochSeconds = 600
	// DefaultProximityFriendCap caps how many friends are announced per
	// epoch: 500 (about 23 KB of tokens per epoch).
	DefaultProximityFriendCap = 500
	// DefaultRetention is how long the sender keeps a pending copy and how
	// far back the mailbox days are listed: 30 days (P2, P11).
	DefaultRetention = 30 * 24 * time.Hour
)

// Config configures a Node. The zero value of each field means its default.
type Config struct {
	// DataDir holds the encrypted store and media files. Required.
	DataDir string
	// StoreKey is the 32-byte key of the encrypted local store, from the
	// platform keystore. Required.
	StoreKey []byte
	// Relays are relay multiaddrs ending in /p2p/<relay peer ID>. With none,
	// the node works only directly (LAN, or known addresses).
	Relays []string
	// ListenAddrs default to QUIC and TCP on 0.0.0.0, ephemeral ports.
	ListenAddrs []string
	// EpochSeconds is the proximity epoch length: DefaultEpochSeconds.
	EpochSeconds int
	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time
	// Logger receives debug and warning logs; default slog.Default(). The
	// node never logs content, keys, tokens, mailbox IDs, addresses or
	// locations.
	Logger *slog.Logger
	// Events receives every Event; may be nil.
	Events EventHandler
	// EnableMDNS announces and discovers friends on the LAN.
	EnableMDNS bool
	// ProximityFriendCap: DefaultProximityFriendCap.
	ProximityFriendCap int
	// Retention of the sender's pending copy: DefaultRetention (never more).
	Retention time.Duration
	// HostFactory, for simulators and tests; not for apps. When set, the
	// node calls it instead of building its own QUIC+TCP host, on every
	// Start and every transport rotation, and for every one-off identity
	// (transport.go), with the fresh transport key; the P12 random waits
	// are off then, identities live the full TransportRotation, its
	// default is MaxTransportRotation (set it to simulate hourly
	// rotation), and the mailbox session shares the announce host, so a
	// seeded simulation is reproducible;
	// the host it returns must have the peer ID of that key (else Start or
	// the rotation fails) and is closed by the node. With a factory,
	// ListenAddrs is ignored, EnableMDNS has no effect (no mDNS on a
	// simulated network), and hole punching and circuit reservations are
	// whatever the factory's host supports (a failed reservation is only
	// logged). nil: the normal host. node/mobile never sets it.
	HostFactory func(priv p2pcrypto.PrivKey) (host.Host, error)
	// TransportRotation is how long an announce transport identity lives
	// at most (each lives a random 75–100 % of it; a new one is also made
	// on every Start): DefaultTransportRotation (1 h), at most
	// MaxTransportRotation (24 h; longer is clamped). See transport.go
	// (P12).
	TransportRotation time.Duration
	// NoSync skips fsync of the local store's commits and of received
	// part files: for simulations and tests only, where hundreds of nodes
	// share one disk. A crash or power loss can then lose recent friends,
	// items and receipts, or corrupt the store. Default false; cmd/imigee
	// and node/mobile never set it.
	NoSync bool
	// CellRule maps a position to the "here" cell and the "near" cells
	// announced to friends at a level; nil is geo.Cells, the shipped rule.
	// For simulations that compare rules (the testnet's
	// proximity.neighbours, e.g. geo.AllCells); cmd/imigee and node/mobile
	// never set it.
	CellRule func(lat, lng float64, level int) (here uint64, near []uint64)
	// Contacts configures contact matching (contactmatch.go); the zero
	// value works on a single-relay network.
	Contacts ContactsConfig
	// Analytics configures anonymous analytics (analyticsglue.go); off by
	// default.
	Analytics AnalyticsConfig
	// History configures the device's own cell history and late meetings
	// (history.go, meetings.go).
	History HistoryConfig
	// TimeZone is the zone share-policy windows are read in; nil is
	// time.Local (the device's zone). SetTimeZone changes it at run time
	// (a phone that travels).
	TimeZone *time.Location
}

func (c *Config) withDefaults() Config {
	out := *c
	if len(out.ListenAddrs) == 0 {
		out.ListenAddrs = []string{"/ip4/0.0.0.0/udp/0/quic-v1", "/ip4/0.0.0.0/tcp/0"}
	}
	if out.EpochSeconds <= 0 {
		out.EpochSeconds = DefaultEpochSeconds
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.ProximityFriendCap <= 0 {
		out.ProximityFriendCap = DefaultProximityFriendCap
	}
	if out.Retention <= 0 || out.Retention > DefaultRetention {
		out.Retention = DefaultRetention
	}
	return out
}

// EventHandler receives events. OnEvent is called from a single node
// goroutine, in order; it must not block for long (hand work to the UI
// thread). gomobile can implement it in Kotlin or Swift.
type EventHandler interface {
	OnEvent(e *Event)
}

// Event kinds.
const (
	EventFriendLinked = "friend_linked"
	EventFriendNearby = "friend_nearby"
	EventFriendGone   = "friend_gone"
	EventItemOffered  = "item_offered"
	EventItemReceived = "item_received"
	// EventProgress: sending ItemID to FriendID, Done of Total bytes
	// (about every MiB, and at the end).
	EventProgress = "progress"
	// EventReceiveProgress: receiving ItemID from FriendID, Done of Total
	// bytes written to the part file (about every MiB, and at the end;
	// item_received follows once the file is durable and delivered).
	EventReceiveProgress = "receive_progress"
	// EventSealing: a shared photo or video is being sealed into its
	// pending copy in the background, Done of Total bytes (about every
	// MiB, and at the end). FriendID is empty.
	EventSealing = "sealing"
	// EventDeliveryFailed: the item will not reach FriendID. Err says why:
	// FailRejected (the friend declined it; sent once, when the sender
	// learns it on a direct attempt) or FailRetention (no receipt within
	// the retention window).
	EventDeliveryFailed = "delivery_failed"
	// EventQueued ("queued_at_relay"): FriendID could not be reached
	// directly, so the item was sealed into the friend's mailbox at a
	// relay. A delivered event follows when the friend's receipt comes
	// back through the sender's mailbox.
	EventQueued    = "queued_at_relay"
	EventDelivered = "delivered"
	EventLike      = "like"
	EventMessage   = "message"
)

// Reasons in Event.Err of EventDeliveryFailed.
const (
	FailRejected  = "rejected"
	FailRetention = "retention passed"
)

// Event is one notification to the app. It holds only strings and ints so
// gomobile can bind it. It never carries a location, cell or distance (P4).
type Event struct {
	Kind     string
	FriendID string
	ItemID   string
	Type     string // item type: photo, video, message, like
	Text     string // message text, or the liked item ID for likes
	Path     string // received file
	Done     int64  // progress: bytes done
	Total    int64  // progress: bytes in all
	Err      string
	// Via is the path an item took, on item_received, message, like and
	// delivered: ViaDirect, ViaCircuit or ViaMailbox.
	Via string
	// Handle is the contact's handle as the local address book has it, on
	// contact_match (never sent anywhere).
	Handle string
	// From and To bound a meeting in unix seconds, on friend_was_nearby
	// (times only: no place, no distance; P4).
	From, To int64
}

// Paths of Event.Via.
const (
	// ViaDirect: a live stream over a direct peer connection.
	ViaDirect = "direct"
	// ViaCircuit: a live stream whose bytes a relay forwarded (circuit
	// relay v2), still end to end encrypted; used when direct dialing and
	// hole punching fail.
	ViaCircuit = "circuit"
	// ViaMailbox: store and forward, sealed blobs left in a mailbox at a
	// relay while the other side was unreachable.
	ViaMailbox = "mailbox"
)

// Precision is how finely a friend may find this device.
type Precision int

// Precisions. Close is the default for new friends.
const (
	// PrecisionClose matches within about 150 m (S2 level 16).
	PrecisionClose Precision = 0
	// PrecisionCasual matches within about 600 m (S2 level 14).
	PrecisionCasual Precision = 1
	// PrecisionOff never announces to this friend.
	PrecisionOff Precision = 2
)

// level returns the S2 level for p, or 0 for off.
func (p Precision) level() int {
	switch p {
	case PrecisionClose:
		return 16
	case PrecisionCasual:
		return 14
	default:
		return 0
	}
}

// String is the name ParsePrecision accepts: close, casual or off.
func (p Precision) String() string {
	switch p {
	case PrecisionClose:
		return "close"
	case PrecisionCasual:
		return "casual"
	case PrecisionOff:
		return "off"
	}
	return "unknown"
}

// ParsePrecision parses "close", "casual" or "off".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "close":
		return PrecisionClose, nil
	case "casual":
		return PrecisionCasual, nil
	case "off":
		return PrecisionOff, nil
	}
	return 0, ErrBadArgument
}

// Share modes of SharePolicy.
const (
	// ShareAsk: every item needs explicit recipients (the user approves).
	ShareAsk = "ask"
	// ShareNearby: items shared without recipients go to friends nearby now.
	ShareNearby = "nearby"
	// SharePlaces: like ShareNearby, only while inside one of Places.
	SharePlaces = "places"
	// ShareWindows: like ShareNearby, only inside one of Windows.
	ShareWindows = "windows"
	// ShareTogether ("taken while together"): items shared without
	// recipients go to the friends that were nearby, live or found after
	// the fact, at the item's capture time; friends whose meeting becomes
	// known later are offered the item too (SharePolicy.Auto) or it is
	// proposed to the user (EventShareProposed). See together.go.
	// SharePhoto uses the file's modification time as the capture time
	// (SharePhotoTaken gives it); ShareBytes has no file to keep waiting
	// and gets ErrNoRecipients.
	ShareTogether = "together"
)

// SharePolicy is the sender policy for items shared without explicit
// recipients (P7). Places are kept only on the device.
type SharePolicy struct {
	Mode    string
	Places  []Place
	Windows []Window
	// Auto, in ShareTogether mode: a photo waiting for meetings is shared
	// with a friend as soon as a meeting covering its capture time becomes
	// known (pre-approved). Without it the node proposes the share
	// (EventShareProposed) and waits for AcceptProposal.
	Auto bool `json:",omitempty"`
}

// Place is a circle on the map.
type Place struct {
	Lat, Lng, RadiusMeters float64
}

// Window is a daily time window in minutes since midnight in the device's
// local time zone (Config.TimeZone, SetTimeZone); an end before the start
// wraps past midnight.
type Window struct {
	StartMinute, EndMinute int
}

// Friend is a linked friend as the app sees it.
type Friend struct {
	ID          string
	Name        string // empty; the app names friends
	Linked      int64  // unix seconds
	Precision   Precision
	AutoAccept  bool
	Nearby      bool
	SafetyCheck string // safety number to compare in person
	// Pending: Link parked the request for an offline inviter, which has
	// not confirmed it yet (friendstatus.go).
	Pending bool
	// ProfileName, ProfileAbout and ProfilePicture are the profile the
	// friend chose (SetProfile, SetProfilePicture), as it last arrived.
	ProfileName, ProfileAbout string `json:",omitempty"`
	ProfilePicture            []byte `json:",omitempty"`
}

// Item states.
const (
	StateOffered   = "offered"   // inbox: waiting for Accept/Reject
	StateReceiving = "receiving" // inbox: accepted, transfer in progress
	StateReceived  = "received"  // inbox: complete
	StateRejected  = "rejected"  // inbox: declined
	StatePending   = "pending"   // outbox: not every recipient has it
	StateDelivered = "delivered" // outbox: every recipient has it
	StateFailed    = "failed"    // outbox: retention passed
)

// Item types.
const (
	TypePhoto   = "photo"
	TypeVideo   = "video"
	TypeMessage = "message"
	TypeLike    = "like"
	// TypeProfile is an outbox item carrying this user's profile to one
	// friend (profile.go); it never appears in Pending, Inbox or events.
	TypeProfile = "profile"
)

// Recipient states of an outbox item (RecipientState.State).
const (
	// RecipientPending: not delivered yet; direct attempts are retried.
	RecipientPending = "pending"
	// RecipientQueued: sealed into the friend's relay mailbox, no receipt
	// yet (EventQueued fired).
	RecipientQueued = "queued_at_relay"
	// RecipientDelivered: the friend's signed receipt came back.
	RecipientDelivered = "delivered"
	// RecipientRejected: the friend declined the item.
	RecipientRejected = "rejected"
	// RecipientFailed: retention passed or the friend was removed.
	RecipientFailed = "failed"
)

// RecipientState is one recipient's delivery state of an outbox item.
type RecipientState struct {
	FriendID string
	State    string // one of the Recipient* constants
	Attempts int    // failed direct attempts so far
	NextTry  int64  // unix seconds of the next direct attempt (pending only)
}

// Item is one shared thing as the app sees it.
type Item struct {
	ID       string
	FriendID string // sender (inbox) or first recipient (outbox)
	To       []string
	Type     string
	Text     string // message text; for likes the liked item ID
	Path     string // file on this device
	Size     int64
	Done     int64
	State    string
	Created  int64 // unix seconds
	// Taken is the capture time of a photo or video in unix seconds, as
	// the sender's app gave it (SharePhotoTaken); 0: unknown.
	Taken int64 `json:",omitempty"`
	// Recipients is set on outbox items (Pending): each recipient's state,
	// sorted by friend ID. node/mobile passes it through as JSON.
	Recipients []RecipientState `json:",omitempty"`
}
