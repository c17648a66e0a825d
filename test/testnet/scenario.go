package testnet

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Graph models of GraphConfig.Model.
const (
	GraphSmallWorld = "small-world" // Watts–Strogatz ring with rewiring
	GraphScaleFree  = "scale-free"  // Barabási–Albert preferential attachment
	GraphGroups     = "groups"      // stochastic block model
	GraphEdges      = "edges"       // edge list file
	GraphComplete   = "complete"    // everyone is friends with everyone
)

// Mobility models of MobilityConfig.Model.
const (
	MobilityStatic     = "static"     // nodes stay at a random point
	MobilityWaypoint   = "waypoint"   // random waypoint in a square area
	MobilityGatherings = "gatherings" // random waypoint, plus groups meeting at places at times
	MobilityTrace      = "trace"      // replay of a CSV trace: node,time,lat,lng
	MobilityWorkday    = "workday"    // home, office, evening places on a daily schedule
)

// Share policies of WorkloadConfig.Policy.
const (
	PolicyAllFriends = "all-friends" // each item goes to every friend
	PolicyOneFriend  = "one-friend"  // each item goes to one random friend
	PolicyNearby     = "nearby"      // node auto-share to friends nearby now (node.ShareNearby)
	// PolicyTogether: every item is a photo taken now and shared by the
	// node's pre-approved "taken while together" policy (node.ShareTogether
	// with Auto): friends nearby now get it at once, friends found nearby
	// after the fact get it when the late meeting is confirmed.
	PolicyTogether = "together"
)

// Limits of a scenario, so a typo cannot ask for a petabyte run.
const (
	// MaxNodes caps Scenario.Nodes: 100,000.
	MaxNodes = 100_000
	// MaxRelays caps Scenario.Relays: 1,000.
	MaxRelays = 1_000
	// MaxDuration caps Scenario.Duration: 30 days.
	MaxDuration = 30 * 24 * time.Hour
	// MaxSteps caps Duration/Step: 10,000,000.
	MaxSteps = 10_000_000
	// MaxItemSize caps one workload item: 64 MiB.
	MaxItemSize = 64 << 20
)

// ErrScenario wraps every scenario validation error.
var ErrScenario = errors.New("testnet: invalid scenario")

// Duration is a time.Duration that reads "10m" or "1h30m" from TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// D is shorthand for Duration{d}.
func D(d time.Duration) Duration { return Duration{d} }

// Scenario is one testnet run. Every field has a default (DefaultScenario);
// a TOML file only names what differs.
type Scenario struct {
	// Name labels outputs. Default "scenario".
	Name string `toml:"name"`
	// Seed makes the graph, mobility and workload reproducible. Default 1.
	Seed uint64 `toml:"seed"`
	// Nodes is the number of phones. Default 20.
	Nodes int `toml:"nodes"`
	// Relays is the number of relays; nodes are spread round-robin. Default 1.
	Relays int `toml:"relays"`
	// Duration is the simulated time. Default 1h.
	Duration Duration `toml:"duration"`
	// Epoch is the proximity epoch of nodes and relays (60 s .. 24 h, a
	// whole number of seconds). Default 10m.
	Epoch Duration `toml:"epoch"`
	// Step is the mobility time step: positions are sampled, ground truth
	// computed and locations fed to nodes every Step. Default 10s.
	Step Duration `toml:"step"`
	// Start is the virtual wall-clock time the run starts at (RFC 3339).
	// Default 2026-06-01T08:00:00Z.
	Start time.Time `toml:"start"`
	// Analytics turns anonymous analytics on (analytics.go).
	Analytics AnalyticsConfig `toml:"analytics"`

	Graph     GraphConfig     `toml:"graph"`
	Mobility  MobilityConfig  `toml:"mobility"`
	Workload  WorkloadConfig  `toml:"workload"`
	Network   NetworkConfig   `toml:"network"`
	Metrics   MetricsConfig   `toml:"metrics"`
	Proximity ProximityConfig `toml:"proximity"`
	History   HistoryConfig   `toml:"history"`

	// dir is the directory of the scenario file, for relative paths.
	dir string
}

// GraphConfig is the friendship graph.
type GraphConfig struct {
	// Model: small-world (default), scale-free, groups, edges, complete.
	Model string `toml:"model"`
	// Degree: small-world, each node's ring degree before rewiring
	// (gonum SmallWorldsBB d, about 2·Degree friends); scale-free, edges
	// per new node (m). Default 2.
	Degree int `toml:"degree"`
	// Rewire is the small-world rewiring probability in (0,1). Default 0.1.
	Rewire float64 `toml:"rewire"`
	// Groups is the number of friend groups (stochastic block model);
	// nodes are split into equal contiguous blocks. Default 4.
	Groups int `toml:"groups"`
	// PIn and POut are the edge probabilities inside and between groups.
	// Defaults 0.5 and 0.01.
	PIn  float64 `toml:"p_in"`
	POut float64 `toml:"p_out"`
	// File is an edge list (one "a,b" or "a b" pair of 0-based node
	// indices a line, # comments) for model edges, relative to the
	// scenario file.
	File string `toml:"file"`
}

// MobilityConfig is how nodes move.
type MobilityConfig struct {
	// Model: static, waypoint (default), gatherings, trace.
	Model string `toml:"model"`
	// Lat and Lng are the centre of the area. Default Berlin Mitte
	// (52.52, 13.405).
	Lat float64 `toml:"lat"`
	Lng float64 `toml:"lng"`
	// Area is the side of the square area in metres. Default 2000.
	Area float64 `toml:"area"`
	// SpeedMin and SpeedMax bound a leg's speed in m/s. Defaults 0.5, 1.5.
	SpeedMin float64 `toml:"speed_min"`
	SpeedMax float64 `toml:"speed_max"`
	// PauseMax is the longest pause at a waypoint (uniform in [0,PauseMax]).
	// Default 10m.
	PauseMax Duration `toml:"pause_max"`
	// Gatherings are meetings of groups at places (model gatherings).
	Gatherings []Gathering `toml:"gathering"`
	// WalkIn: gathering attendees walk to the place at speed_max from
	// wherever they are when it begins, instead of appearing there.
	// Default false.
	WalkIn bool `toml:"walk_in"`
	// GPSNoise is the standard deviation (metres, per axis) of the error
	// of the positions fed to nodes; ground truth uses the true ones. The
	// error of a node drifts (AR(1), one-minute correlation time), as a
	// phone's fix does. Default 0.
	GPSNoise float64 `toml:"gps_noise"`
	// Workday is the model workday.
	Workday WorkdayConfig `toml:"workday"`
	// File is the trace CSV for model trace: "node,time,lat,lng" with node
	// a 0-based index and time seconds from Start (or RFC 3339); positions
	// are held between samples. Relative to the scenario file.
	File string `toml:"file"`
}

// Gathering brings a set of nodes to one place for a while.
type Gathering struct {
	// X and Y are metres from the area centre (east, north).
	X float64 `toml:"x"`
	Y float64 `toml:"y"`
	// Radius is the spread of the attendees around the place, metres.
	// Default 20.
	Radius float64 `toml:"radius"`
	// At is the start, from the scenario Start (default 0); For is the
	// length (default 30m).
	At  Duration `toml:"at"`
	For Duration `toml:"for"`
	// Nodes are the attendees (0-based indices); with none, Group is used.
	Nodes []int `toml:"nodes"`
	// Group is a friend group index (graph model groups, or contiguous
	// blocks of Nodes/Groups otherwise). Used when Nodes is empty.
	Group int `toml:"group"`
}

// WorkloadConfig is what nodes share and when they are offline.
type WorkloadConfig struct {
	// ItemsPerHour is each node's Poisson rate of new items. Default 0.5.
	ItemsPerHour float64 `toml:"items_per_hour"`
	// SizeMin and SizeMax bound item sizes in bytes (uniform). Items of at
	// most MessageMax bytes are sent as messages, larger ones as photos.
	// Defaults 100 and 200,000.
	SizeMin int `toml:"size_min"`
	SizeMax int `toml:"size_max"`
	// MessageMax: items up to this size are text messages. Default 1000.
	MessageMax int `toml:"message_max"`
	// Policy: all-friends (default), one-friend, nearby, together.
	Policy string `toml:"policy"`
	// OfflineFraction of nodes go offline once for OfflineFor at a random
	// time. Default 0.1.
	OfflineFraction float64 `toml:"offline_fraction"`
	// OfflineFor is the length of an offline period. Default 15m.
	OfflineFor Duration `toml:"offline_for"`
	// AppOpenFraction of nodes have the app open (announce without
	// dwelling). Default 1.
	AppOpenFraction float64 `toml:"app_open_fraction"`
	// QuietEnd: no new items in the last QuietEnd of the run, so that
	// items have time to arrive before the end. Default 0.
	QuietEnd Duration `toml:"quiet_end"`
	// Offline are explicit offline periods, on top of OfflineFraction.
	Offline []OfflinePeriod `toml:"offline"`
	// RelayRestarts restart relays at times.
	RelayRestarts []RelayRestart `toml:"relay_restart"`
	// Outages are per-phone reception outages (reception.go): the phone
	// keeps running and moving but has no network.
	Outages []Outage `toml:"outage"`
	// DeadZones are places without reception for a time span
	// (reception.go).
	DeadZones []DeadZone `toml:"dead_zone"`
}

// OfflinePeriod takes node Node offline at At for For.
type OfflinePeriod struct {
	Node int      `toml:"node"`
	At   Duration `toml:"at"`
	// For defaults to workload.offline_for.
	For Duration `toml:"for"`
}

// RelayRestart stops relay Relay at At for Down, then starts it again.
type RelayRestart struct {
	Relay int      `toml:"relay"`
	At    Duration `toml:"at"`
	// Down defaults to 10s.
	Down Duration `toml:"down"`
}

// NetworkConfig is the simulated network (mode sim with a simulated
// network) and the real-time compression of mode sim over loopback.
type NetworkConfig struct {
	// Latency is the one-way link latency. Default 20ms.
	Latency Duration `toml:"latency"`
	// BandwidthMbps is each node's up and down link. Default 20.
	BandwidthMbps float64 `toml:"bandwidth_mbps"`
	// Speedup runs virtual time this many times faster than wall time in
	// the real-time backends. Default 1; a 60 s epoch at 20 runs in 3 s.
	Speedup float64 `toml:"speedup"`
	// The rest is simnet only.
	//
	// LatencySpread spreads the phones' access latency: each node's half
	// of a path's latency is latency/2 × exp(σ·Z), Z standard normal per
	// node (a log-normal with median latency/2); relays keep latency/2.
	// Default 0 (every path has latency).
	LatencySpread float64 `toml:"latency_spread"`
	// Jitter is the mean of an exponential extra delay per packet (a
	// pair's packets stay in order). Default 0.
	Jitter Duration `toml:"jitter"`
	// Loss is the probability that a packet to or from a phone is lost.
	// Default 0.
	Loss float64 `toml:"loss"`
	// NATFraction of the phones sit behind an address-restricted NAT: they
	// receive only from peers they sent to in the last 30 s, so friends
	// cannot dial them directly (the relay's circuit, or hole punching,
	// has to carry live transfers). Default 0.
	NATFraction float64 `toml:"nat_fraction"`
	// Transport is what carries streams in the simulated-network mode:
	// "quic" (real QUIC and TLS over simulated packets, the default) or
	// "lite" (whole stream writes as messages over the same links; much
	// cheaper, see test/testnet/simnet/lite.go for what it leaves out).
	Transport string `toml:"transport"`
}

// MetricsConfig configures ground truth and sampling.
type MetricsConfig struct {
	// Distances are the meeting thresholds in metres. Default 50, 150, 300.
	Distances []float64 `toml:"distances"`
	// FalseDistance: a friend_nearby whose pair was never within this many
	// metres (± Slack) is a false detection. Default 500.
	FalseDistance float64 `toml:"false_distance"`
	// MinMeeting: meetings shorter than this are reported apart as short
	// (not expected to be detected). Default (0) one epoch.
	MinMeeting Duration `toml:"min_meeting"`
	// Slack is the tolerance of matching a detection to a meeting.
	// Default (0) one epoch.
	Slack Duration `toml:"slack"`
	// Sample is the period of byte and relay samples. Default 1m.
	Sample Duration `toml:"sample"`
	// Bin is the width of the distance bins of the detection curve
	// (detection_by_distance.csv), metres. Default 25.
	Bin float64 `toml:"bin"`
	// BinMax is where the detection curve ends, metres. Default
	// false_distance.
	BinMax float64 `toml:"bin_max"`
}

// ProximityConfig is the cell rule of every friendship.
type ProximityConfig struct {
	// Precision: close (S2 level 16, node.PrecisionClose, the default) or
	// casual (level 14, node.PrecisionCasual), set on every friendship.
	Precision string `toml:"precision"`
	// Neighbours is the cell rule: corner (crypto/geo.Cells, what nodes
	// ship, the default) or all (geo.AllCells: here and all eight
	// neighbours, 9 tokens per friend; set through node.Config.CellRule,
	// sim and simnet only).
	Neighbours string `toml:"neighbours"`
}

// DefaultScenario returns a scenario with every default filled in.
func DefaultScenario() Scenario {
	var s Scenario
	s.applyDefaults()
	s.resolve()
	return s
}

// applyDefaults fills zero fields. A parsed file is decoded over the
// defaults, so an explicit 0 in the file stays 0; resolve then fills the
// elements of arrays of tables (gatherings, relay restarts).
func (s *Scenario) applyDefaults() {
	def := func(v *Duration, d time.Duration) {
		if v.Duration == 0 {
			v.Duration = d
		}
	}
	if s.Name == "" {
		s.Name = "scenario"
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.Nodes == 0 {
		s.Nodes = 20
	}
	if s.Relays == 0 {
		s.Relays = 1
	}
	def(&s.Duration, time.Hour)
	def(&s.Epoch, 10*time.Minute)
	def(&s.Step, 10*time.Second)
	if s.Start.IsZero() {
		s.Start = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	}
	g := &s.Graph
	if g.Model == "" {
		g.Model = GraphSmallWorld
	}
	if g.Degree == 0 {
		g.Degree = 2
	}
	if g.Rewire == 0 {
		g.Rewire = 0.1
	}
	if g.Groups == 0 {
		g.Groups = 4
	}
	if g.PIn == 0 {
		g.PIn = 0.5
	}
	if g.POut == 0 {
		g.POut = 0.01
	}
	m := &s.Mobility
	if m.Model == "" {
		m.Model = MobilityWaypoint
	}
	if m.Lat == 0 && m.Lng == 0 {
		m.Lat, m.Lng = 52.52, 13.405
	}
	if m.Area == 0 {
		m.Area = 2000
	}
	if m.SpeedMin == 0 {
		m.SpeedMin = 0.5
	}
	if m.SpeedMax == 0 {
		m.SpeedMax = 1.5
	}
	def(&m.PauseMax, 10*time.Minute)
	wd := &m.Workday
	if wd.Offices == 0 {
		wd.Offices = 10
	}
	if wd.Places == 0 {
		wd.Places = 20
	}
	if wd.CommuteSpeed == 0 {
		wd.CommuteSpeed = 6
	}
	if wd.EveningFraction == 0 {
		wd.EveningFraction = 0.3
	}
	if wd.Radius == 0 {
		wd.Radius = 30
	}
	w := &s.Workload
	if w.ItemsPerHour == 0 {
		w.ItemsPerHour = 0.5
	}
	if w.SizeMin == 0 {
		w.SizeMin = 100
	}
	if w.SizeMax == 0 {
		w.SizeMax = 200_000
	}
	if w.MessageMax == 0 {
		w.MessageMax = 1000
	}
	if w.Policy == "" {
		w.Policy = PolicyAllFriends
	}
	if w.OfflineFraction == 0 {
		w.OfflineFraction = 0.1
	}
	def(&w.OfflineFor, 15*time.Minute)
	if w.AppOpenFraction == 0 {
		w.AppOpenFraction = 1
	}
	n := &s.Network
	def(&n.Latency, 20*time.Millisecond)
	if n.Transport == "" {
		n.Transport = "quic"
	}
	if n.BandwidthMbps == 0 {
		n.BandwidthMbps = 20
	}
	if n.Speedup == 0 {
		n.Speedup = 1
	}
	mt := &s.Metrics
	if mt.FalseDistance == 0 {
		mt.FalseDistance = 500
	}
	def(&mt.Sample, time.Minute)
	if mt.Bin == 0 {
		mt.Bin = 25
	}
	h := &s.History
	def(&h.RelayWindow, DefaultRelayHistory)
	def(&h.NodeWindow, DefaultNodeHistory)
	px := &s.Proximity
	if px.Precision == "" {
		px.Precision = PrecisionClose
	}
	if px.Neighbours == "" {
		px.Neighbours = NeighboursCorner
	}
}

// resolve fills the defaults of array elements and those that depend on
// other fields; it runs after decoding.
func (s *Scenario) resolve() {
	for i := range s.Mobility.Gatherings {
		ga := &s.Mobility.Gatherings[i]
		if ga.Radius == 0 {
			ga.Radius = 20
		}
		if ga.For.Duration == 0 {
			ga.For = D(30 * time.Minute)
		}
	}
	for i := range s.Workload.Offline {
		if o := &s.Workload.Offline[i]; o.For.Duration == 0 {
			o.For = s.Workload.OfflineFor
		}
	}
	for i := range s.Workload.Outages {
		if o := &s.Workload.Outages[i]; o.For.Duration == 0 {
			o.For = s.Workload.OfflineFor
		}
	}
	for i := range s.Workload.DeadZones {
		if z := &s.Workload.DeadZones[i]; z.For.Duration == 0 {
			z.For = D(max(0, s.Duration.Duration-z.At.Duration))
		}
	}
	for i := range s.Workload.RelayRestarts {
		if r := &s.Workload.RelayRestarts[i]; r.Down.Duration == 0 {
			r.Down = D(10 * time.Second)
		}
	}
	if len(s.Metrics.Distances) == 0 {
		s.Metrics.Distances = []float64{50, 150, 300}
	}
	if s.Metrics.MinMeeting.Duration == 0 {
		s.Metrics.MinMeeting = s.Epoch
	}
	if s.Metrics.Slack.Duration == 0 {
		s.Metrics.Slack = s.Epoch
	}
	if s.Metrics.BinMax == 0 {
		s.Metrics.BinMax = s.Metrics.FalseDistance
	}
}

// ParseScenario reads a TOML scenario; dir resolves relative file paths.
// Unknown keys are errors (a typo must not silently run the default).
func ParseScenario(data []byte, dir string) (*Scenario, error) {
	var s Scenario
	s.applyDefaults()
	// A file's list replaces the default list, never merges into it.
	md, err := toml.Decode(string(data), &s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%w: unknown keys: %s", ErrScenario, strings.Join(keys, ", "))
	}
	s.dir = dir
	s.resolve()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) { return LoadScenarioWith(path, nil) }

// Path resolves a file named in the scenario against its directory.
func (s *Scenario) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || s.dir == "" {
		return p
	}
	return filepath.Join(s.dir, p)
}

// Steps is the number of mobility steps of the run.
func (s *Scenario) Steps() int { return int(s.Duration.Duration / s.Step.Duration) }
