package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/imigee/imigee/relay"
)

// Daemon defaults. The relay's own defaults live in relay.DefaultConfig.
const (
	// defaultAdminAddr is loopback only: the admin port has no auth.
	defaultAdminAddr = "127.0.0.1:9464"
	// defaultConfigName is the file init writes inside the data dir.
	defaultConfigName = "imigee-relay.toml"
	// defaultIdentityName is the key file inside the data dir.
	defaultIdentityName = "identity.key"
	// addrsFileName is where run writes the peer ID and listen multiaddrs.
	addrsFileName = "relay.addrs"
	// defaultShutdownTimeout bounds the graceful drain on SIGTERM (30 s);
	// systemd's TimeoutStopSec in deploy/ is set above it.
	defaultShutdownTimeout = 30 * time.Second
	// maxRetention is the ceiling on retention (DESIGN.md P2): an operator
	// may lower it, never raise it.
	maxRetention = 30 * 24 * time.Hour
)

// errRetentionTooLong is returned for a retention above maxRetention.
var errRetentionTooLong = errors.New("retention may not exceed 30 days (720h): " +
	"users are promised that a relay deletes every blob within 30 days")

// fileConfig is the whole configuration file. The relay's own settings
// (relay.Config, embedded) are at the top level and in the [circuit],
// [store], [limits] and [rendezvous] tables; the daemon adds identity_file,
// shutdown_timeout and the [admin] and [log] tables.
type fileConfig struct {
	relay.Config
	// IdentityFile is the libp2p key; relative paths are under DataDir.
	IdentityFile string `toml:"identity_file"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM/SIGINT.
	ShutdownTimeout relay.Duration `toml:"shutdown_timeout"`
	Admin           adminConfig    `toml:"admin"`
	Log             logConfig      `toml:"log"`
}

// adminConfig is the [admin] table.
type adminConfig struct {
	// Addr is the host:port of the admin HTTP server; "" disables it.
	Addr string `toml:"addr"`
	// AllowRemote permits a non-loopback Addr.
	AllowRemote bool `toml:"allow_remote"`
}

// logConfig is the [log] table.
type logConfig struct {
	// Format is "text" or "json".
	Format string `toml:"format"`
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
}

// defaultDataDir is where a config-less run keeps its state:
// $XDG_DATA_HOME/imigee-relay if set, else ./imigee-relay-data.
func defaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "imigee-relay")
	}
	return "imigee-relay-data"
}

// defaultFileConfig is the configuration a run without a file uses.
func defaultFileConfig() fileConfig {
	c := fileConfig{
		Config:          relay.DefaultConfig(),
		IdentityFile:    defaultIdentityName,
		ShutdownTimeout: relay.Duration(defaultShutdownTimeout),
		Admin:           adminConfig{Addr: defaultAdminAddr},
		Log:             logConfig{Format: "text", Level: "info"},
	}
	c.DataDir = defaultDataDir()
	return c
}

// loadConfigFile decodes path over the defaults. Unknown keys are an error:
// a typo must not silently leave a limit at its default.
func loadConfigFile(path string) (fileConfig, error) {
	c := defaultFileConfig()
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	// A relative data_dir in a file is relative to the file, so the
	// config works whatever the working directory of the service is.
	if c.DataDir != "" && !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(filepath.Dir(path), c.DataDir)
	}
	return c, nil
}

// identityPath resolves IdentityFile against DataDir.
func (c *fileConfig) identityPath() string {
	if c.IdentityFile == "" {
		return filepath.Join(c.DataDir, defaultIdentityName)
	}
	if filepath.IsAbs(c.IdentityFile) {
		return c.IdentityFile
	}
	return filepath.Join(c.DataDir, c.IdentityFile)
}

// validate checks the daemon-level settings; relay.New checks the rest.
func (c *fileConfig) validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir is empty")
	}
	if _, err := parseLogLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format %q: want text or json", c.Log.Format)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown_timeout %v: must be positive", c.ShutdownTimeout)
	}
	if c.Admin.Addr != "" {
		if err := checkAdminAddr(c.Admin.Addr, c.Admin.AllowRemote); err != nil {
			return err
		}
	}
	if r := c.Store.Retention.D(); r > maxRetention {
		return fmt.Errorf("store.retention %v: %w", r, errRetentionTooLong)
	} else if r < 0 {
		return fmt.Errorf("store.retention %v: must not be negative", r)
	}
	return nil
}

// parseLogLevel maps a level name to slog.Level.
func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// sectionDocs is written under each table header.
var sectionDocs = map[string]string{
	"circuit":    "Circuit relay v2: lets devices behind NAT reach each other through this relay until a hole punch succeeds.",
	"store":      "Mailbox store: sealed blobs for offline recipients in one bbolt file (DATA_DIR/" + relay.StoreFile + ").",
	"limits":     "What one connection (any stranger) can make the relay do, and libp2p resource limits.",
	"rendezvous": "Proximity rendezvous: token matching in memory only, never written to disk.",
	"analytics":  "Analytics collector role (P13): leader or helper of a pair of relays of different operators; \"\" = off.",
	"contacts":   "Contact matching: one OPRF stage over blinded elements, and pending pair entries (opaque IDs, sealed offers) kept at most 30 days.",
	"push":       "Push wake-ups: an empty POST to a sleeping phone's push endpoint when a blob arrives for it (docs/mobile.md). Off until allow_hosts names a push provider.",
	"admin":      "Admin HTTP server: /metrics (Prometheus, aggregate only), /healthz, /readyz. No auth, no TLS.",
	"log":        "Logs go to stderr. They never contain content, tokens, mailbox IDs or client IPs at info level.",
}

// keyDocs is the one-line "why" written above each key, by
// section-qualified name. TestConfigEveryKeyDocumented fails when the relay
// grows a key this map does not explain.
var keyDocs = map[string]string{
	"data_dir":                  "Directory for the database, identity key and relay.addrs (created 0700). Back it up; see docs/relay.md.",
	"identity_file":             "libp2p identity key (mode 0600), relative to data_dir. Keep it: clients and peer relays know this relay by its peer ID.",
	"shutdown_timeout":          "On SIGTERM, how long to wait for in-flight puts before closing the database anyway.",
	"listen_addrs":              "libp2p listen multiaddrs: QUIC first (UDP), TCP as fallback. Open both ports in the firewall.",
	"network":                   "Relay network name: relays with the same name share rendezvous announcements over gossip.",
	"peers":                     "The other relays of this network (multiaddr ending in /p2p/ID); only they may gossip with us. List each on both sides.",
	"gossip_open":               "Let any peer join the gossip topic. Only for closed test networks: otherwise a phone could read every announcement.",
	"enable_circuit_relay":      "Offer circuit relay v2 so NAT'd devices can reach each other (bounded by [circuit]).",
	"force_reachability_public": "Assume this host is publicly reachable (a server); set false behind NAT so AutoNAT decides.",

	"admin.addr":         "Admin listen address. Loopback only unless allow_remote; \"\" disables the admin server.",
	"admin.allow_remote": "Allow a non-loopback admin address. Only behind a firewall or container network: there is no auth.",
	"log.format":         "text (for people) or json (for log shippers).",
	"log.level":          "debug, info, warn or error. debug may include peer IDs; keep info in production.",

	"circuit.reservation_ttl":          "How long a NAT'd device's reservation lasts before it must renew.",
	"circuit.max_reservations":         "Total reservations: bounds memory and how many NAT'd devices lean on this relay.",
	"circuit.max_circuits":             "Relayed connections open at once per peer.",
	"circuit.buffer_size":              "Buffer per relayed connection direction, in bytes.",
	"circuit.max_reservations_per_ip":  "Reservations from one IP, so one host cannot take them all.",
	"circuit.max_reservations_per_asn": "Reservations from one network (ASN), for the same reason at a larger scale.",
	"circuit.limit_duration":           "A relayed connection is reset after this long: it is only a bridge to a direct hole-punched one.",
	"circuit.limit_data":               "A relayed connection is reset after this many bytes each way: big transfers must go direct.",

	"store.retention":                    "Unacknowledged blobs are deleted this long after receipt. At most 720h (30 days): users are promised that.",
	"store.max_blob_size":                "Largest blob accepted, in bytes (at most 1 MiB, the protocol cap). Larger puts fail with TOO_LARGE.",
	"store.mailbox_quota":                "Bytes one mailbox may hold, so one busy pair cannot fill the disk. Over it: QUOTA_EXCEEDED, nothing stored.",
	"store.global_quota":                 "Bytes the whole relay may hold; keep it below the free disk. Over it: QUOTA_EXCEEDED, nothing stored.",
	"store.put_bytes_per_source_per_day": "Put allowance refill per source address (IPv4 or IPv6 /64), bytes per day.",
	"store.put_burst_per_source":         "Put allowance a source address starts with and saves up to (bytes).",
	"store.put_share_per_conn":           "Fraction of its address's put allowance one connection may use (burst and refill; at least one blob).",
	"store.fair_share_above":             "Fraction of global_quota above which full mailboxes take no more puts.",
	"store.fair_share_mailbox":           "Most a mailbox may hold once the store is above fair_share_above (bytes).",
	"store.max_batch":                    "Puts/acks per group commit (one fsync): larger = more throughput, longer worst-case latency.",
	"store.sweep_interval":               "How often expired blobs are deleted from disk (expired blobs are never served anyway).",

	"limits.requests_per_second":     "Sustained requests per connection, over all its streams.",
	"limits.request_burst":           "Burst allowance of that rate limiter.",
	"limits.max_streams_per_conn":    "Concurrent mailbox/rendezvous streams per connection.",
	"limits.max_challenges":          "Outstanding auth challenges per stream.",
	"limits.challenge_ttl":           "How long an auth challenge stays valid (single use).",
	"limits.idle_timeout":            "Close a stream idle this long (unless subscribed or announcing).",
	"limits.subscribed_idle_timeout": "Close a subscribed/announcing stream idle this long; clients refresh before.",
	"limits.read_timeout":            "Max time to read the rest of a frame once it started: defeats slow-loris senders.",
	"limits.write_timeout":           "Max time to write one response to a slow reader.",
	"limits.notify_queue":            "Pushed notifications queued per subscriber; overflow is dropped and counted (clients re-list).",
	"limits.match_queue":             "Pushed rendezvous matches queued per stream; overflow is dropped and counted.",
	"limits.fetch_max_bytes":         "Data bytes in one fetch response (at most 4 MiB).",
	"limits.resource_memory":         "Memory the libp2p resource manager may hand out in total, in bytes.",
	"limits.memory_budget":           "Bytes of frames, queued responses, fetch batches, rendezvous entries/records and gossip the relay holds; beyond: UNAVAILABLE.",
	"limits.memory_per_conn":         "One connection's share of memory_budget.",
	"limits.memory_per_source":       "One source address's (IPv4 or IPv6 /64) share of memory_budget.",
	"limits.resource_fds":            "File descriptors libp2p may use; keep below LimitNOFILE.",
	"limits.max_conns":               "Inbound connections the resource manager allows; above conns_high so trimming starts first.",
	"limits.conns_low":               "Connection manager low watermark: trims down to this.",
	"limits.conns_high":              "Connection manager high watermark: trimming starts above this.",

	"rendezvous.epoch_seconds":          "Epoch length clients use; the only one accepted (others: BAD_REQUEST).",
	"rendezvous.max_entries_per_conn":   "Live token entries of one connection across all epochs.",
	"rendezvous.max_entries_per_source": "Live token entries of all connections from one source address.",
	"rendezvous.skew":                   "Clock-skew window around an epoch; entries die when it ends.",
	"rendezvous.max_entries":            "Token entries in memory (local and gossiped); beyond it announces fail with UNAVAILABLE.",
	"rendezvous.max_record_bytes":       "Sealed-record bytes in memory.",
	"rendezvous.token_budget":           "Distinct tokens per session per epoch: limits cell scanning by a malicious friend.",
	"rendezvous.max_remote_sessions":    "Gossiped sessions from other relays tracked in memory.",
	"analytics.role":                    "\"\" (off), \"leader\" (takes phones' reports) or \"helper\".",
	"analytics.key_file":                "This collector's X25519 key (made on first start); publish it: imigee-relay analytics-key.",
	"analytics.verify_key_file":         "32-byte secret shared with the partner collector to check report proofs: copy it to the partner.",
	"analytics.partner":                 "The other collector, multiaddr ending in /p2p/ID.",
	"analytics.min_batch":               "Fewest reports a published day sums (each collector enforces it).",
	"analytics.reports_per_prefix_day":  "Reports one address prefix may send per day (leader).",
	"contacts.key_file":                 "This relay's OPRF key (made on first start; relative to data_dir; empty = evaluate nothing). Publish its public key: imigee-relay contacts-key.",
	"contacts.disable_entries":          "Evaluate only; keep no pending entries.",
	"contacts.difficulty":               "Proof of work per evaluation batch and per post, in leading zero bits (20 ≈ 0.2 s on a phone core).",
	"contacts.evals_per_conn_day":       "OPRF evaluations one connection may ask per day.",
	"contacts.evals_per_prefix_day":     "OPRF evaluations one address prefix (/24, /48) may ask per day: the cap on guessing numbers.",
	"contacts.posts_per_prefix_day":     "New entries one address prefix may post per day, so nobody fills the store.",
	"contacts.max_entries":              "Pending entries kept in all; beyond it posts fail with QUOTA_EXCEEDED.",
	"contacts.retention":                "Life of an entry from its first post (at most 30 days, P5).",
	"history.window":                    "How long past rendezvous announcements are kept for late meetings (tokens and sealed records only), and how far back a late announcement may go. At most 720h; 0 = off.",
	"history.max_bytes":                 "Cap on the history database's counted bytes; over it late announcements are refused and live ones are matched but not kept.",
	"history.late_units_per_conn":       "Late-announced tokens plus forget secrets one connection may send.",
	"history.late_units_per_prefix_day": "The same per /24 or /48 address prefix per UTC day (late announcers use a fresh identity per hour).",
	"history.max_prefixes":              "Address prefixes the late day budget tracks; a new one beyond it is refused until the day turns.",
	"history.fair_share_above":          "Once the history holds more than this fraction of max_bytes, a source past its day's fair share stores no more (1 = never).",
	"history.fair_share_per_source_day": "Tokens one source (IPv4 address, IPv6 /64) may store per UTC day once the history is nearly full.",
	"history.write_queue":               "History writes from other relays' gossip waiting for the disk; beyond it they are dropped and counted.",
	"push.allow_hosts":                  "Hosts (host or host:port) the relay may POST wake-ups to: the push providers you trust. Empty = push off. Nothing else is ever contacted (no SSRF).",
	"push.allow_http":                   "Allow plain-http endpoints (local distributors, tests). Default https only.",
	"push.timeout":                      "Bound on one wake-up POST.",
	"push.max_concurrent":               "Wake-up POSTs in flight; more are dropped and counted.",
	"push.min_interval":                 "Least time between two wake-ups to one endpoint; more are dropped and counted.",
	"push.max_registrations":            "Mailboxes with a registered endpoint, in memory; beyond it registrations fail with QUOTA_EXCEEDED.",
	"push.max_per_source":               "Mailboxes registered from one source address (IPv4 address, IPv6 /64), so one party cannot fill the table alone.",
	"push.default_ttl":                  "Life of a registration when the phone asks for none.",
	"push.max_ttl":                      "Longest life of a registration (endpoints are kept in memory only).",
}

// renderConfig writes c as TOML with a comment above every key, and
// returns the keys (section-qualified) that have no documented "why".
func renderConfig(c fileConfig) ([]byte, []string, error) {
	// The encoder skips nil slices; write them as [] so the operator sees
	// the key and its comment.
	if c.Peers == nil {
		c.Peers = []string{}
	}
	if c.ListenAddrs == nil {
		c.ListenAddrs = []string{}
	}
	var raw bytes.Buffer
	enc := toml.NewEncoder(&raw)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return nil, nil, fmt.Errorf("encode config: %w", err)
	}
	var out bytes.Buffer
	out.WriteString(configHeader)
	var missing []string
	section := ""
	sc := bufio.NewScanner(&raw)
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		switch {
		case trim == "":
			continue
		case strings.HasPrefix(trim, "["):
			section = strings.Trim(trim, "[]")
			out.WriteString("\n" + line + "\n")
			if d, ok := sectionDocs[section]; ok {
				out.WriteString("# " + d + "\n")
			}
			continue
		}
		key, _, ok := strings.Cut(trim, "=")
		if !ok {
			out.WriteString(line + "\n")
			continue
		}
		key = strings.TrimSpace(key)
		qual := key
		if section != "" {
			qual = section + "." + key
		}
		doc, found := keyDocs[qual]
		if !found {
			missing = append(missing, qual)
			doc = "See docs/relay.md."
		}
		out.WriteString("\n# " + doc + "\n" + line + "\n")
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	sort.Strings(missing)
	return out.Bytes(), missing, nil
}

const configHeader = `# imigee-relay configuration (TOML).
#
# Written by "imigee-relay init" with every option at its default. Command-line
# flags override these values (imigee-relay run -h lists them). Durations are
# Go durations ("90s", "10m", "720h"). Unknown keys are an error, so a typo
# cannot silently leave a limit at its default. Full reference: docs/relay.md.
`
