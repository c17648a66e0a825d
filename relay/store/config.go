package store

import (
	"fmt"
	"log/slog"
	"time"
)

// Limits and defaults. Each Config field documents its own default; these
// are the named values behind them.
const (
	// MaxRetention is the longest a relay may keep a blob after receiving
	// it (DESIGN.md P2). It is both the default and the ceiling.
	MaxRetention = 30 * 24 * time.Hour
	// DefaultMaxBlobSize equals protocol.MaxBlobSize (1 MiB), the hard cap
	// of the wire; an operator may only lower it.
	DefaultMaxBlobSize = 1 << 20
	// DefaultMailboxQuota is the byte budget of one mailbox (64 MiB).
	DefaultMailboxQuota = 64 << 20
	// DefaultGlobalQuota is the byte budget of the whole relay (8 GiB).
	DefaultGlobalQuota = 8 << 30
	// DefaultMaxBatch bounds the number of requests in one group commit
	// (256), which bounds commit latency under a flood.
	DefaultMaxBatch = 256
	// DefaultSweepInterval is how often the background sweeper deletes
	// expired blobs (1 min). A blob is never returned by List once expired,
	// so the interval only bounds how long expired bytes stay on disk.
	DefaultSweepInterval = time.Minute

	// sweepChunk bounds the deletions of one sweep or forget request, and
	// ackChunk the refs of one ack request, so no transaction touches more
	// than a bounded number of pages (see txBudget).
	sweepChunk = 256
	ackChunk   = 256
	// txBudget bounds the blob writes and deletes of one group commit
	// (1024). A bbolt commit copies every page it touches and frees the old
	// copies, so the pages freed-but-not-yet-reused at any time, and the
	// latency of a commit, are bounded by this budget, not by the store
	// size or by how many requests are queued.
	txBudget = 1024
	// queueDepth is the capacity of the committer's request queue, in units
	// of MaxBatch. Requesters beyond it block (or give up on their ctx).
	queueDepth = 4
	// compactTxMaxSize bounds one transaction of Compact (64 MiB).
	compactTxMaxSize = 64 << 20
)

// Config configures a Store. Zero fields take the defaults named in their
// comments; DefaultConfig fills them in explicitly.
type Config struct {
	// Path is the bbolt database file. One file holds everything but the
	// at-rest day keys; see doc.go for why (page reuse) and how it stays
	// bounded.
	Path string
	// KeyDir holds the at-rest day keys, one small file per day
	// (atrest.go), created 0700. Default DefaultKeyDir(Path) (Path +
	// ".keys"). Keep it with the file: the store cannot read its blobs
	// without it, and erasing a key is what makes its day's deleted blobs
	// unreadable.
	KeyDir string
	// Retention is how long after receipt a blob is kept unless acked.
	// Default and maximum MaxRetention (30 days); larger → ErrRetention.
	Retention time.Duration
	// MaxBlobSize caps one blob's data. Default DefaultMaxBlobSize (1 MiB),
	// which is also its maximum.
	MaxBlobSize int
	// MailboxQuota caps the stored bytes of one mailbox. Default 64 MiB.
	MailboxQuota int64
	// GlobalQuota caps the stored bytes of the relay. Default 8 GiB.
	GlobalQuota int64
	// MaxBatch caps the requests in one group commit. Default 256.
	MaxBatch int
	// SweepInterval is the period of the background sweeper. Default 1 min;
	// negative disables the sweeper (tests call Sweep themselves).
	SweepInterval time.Duration
	// Now is the relay clock used for receipt and expiry; nil = time.Now.
	Now func() time.Time
	// Logger receives operational messages (never mailbox IDs or content);
	// nil = slog.Default().
	Logger *slog.Logger
	// NoSync skips the fsync of every commit and file growth (bbolt's
	// DB.NoSync and NoGrowSync): for
	// simulations and tests only, where hundreds of stores share one disk
	// and a crash loses nothing of value. A power loss can then lose
	// acknowledged blobs or corrupt the file. Default false; the relay
	// daemon never sets it.
	NoSync bool
	// SyncDelay, with NoSync, is how long each commit waits before its
	// requests are answered, as the skipped fsync would have made them
	// wait: in a simulation's virtual time a commit takes no time
	// otherwise, and requests that arrive together would never form one
	// group. Simulations only; default 0.
	SyncDelay time.Duration
}

// DefaultConfig returns a Config for the database file at path with every
// default spelled out.
func DefaultConfig(path string) Config {
	return Config{
		Path:          path,
		Retention:     MaxRetention,
		MaxBlobSize:   DefaultMaxBlobSize,
		MailboxQuota:  DefaultMailboxQuota,
		GlobalQuota:   DefaultGlobalQuota,
		MaxBatch:      DefaultMaxBatch,
		SweepInterval: DefaultSweepInterval,
		Now:           time.Now,
		Logger:        slog.Default(),
	}
}

// withDefaults fills zero fields and validates the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig(c.Path)
	if c.Path == "" {
		return c, fmt.Errorf("store: config: empty path")
	}
	if c.KeyDir == "" {
		c.KeyDir = DefaultKeyDir(c.Path)
	}
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
	if c.Retention > MaxRetention {
		return c, fmt.Errorf("store: config: retention %v: %w", c.Retention, ErrRetention)
	}
	if c.Retention < 0 {
		return c, fmt.Errorf("store: config: negative retention %v", c.Retention)
	}
	if c.MaxBlobSize == 0 {
		c.MaxBlobSize = d.MaxBlobSize
	}
	if c.MaxBlobSize < 0 || c.MaxBlobSize > DefaultMaxBlobSize {
		return c, fmt.Errorf("store: config: max blob size %d outside 1..%d", c.MaxBlobSize, DefaultMaxBlobSize)
	}
	if c.MailboxQuota == 0 {
		c.MailboxQuota = d.MailboxQuota
	}
	if c.GlobalQuota == 0 {
		c.GlobalQuota = d.GlobalQuota
	}
	if c.MailboxQuota < 0 || c.GlobalQuota < 0 {
		return c, fmt.Errorf("store: config: negative quota")
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxBatch < 0 {
		return c, fmt.Errorf("store: config: negative max batch %d", c.MaxBatch)
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = d.SweepInterval
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c, nil
}
