package relay

import (
	"fmt"
	"github.com/libp2p/go-libp2p"
	"log/slog"
	"path/filepath"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay/store"
)

// StoreFile is the name of the mailbox database inside Config.DataDir.
const StoreFile = "mailbox.db"

// Config configures a Relay. It is a plain struct that the daemon loads
// from TOML; DefaultConfig spells out every default. Fields tagged
// `toml:"-"` are supplied by code (keys, clocks, loggers).
type Config struct {
	// DataDir holds the mailbox database (StoreFile). Default "data".
	DataDir string `toml:"data_dir"`
	// ListenAddrs are the multiaddrs the host listens on. Default QUIC and
	// TCP on 0.0.0.0 port 4001: "/ip4/0.0.0.0/udp/4001/quic-v1" and
	// "/ip4/0.0.0.0/tcp/4001". Tests use 127.0.0.1 port 0.
	ListenAddrs []string `toml:"listen_addrs"`
	// Identity is the relay's libp2p key. nil = a fresh ephemeral Ed25519
	// key (the peer ID then changes on each start; daemons persist one).
	Identity lcrypto.PrivKey `toml:"-"`
	// Network names the relay network: relays gossip rendezvous
	// announcements on protocol.GossipTopic + "/" + Network. Default "main".
	Network string `toml:"network"`
	// Peers are the other relays of the network, as multiaddrs ending in
	// /p2p/ID. Only these peer IDs may join the gossip topic (send or
	// receive announcements); entries with an address are also dialed and
	// kept connected, a bare "/p2p/ID" only trusts a relay that dials in.
	// List every relay you exchange gossip with on both sides. Default
	// none: a standalone relay that gossips with nobody.
	Peers []string `toml:"peers"`
	// GossipOpen lets any peer join the gossip topic, as go-libp2p-pubsub
	// does by default. Only for closed test networks: on a public relay a
	// phone could then read every announcement (a silent probe) and
	// announce around its token budget. Default false.
	GossipOpen bool `toml:"gossip_open"`
	// EnableCircuitRelay runs the circuit relay v2 service for NAT'd nodes.
	// Default true.
	EnableCircuitRelay bool `toml:"enable_circuit_relay"`
	// ForceReachabilityPublic tells libp2p the relay is publicly reachable
	// instead of waiting for AutoNAT to find out; go-libp2p starts the
	// circuit relay service only on public hosts. Default true (a relay is
	// a server; set false behind NAT).
	ForceReachabilityPublic bool `toml:"force_reachability_public"`
	// Circuit are the circuit relay v2 resource limits. Default
	// DefaultCircuitResources.
	Circuit CircuitResources `toml:"circuit"`

	Store      StoreConfig      `toml:"store"`
	Limits     Limits           `toml:"limits"`
	Rendezvous RendezvousConfig `toml:"rendezvous"`
	Contacts   ContactsConfig   `toml:"contacts"`
	Analytics  AnalyticsConfig  `toml:"analytics"`
	// Push configures push wake-ups (push.go). Default off.
	Push PushConfig `toml:"push"`
	// History keeps past announcements for late meetings (historysvc.go).
	// Default a 72 h window; 0 = off.
	History HistoryConfig `toml:"history"`

	// Now is the relay clock (store expiry, challenges, epochs). nil =
	// time.Now.
	Now func() time.Time `toml:"-"`
	// Logger receives operational logs; the relay never logs mailbox IDs,
	// tokens, peer addresses or content. nil = slog.Default().
	Logger *slog.Logger `toml:"-"`
	// HostOptions are appended to the relay's libp2p options, for
	// simulators (a simulated transport, a bandwidth reporter) and tests;
	// operators never need them. They must not set Identity,
	// ResourceManager or ConnectionManager. Default none.
	HostOptions []libp2p.Option `toml:"-"`
	// NoSync skips fsync in the mailbox store (store.Config.NoSync): for
	// simulations and tests only, never for a relay that keeps anyone's
	// mail, since a power loss can then lose stored blobs. Not settable
	// from TOML; default false; cmd/imigee-relay never sets it.
	NoSync bool `toml:"-"`
	// SyncDelay, with NoSync, is how long each group commit of the
	// mailbox store and the history waits before its writes are
	// acknowledged, standing in for the fsync NoSync skips. In a
	// simulation's virtual time a commit otherwise takes no time, so
	// writes that arrive together never share a commit as they do on a
	// disk (store.Config.SyncDelay). Simulations only; not settable from
	// TOML; default 0.
	SyncDelay time.Duration `toml:"-"`
	// AnyBlobSize accepts blobs of any length up to the cap instead of
	// only the size classes of protocol.BlobSizes (DESIGN.md P12): for
	// tests of the relay's other limits only. Not settable from TOML;
	// default false; cmd/imigee-relay never sets it.
	AnyBlobSize bool `toml:"-"`
}

// StoreConfig are the mailbox store settings (see relay/store).
type StoreConfig struct {
	// Retention is how long an unacknowledged blob is kept. Default and
	// maximum 30 days.
	Retention Duration `toml:"retention"`
	// MaxBlobSize caps one blob. Default and maximum 1 MiB
	// (protocol.MaxBlobSize).
	MaxBlobSize int `toml:"max_blob_size"`
	// MailboxQuota caps the bytes of one mailbox. Default 64 MiB.
	MailboxQuota int64 `toml:"mailbox_quota"`
	// GlobalQuota caps the bytes stored by the relay. Default 8 GiB.
	GlobalQuota int64 `toml:"global_quota"`
	// PutBytesPerSourcePerDay refills each source's put allowance (a source
	// is an IPv4 address or an IPv6 /64): bytes per day. Default 1 GiB.
	PutBytesPerSourcePerDay int64 `toml:"put_bytes_per_source_per_day"`
	// PutBurstPerSource is the allowance a source starts with and saves up
	// to. Default 128 MiB. At least MaxBlobSize.
	PutBurstPerSource int64 `toml:"put_burst_per_source"`
	// PutSharePerConn is the fraction of a source's put allowance (burst
	// and refill) one connection may use, so one connection cannot take
	// what the other users behind the same address (a NAT, a carrier
	// gateway) need. Default 0.25; in (0, 1]. A connection's burst is at
	// least MaxBlobSize.
	PutSharePerConn float64 `toml:"put_share_per_conn"`
	// FairShareAbove is the fraction of GlobalQuota above which the fair
	// share applies. Default 0.75.
	FairShareAbove float64 `toml:"fair_share_above"`
	// FairShareMailbox is the most a mailbox may hold once the store is
	// above FairShareAbove; puts that would take it beyond are refused
	// (QUOTA_EXCEEDED) while other mailboxes still get space. Default
	// 8 MiB.
	FairShareMailbox int64 `toml:"fair_share_mailbox"`
	// MaxBatch caps the puts/acks in one group commit. Default 256.
	MaxBatch int `toml:"max_batch"`
	// SweepInterval is the period of the expiry sweeper. Default 1 min.
	SweepInterval Duration `toml:"sweep_interval"`
}

// Limits bound what one connection (a stranger) can make the relay do.
type Limits struct {
	// RequestsPerSecond is the sustained request rate per connection over
	// all its mailbox and rendezvous streams. Default 200.
	RequestsPerSecond float64 `toml:"requests_per_second"`
	// RequestBurst is the burst of that rate limiter. Default 400.
	RequestBurst int `toml:"request_burst"`
	// MaxStreamsPerConn caps concurrent mailbox+rendezvous streams of one
	// connection. Default 128 (64 concurrent writers fit).
	MaxStreamsPerConn int `toml:"max_streams_per_conn"`
	// MaxChallenges caps outstanding challenges per stream. Default 16.
	MaxChallenges int `toml:"max_challenges"`
	// ChallengeTTL is how long a challenge stays valid. Default 60 s.
	ChallengeTTL Duration `toml:"challenge_ttl"`
	// IdleTimeout closes a stream with no request for that long, unless it
	// is subscribed or holds rendezvous entries. Default 2 min.
	IdleTimeout Duration `toml:"idle_timeout"`
	// SubscribedIdleTimeout closes a subscribed or announcing stream with no
	// request for that long; clients refresh before. Default 30 min.
	SubscribedIdleTimeout Duration `toml:"subscribed_idle_timeout"`
	// ReadTimeout bounds receiving the rest of a request frame once its
	// first byte arrived, on every stream kind (so a peer that trickles a
	// frame is cut off, also on a subscribed stream that may idle between
	// frames); WriteTimeout bounds each 64 KiB chunk of a response or push
	// to a slow reader. Default 30 s each.
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	// NotifyQueue is the per-subscriber queue of pushed notifications; when
	// full, notifications are dropped and counted (the client re-lists on
	// reconnect). Default 256.
	NotifyQueue int `toml:"notify_queue"`
	// MatchQueue is the per-rendezvous-stream queue of pushed matches; when
	// full, matches are dropped and counted. Default 1024.
	MatchQueue int `toml:"match_queue"`
	// FetchMaxBytes caps the data in one FetchResult. Default 4 MiB
	// (protocol.MaxFetchBytes, also the maximum).
	FetchMaxBytes int `toml:"fetch_max_bytes"`
	// MaxConns caps inbound connections in the libp2p resource manager
	// (system scope); the relay's outbound connections are capped at 256
	// besides. Default 4096, above ConnsHigh so the connection manager trims
	// before the resource manager refuses.
	MaxConns int `toml:"max_conns"`
	// ResourceMemory is the memory the libp2p resource manager may hand out
	// in total. Default 1 GiB.
	ResourceMemory int64 `toml:"resource_memory"`
	// MemoryBudget caps, relay-wide, the bytes of request frames being
	// read, responses and pushes waiting for their reader, fetch batches,
	// rendezvous entries and records (local and gossiped) and gossip
	// messages waiting to be applied (see memBudget). Beyond it requests
	// get UNAVAILABLE. Default 512 MiB.
	MemoryBudget int64 `toml:"memory_budget"`
	// MemoryPerConn caps one connection's share of MemoryBudget. Default
	// 16 MiB (a full Put being read, a 4 MiB fetch and room to spare).
	MemoryPerConn int64 `toml:"memory_per_conn"`
	// MemoryPerSource caps one source's share (an IPv4 address or an IPv6
	// /64, all its connections together). Default 48 MiB.
	MemoryPerSource int64 `toml:"memory_per_source"`
	// ResourceFDs is the file descriptors it may hand out. Default 4096.
	ResourceFDs int `toml:"resource_fds"`
	// ConnsLow and ConnsHigh are the connection manager's watermarks: above
	// High it trims to Low. Defaults 2000 and 4000.
	ConnsLow  int `toml:"conns_low"`
	ConnsHigh int `toml:"conns_high"`
}

// RendezvousConfig configures proximity matching.
type RendezvousConfig struct {
	// EpochSeconds is the epoch length clients use, and the only one the
	// relay accepts (others get BAD_REQUEST), so that a client cannot
	// multiply its token budget over many lengths. Default 600.
	EpochSeconds uint32 `toml:"epoch_seconds"`
	// Skew is the clock-skew window: an epoch is accepted from Skew before
	// its start to Skew after its end, and its entries die then. Default 60 s.
	Skew Duration `toml:"skew"`
	// MaxEntries caps token entries in memory (local and gossiped).
	// Default 1,000,000; beyond it announces fail with UNAVAILABLE.
	MaxEntries int `toml:"max_entries"`
	// MaxRecordBytes caps sealed-record bytes in memory. Default 256 MiB.
	MaxRecordBytes int64 `toml:"max_record_bytes"`
	// TokenBudget caps distinct tokens per connection (all its rendezvous
	// streams together) per epoch, and per gossiped session; beyond it
	// announces fail with RATE_LIMITED. Default 4096.
	TokenBudget int `toml:"token_budget"`
	// MaxEntriesPerConn caps the live token entries of one connection
	// across all epochs (its streams together). Default 8192: the budget of
	// the current epoch and of the next one, announced ahead.
	MaxEntriesPerConn int `toml:"max_entries_per_conn"`
	// MaxEntriesPerSource caps the live entries of all connections from
	// one source (an IPv4 address or IPv6 /64). Default 65,536 (a few
	// hundred phones behind one NAT; 1/16 of MaxEntries).
	MaxEntriesPerSource int `toml:"max_entries_per_source"`
	// MaxRemoteSessions caps gossiped sessions tracked. Default 100,000.
	MaxRemoteSessions int `toml:"max_remote_sessions"`
}

// CircuitResources are the circuit relay v2 limits (see go-libp2p
// p2p/protocol/circuitv2/relay.Resources).
type CircuitResources struct {
	// ReservationTTL is the lifetime of a reservation. Default 1 h.
	ReservationTTL Duration `toml:"reservation_ttl"`
	// MaxReservations caps active reservations. Default 1024.
	MaxReservations int `toml:"max_reservations"`
	// MaxCircuits caps open relayed connections per peer. Default 16.
	MaxCircuits int `toml:"max_circuits"`
	// BufferSize is the relayed connection buffer. Default 4096.
	BufferSize int `toml:"buffer_size"`
	// MaxReservationsPerIP caps reservations from one IP. Default 8.
	MaxReservationsPerIP int `toml:"max_reservations_per_ip"`
	// MaxReservationsPerASN caps reservations from one ASN. Default 64.
	MaxReservationsPerASN int `toml:"max_reservations_per_asn"`
	// LimitDuration resets a relayed connection after this long. Default
	// 2 min (enough for the hole punch that should replace it).
	LimitDuration Duration `toml:"limit_duration"`
	// LimitData resets a relayed connection after this many bytes each
	// way. Default 1 MiB (a mailbox-sized item; big transfers go direct).
	LimitData int64 `toml:"limit_data"`
}

// Duration is a time.Duration that TOML reads and writes as "10m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes d like time.Duration.String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses time.ParseDuration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("relay: duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns the configuration with every default spelled out.
func DefaultConfig() Config {
	return Config{
		DataDir:                 "data",
		ListenAddrs:             []string{"/ip4/0.0.0.0/udp/4001/quic-v1", "/ip4/0.0.0.0/tcp/4001"},
		Network:                 "main",
		EnableCircuitRelay:      true,
		ForceReachabilityPublic: true,
		Circuit:                 DefaultCircuitResources(),
		Store: StoreConfig{
			Retention:               Duration(store.MaxRetention),
			MaxBlobSize:             store.DefaultMaxBlobSize,
			MailboxQuota:            store.DefaultMailboxQuota,
			GlobalQuota:             store.DefaultGlobalQuota,
			MaxBatch:                store.DefaultMaxBatch,
			PutBytesPerSourcePerDay: 1 << 30,
			PutBurstPerSource:       128 << 20,
			PutSharePerConn:         0.25,
			FairShareAbove:          0.75,
			FairShareMailbox:        8 << 20,
			SweepInterval:           Duration(store.DefaultSweepInterval),
		},
		Limits: Limits{
			RequestsPerSecond:     200,
			RequestBurst:          400,
			MaxStreamsPerConn:     128,
			MaxChallenges:         16,
			ChallengeTTL:          Duration(60 * time.Second),
			IdleTimeout:           Duration(2 * time.Minute),
			SubscribedIdleTimeout: Duration(30 * time.Minute),
			ReadTimeout:           Duration(30 * time.Second),
			WriteTimeout:          Duration(30 * time.Second),
			NotifyQueue:           256,
			MatchQueue:            1024,
			FetchMaxBytes:         protocol.MaxFetchBytes,
			MaxConns:              4096,
			ResourceMemory:        1 << 30,
			MemoryBudget:          512 << 20,
			MemoryPerConn:         16 << 20,
			MemoryPerSource:       48 << 20,
			ResourceFDs:           4096,
			ConnsLow:              2000,
			ConnsHigh:             4000,
		},
		Push:    PushConfig{AllowHosts: []string{}}.withDefaults(), // [] so init prints the key
		History: defaultHistoryConfig(),
		Rendezvous: RendezvousConfig{
			EpochSeconds:        600,
			Skew:                Duration(60 * time.Second),
			MaxEntries:          1_000_000,
			MaxRecordBytes:      256 << 20,
			TokenBudget:         4096,
			MaxEntriesPerConn:   8192,
			MaxEntriesPerSource: 65536,
			MaxRemoteSessions:   100_000,
		},
		Analytics: AnalyticsConfig{
			KeyFile:             "analytics.key",
			VerifyKeyFile:       "analytics-verify.key",
			MinBatch:            100,
			ReportsPerPrefixDay: 64,
		},
		Contacts: ContactsConfig{
			KeyFile:           "contacts.key",
			Difficulty:        20,
			EvalsPerConnDay:   8192,
			EvalsPerPrefixDay: 16384,
			PostsPerPrefixDay: 4096,
			MaxEntries:        1_000_000,
			Retention:         Duration(30 * 24 * time.Hour),
		},
	}
}

// DefaultCircuitResources returns the circuit relay limits Imigee uses.
func DefaultCircuitResources() CircuitResources {
	return CircuitResources{
		ReservationTTL:        Duration(time.Hour),
		MaxReservations:       1024,
		MaxCircuits:           16,
		BufferSize:            4096,
		MaxReservationsPerIP:  8,
		MaxReservationsPerASN: 64,
		LimitDuration:         Duration(2 * time.Minute),
		LimitData:             1 << 20,
	}
}

func (c CircuitResources) libp2p() relayv2.Resources {
	r := relayv2.DefaultResources()
	r.ReservationTTL = c.ReservationTTL.D()
	r.MaxReservations = c.MaxReservations
	r.MaxCircuits = c.MaxCircuits
	r.BufferSize = c.BufferSize
	r.MaxReservationsPerIP = c.MaxReservationsPerIP
	r.MaxReservationsPerASN = c.MaxReservationsPerASN
	r.Limit = &relayv2.RelayLimit{Duration: c.LimitDuration.D(), Data: c.LimitData}
	return r
}

// withDefaults fills zero values from DefaultConfig and validates. Booleans
// cannot be told apart from "unset", so they are taken as given.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = d.ListenAddrs
	}
	if c.Network == "" {
		c.Network = d.Network
	}
	def(&c.Circuit.ReservationTTL, d.Circuit.ReservationTTL)
	def(&c.Circuit.MaxReservations, d.Circuit.MaxReservations)
	def(&c.Circuit.MaxCircuits, d.Circuit.MaxCircuits)
	def(&c.Circuit.BufferSize, d.Circuit.BufferSize)
	def(&c.Circuit.MaxReservationsPerIP, d.Circuit.MaxReservationsPerIP)
	def(&c.Circuit.MaxReservationsPerASN, d.Circuit.MaxReservationsPerASN)
	def(&c.Circuit.LimitDuration, d.Circuit.LimitDuration)
	def(&c.Circuit.LimitData, d.Circuit.LimitData)

	def(&c.Store.Retention, d.Store.Retention)
	def(&c.Store.MaxBlobSize, d.Store.MaxBlobSize)
	def(&c.Store.MailboxQuota, d.Store.MailboxQuota)
	def(&c.Store.GlobalQuota, d.Store.GlobalQuota)
	def(&c.Store.MaxBatch, d.Store.MaxBatch)
	def(&c.Store.PutBytesPerSourcePerDay, d.Store.PutBytesPerSourcePerDay)
	def(&c.Store.PutBurstPerSource, d.Store.PutBurstPerSource)
	def(&c.Store.PutSharePerConn, d.Store.PutSharePerConn)
	def(&c.Store.FairShareAbove, d.Store.FairShareAbove)
	def(&c.Store.FairShareMailbox, d.Store.FairShareMailbox)
	if c.Store.SweepInterval == 0 { // negative disables the sweeper (tests)
		c.Store.SweepInterval = d.Store.SweepInterval
	}

	l, dl := &c.Limits, d.Limits
	def(&l.RequestsPerSecond, dl.RequestsPerSecond)
	def(&l.RequestBurst, dl.RequestBurst)
	def(&l.MaxStreamsPerConn, dl.MaxStreamsPerConn)
	def(&l.MaxChallenges, dl.MaxChallenges)
	def(&l.ChallengeTTL, dl.ChallengeTTL)
	def(&l.IdleTimeout, dl.IdleTimeout)
	def(&l.SubscribedIdleTimeout, dl.SubscribedIdleTimeout)
	def(&l.ReadTimeout, dl.ReadTimeout)
	def(&l.WriteTimeout, dl.WriteTimeout)
	def(&l.NotifyQueue, dl.NotifyQueue)
	def(&l.MatchQueue, dl.MatchQueue)
	def(&l.FetchMaxBytes, dl.FetchMaxBytes)
	def(&l.MaxConns, dl.MaxConns)
	def(&l.ResourceMemory, dl.ResourceMemory)
	def(&l.ResourceFDs, dl.ResourceFDs)
	def(&l.MemoryBudget, dl.MemoryBudget)
	def(&l.MemoryPerConn, dl.MemoryPerConn)
	def(&l.MemoryPerSource, dl.MemoryPerSource)
	def(&l.ConnsLow, dl.ConnsLow)
	def(&l.ConnsHigh, dl.ConnsHigh)

	r, dr := &c.Rendezvous, d.Rendezvous
	def(&r.EpochSeconds, dr.EpochSeconds)
	def(&r.Skew, dr.Skew)
	def(&r.MaxEntries, dr.MaxEntries)
	def(&r.MaxRecordBytes, dr.MaxRecordBytes)
	def(&r.TokenBudget, dr.TokenBudget)
	def(&r.MaxRemoteSessions, dr.MaxRemoteSessions)
	def(&r.MaxEntriesPerConn, dr.MaxEntriesPerConn)
	def(&r.MaxEntriesPerSource, dr.MaxEntriesPerSource)

	if err := c.History.withDefaults(d.History); err != nil {
		return c, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Store.Retention.D() > store.MaxRetention:
		return c, fmt.Errorf("relay: config: retention %v exceeds 30 days", c.Store.Retention.D())
	case c.Store.MaxBlobSize > protocol.MaxBlobSize:
		return c, fmt.Errorf("relay: config: max blob size %d exceeds %d", c.Store.MaxBlobSize, protocol.MaxBlobSize)
	case c.Limits.FetchMaxBytes > protocol.MaxFetchBytes:
		return c, fmt.Errorf("relay: config: fetch max bytes %d exceeds %d", c.Limits.FetchMaxBytes, protocol.MaxFetchBytes)
	case c.Rendezvous.EpochSeconds < protocol.MinEpochSeconds || c.Rendezvous.EpochSeconds > protocol.MaxEpochSeconds:
		return c, fmt.Errorf("relay: config: epoch %d s outside [%d, %d]", c.Rendezvous.EpochSeconds, protocol.MinEpochSeconds, protocol.MaxEpochSeconds)
	case c.Store.PutBurstPerSource < int64(c.Store.MaxBlobSize):
		return c, fmt.Errorf("relay: config: put_burst_per_source %d below max_blob_size %d", c.Store.PutBurstPerSource, c.Store.MaxBlobSize)
	case c.Store.PutSharePerConn > 1:
		return c, fmt.Errorf("relay: config: put_share_per_conn %v above 1", c.Store.PutSharePerConn)
	case c.Store.FairShareAbove > 1:
		return c, fmt.Errorf("relay: config: fair_share_above %v above 1", c.Store.FairShareAbove)
	case c.Limits.MemoryPerConn > c.Limits.MemoryPerSource || c.Limits.MemoryPerSource > c.Limits.MemoryBudget:
		return c, fmt.Errorf("relay: config: want memory_per_conn %d ≤ memory_per_source %d ≤ memory_budget %d", c.Limits.MemoryPerConn, c.Limits.MemoryPerSource, c.Limits.MemoryBudget)
	case c.Limits.ConnsLow > c.Limits.ConnsHigh:
		return c, fmt.Errorf("relay: config: conns_low %d above conns_high %d", c.Limits.ConnsLow, c.Limits.ConnsHigh)
	}
	return c, nil
}

func def[T int | int64 | uint32 | float64 | Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

func (c Config) storeConfig() store.Config {
	return store.Config{
		Path:          filepath.Join(c.DataDir, StoreFile),
		Retention:     c.Store.Retention.D(),
		MaxBlobSize:   c.Store.MaxBlobSize,
		MailboxQuota:  c.Store.MailboxQuota,
		GlobalQuota:   c.Store.GlobalQuota,
		MaxBatch:      c.Store.MaxBatch,
		SweepInterval: c.Store.SweepInterval.D(),
		Now:           c.Now,
		Logger:        c.Logger,
		NoSync:        c.NoSync,
		SyncDelay:     c.SyncDelay,
	}
}
