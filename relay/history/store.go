package history

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/internal/boltopt"
)

// Defaults and bounds of Config.
const (
	// DefaultWindow is how long announcements are kept: 72 h.
	DefaultWindow = 72 * time.Hour
	// MaxWindow is the longest window an operator may set: 720 h (30
	// days, the product's promise for location material on servers).
	MaxWindow = 720 * time.Hour
	// DefaultMaxBytes caps the counted bytes of the history: 1 GiB
	// (≈ 1,700 active user-days at the measured ≈ 600 KB each; see
	// docs/relay.md).
	DefaultMaxBytes = 1 << 30
)

// Config configures a Store.
type Config struct {
	// Path is the bbolt file (the relay uses DataDir/history.db).
	Path string
	// Window is how long an epoch is kept after its end, and how far back
	// a late announcement may go. 0 < Window ≤ MaxWindow (the relay does
	// not open a Store when its window is 0: history off).
	Window time.Duration
	// MaxBytes caps the counted bytes. Default DefaultMaxBytes.
	MaxBytes int64
	// Now is the clock. nil = time.Now.
	Now func() time.Time
	// NoSync skips fsync (tests and benchmarks of CPU only).
	NoSync bool
	// SyncDelay, with NoSync, is how long each group commit waits before
	// its writes are acknowledged, standing in for the skipped fsync: in
	// a simulation's virtual time a commit takes no time otherwise, so
	// writes that arrive together would each get a commit of their own,
	// where on a disk those arriving during one fsync share the next.
	// Simulations only; default 0.
	SyncDelay time.Duration
	// KeyDir holds the epoch keys (keys.go), outside the bbolt file.
	// Default DefaultKeyDir(Path). An operator may put it on another
	// volume (e.g. tmpfs or an encrypted one); losing it loses the history
	// (its epochs are dropped on the next Open), never mail.
	KeyDir string
	// Logger gets the one line Open writes when it discards a file of an
	// older layout or epochs without keys. nil: discarded.
	Logger *slog.Logger
}

// Token is one stored token: its value and kind.
type Token struct {
	Value [TokenSize]byte
	Here  bool // here, else near
}

// Announcement is one friend's tokens and sealed record (a key share when
// the Announce has a shared record).
type Announcement struct {
	Tokens []Token
	Record []byte
}

// Announce is what a Store keeps of one Announce (live or late, local or
// gossiped).
type Announce struct {
	EpochSeconds  uint32
	Epoch         uint64
	Origin        [OriginSize]byte // the announcing session's random name
	Shared        []byte           // optional shared record, ≤ MaxRecord
	ForgetTag     []byte           // optional, TagSize bytes
	Announcements []Announcement
}

// Match is a late announcement's token that equals a stored one: the late
// side's own token and the stored side's records.
type Match struct {
	Epoch  uint64
	Token  [TokenSize]byte
	Record []byte // the stored side's sealed record (or key share)
	Shared []byte // the stored side's shared record, if any
}

// Stats are the history's counters.
type Stats struct {
	Bytes    int64 // counted bytes (keys, values, element headers)
	Entries  int64 // token index entries
	FileSize int64 // size of the database file
	Keys     int   // epoch keys held (one per epoch bucket in the window)
	Commits  int64 // write transactions committed since Open (each one fsync)
	Writes   int64 // writes they carried (group commit: Writes/Commits each)
}

// Store is the relay's history. Safe for concurrent use.
type Store struct {
	cfg  Config
	db   *bolt.DB
	keys *keyring

	bytes   atomic.Int64 // counted bytes, including reservations of writes in flight
	entries atomic.Int64 // index entries committed
	commits atomic.Int64 // Stats.Commits
	writes  atomic.Int64 // Stats.Writes

	calls         chan call     // to the committer (commit.go)
	committerDone chan struct{} // closed when the committer returned

	cmu    sync.RWMutex // guards closed; submitters hold it for reading while they queue
	closed bool
}

// Open opens (creating if needed) the history file and its key dir and
// reads its counts. A file of the clear-text layout before encryption at
// rest (no format version) is not read: it holds at most a window of
// rendezvous data, so it is overwritten with zeros, removed and started
// afresh, with one log line. Epoch buckets whose key is missing (a lost
// key dir) are dropped the same way; keys of expired epochs are erased.
func Open(cfg Config) (*Store, error) {
	if cfg.Window <= 0 || cfg.Window > MaxWindow {
		return nil, fmt.Errorf("history: window %v outside (0, %v]", cfg.Window, MaxWindow)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyDir == "" {
		cfg.KeyDir = DefaultKeyDir(cfg.Path)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := openFile(cfg)
	if err != nil {
		return nil, err
	}
	keys, err := openKeyring(cfg.KeyDir, cfg.NoSync)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{cfg: cfg, db: db, keys: keys, calls: make(chan call, maxBatch), committerDone: make(chan struct{})}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	// Keys of epochs past the window, or of no epoch bucket at all (a
	// fresh file), go now: nothing they sealed can be needed again.
	live := make(map[epochID]bool)
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if id, err := decodeEpochName(name); err == nil {
				live[id] = true
			}
			return nil
		})
	})
	now := cfg.Now()
	if _, err := keys.shred(func(id epochID) bool { return !live[id] || s.expired(id, now) }); err != nil {
		db.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// openFile opens the bbolt file, discarding one of an older layout.
func openFile(cfg Config) (*bolt.DB, error) {
	opts := boltopt.Options(5*time.Second, cfg.NoSync)
	db, err := bolt.Open(cfg.Path, 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	old := false
	err = db.Update(func(tx *bolt.Tx) error {
		if f := tx.Bucket(bucketFormat); f != nil {
			if v := f.Get(keyVersion); len(v) != 1 || v[0] != formatVersion {
				return fmt.Errorf("%w: format version %x", ErrCorrupt, v)
			}
			return nil
		}
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error { old = true; return nil }); err != nil || old {
			return err
		}
		f, err := tx.CreateBucket(bucketFormat)
		if err != nil {
			return err
		}
		if err := f.Put(keyVersion, []byte{formatVersion}); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketMeta)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	if !old {
		return db, nil
	}
	size := int64(0)
	if fi, err := os.Stat(cfg.Path); err == nil {
		size = fi.Size()
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("history: close old file: %w", err)
	}
	if err := zeroRemove(cfg.Path, cfg.NoSync); err != nil {
		return nil, fmt.Errorf("history: discard old file: %w", err)
	}
	cfg.Logger.Warn("history: discarded a history file of the clear-text layout (late meetings of the past window will not match)", "bytes", size)
	return openFile(cfg)
}

// load reads the counts, first dropping the epoch buckets whose key is
// gone (they cannot be read again).
func (s *Store) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return fmt.Errorf("%w: no meta bucket", ErrCorrupt)
		}
		var lost [][]byte
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if id, err := decodeEpochName(name); err == nil && s.keys.lookup(id) == nil {
				lost = append(lost, bytes.Clone(name))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range lost {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
			if err := m.Delete(name); err != nil {
				return err
			}
		}
		if len(lost) > 0 {
			s.cfg.Logger.Warn("history: dropped epochs whose at-rest keys are missing", "epochs", len(lost))
		}
		return m.ForEach(func(k, v []byte) error {
			if _, err := decodeEpochName(k); err != nil {
				return err
			}
			c, err := decodeCounts(v)
			if err != nil {
				return err
			}
			s.bytes.Add(c.bytes)
			s.entries.Add(c.entries)
			return nil
		})
	})
}

// Close waits for queued writes to commit, stops the committer and closes
// the file. Calls after Close fail with ErrClosed. Idempotent.
func (s *Store) Close() error {
	s.cmu.Lock()
	if s.closed {
		s.cmu.Unlock()
		return nil
	}
	s.closed = true
	close(s.calls)
	s.cmu.Unlock()
	<-s.committerDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("history: close: %w", err)
	}
	return nil
}

// Window returns the configured window.
func (s *Store) Window() time.Duration { return s.cfg.Window }

// Bytes returns the counted bytes (with writes in flight), cheaply.
func (s *Store) Bytes() int64 { return s.bytes.Load() }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	st := Stats{Bytes: s.bytes.Load(), Entries: s.entries.Load(), Keys: s.keys.held(),
		Commits: s.commits.Load(), Writes: s.writes.Load()}
	_ = s.db.View(func(tx *bolt.Tx) error {
		st.FileSize = tx.Size()
		return nil
	})
	return st
}

// InWindow reports whether a late announcement for epoch (of length
// epochSeconds) is accepted now: now_epoch − window/length ≤ epoch ≤
// now_epoch.
func (s *Store) InWindow(epochSeconds uint32, epoch uint64) bool {
	if epochSeconds == 0 {
		return false
	}
	now := s.cfg.Now().Unix()
	if now < 0 {
		return false
	}
	nowE := uint64(now) / uint64(epochSeconds)
	back := uint64(s.cfg.Window / (time.Duration(epochSeconds) * time.Second))
	return epoch <= nowE && epoch+back >= nowE
}

// expired reports whether an epoch's end is older than the window.
func (s *Store) expired(id epochID, now time.Time) bool {
	end := time.Unix(int64((id.epoch+1)*uint64(id.seconds)), 0)
	return !end.Add(s.cfg.Window).After(now)
}

// Expire deletes every epoch bucket whose end is older than the window
// (whole buckets: one DeleteBucket each), then, once that committed,
// erases their keys, and returns the entries dropped.
func (s *Store) Expire() (int64, error) {
	now := s.cfg.Now()
	var dropped counts
	err := s.db.Update(func(tx *bolt.Tx) error {
		dropped = counts{}
		m := tx.Bucket(bucketMeta)
		var dead [][]byte
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if len(name) != epochNameLen {
				return nil
			}
			id, err := decodeEpochName(name)
			if err != nil {
				return err
			}
			if s.expired(id, now) {
				dead = append(dead, append([]byte(nil), name...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range dead {
			if v := m.Get(name); v != nil {
				c, err := decodeCounts(v)
				if err != nil {
					return err
				}
				dropped.bytes += c.bytes
				dropped.entries += c.entries
				if err := m.Delete(name); err != nil {
					return err
				}
			}
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("history: expire: %w", err)
	}
	s.bytes.Add(-dropped.bytes)
	s.entries.Add(-dropped.entries)
	if _, err := s.keys.shred(func(id epochID) bool { return s.expired(id, now) }); err != nil {
		return dropped.entries, fmt.Errorf("history: expire: %w", err)
	}
	return dropped.entries, nil
}
